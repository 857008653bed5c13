import { describe, expect, it } from "vitest";
import { chunked } from "../vectors/checks.ts";
import { vectorTests } from "../vectors/vitest.ts";
import { BlobHasher, blobId, blobIdOfStream } from "./blob.ts";

await vectorTests("blobs");

describe("blob ids", () => {
  it("is the same in one piece, incrementally and from a stream", async () => {
    const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
    const whole = await blobId(data);
    const hasher = await BlobHasher.create();
    for (let i = 0; i < data.length; i += 65_536) hasher.update(data.subarray(i, i + 65_536));
    expect(hasher.size).toBe(data.length);
    expect(hasher.digest()).toBe(whole);
    expect(await blobIdOfStream(chunked(data, 10_000))).toBe(whole);
    expect(whole).toMatch(/^[0-9a-f]{64}$/);
  });
});
