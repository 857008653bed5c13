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

describe("BLAKE3 in our WebAssembly module", () => {
  it("is used here, and agrees with hash-wasm across the scratch buffer's size and interleaved hashers", async () => {
    const { createBLAKE3 } = await import("hash-wasm");
    const { p2posWasm } = await import("./p2posWasm.ts");
    expect(await p2posWasm()).toBeDefined();
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) ^ (i >> 9));
    const reference = async (bytes: Uint8Array) => (await createBLAKE3(256)).init().update(bytes).digest("hex");
    for (const length of [0, 1, 64, 1024, 65_551, 65_552, 65_553, 300_000]) {
      expect(await blobId(data.subarray(0, length)), `length ${length}`).toBe(
        await reference(data.subarray(0, length)),
      );
    }
    // Two hashers fed in turn (two uploads in one worker) keep apart.
    const [a, b] = await Promise.all([BlobHasher.create(), BlobHasher.create()]);
    for (let at = 0; at < data.length; at += 70_000) {
      a.update(data.subarray(at, at + 70_000));
      b.update(data.subarray(0, 10));
    }
    expect(a.digest()).toBe(await reference(data));
    expect(b.size).toBe(50);
    expect(b.digest()).toBe(await reference(new Uint8Array(50).map((_, i) => data[i % 10] ?? 0)));
    expect(() => a.digest()).toThrow(/finished/);
  });
});
