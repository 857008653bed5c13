import { describe, expect, it } from "vitest";

import { ChatError, encodeBinary, FRAME_CHUNK, MAX_CHUNK, parseBinary } from "./protocol.ts";

describe("image chunk frames", () => {
  it("fit in the SCTP default of 64 KiB (RFC 8841), kind byte included", () => {
    const full = encodeBinary({ chunk: new Uint8Array(MAX_CHUNK).fill(7) });
    expect(full.length).toBe(64 * 1024);
    expect(full[0]).toBe(FRAME_CHUNK);
    expect(parseBinary(full)).toEqual({ chunk: new Uint8Array(MAX_CHUNK).fill(7) });
    const over = new Uint8Array(64 * 1024 + 1);
    over[0] = FRAME_CHUNK;
    expect(() => parseBinary(over)).toThrow(ChatError);
  });
});
