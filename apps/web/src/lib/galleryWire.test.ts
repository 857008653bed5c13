import { describe, expect, it } from "vitest";
import { utf8Encode } from "./bytes.ts";
import {
  CHUNK_BYTES,
  DEFAULT_LIMITS,
  decodeFrame,
  encodeFrame,
  type Frame,
  GalleryWireError,
  HEADER_BYTES,
  isImageId,
} from "./galleryWire.ts";
import { dataFrames } from "./galleryCore.ts";

const ID = "ab".repeat(32);

function raw(kind: number, req: number, body: Uint8Array | string): Uint8Array {
  const bytes = typeof body === "string" ? utf8Encode(body) : body;
  const out = new Uint8Array(HEADER_BYTES + bytes.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, req);
  out.set(bytes, HEADER_BYTES);
  return out;
}

describe("gallery frames", () => {
  it("round-trip every kind", () => {
    const frames: Frame[] = [
      { kind: "hello", nick: "Oak ✿", tag: "x1_-Z" },
      { kind: "have", id: ID, size: 1234, type: "image/png", thumb: new Uint8Array([1, 2, 3]) },
      { kind: "gone", id: ID },
      { kind: "want", req: 7, id: ID },
      { kind: "head", req: 7, size: DEFAULT_LIMITS.maxImageBytes },
      { kind: "data", req: 7, bytes: new Uint8Array([9, 8, 7]) },
      { kind: "deny", req: 7, reason: "throttled" },
      { kind: "cancel", req: 0xffff_ffff },
    ];
    for (const frame of frames) expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it("lay out as kind | req u32 BE | body", () => {
    const bytes = encodeFrame({ kind: "want", req: 0x01020304, id: ID });
    expect([...bytes.subarray(0, 5)]).toEqual([4, 1, 2, 3, 4]);
    expect(new TextDecoder().decode(bytes.subarray(5))).toBe(`{"id":"${ID}"}`);
    const have = encodeFrame({ kind: "have", id: ID, size: 5, type: "image/jpeg", thumb: new Uint8Array([0xee]) });
    const metaLength = new DataView(have.buffer).getUint16(5);
    expect(have[0]).toBe(2);
    expect(have[HEADER_BYTES + 2 + metaLength]).toBe(0xee);
    expect(have.length).toBe(HEADER_BYTES + 2 + metaLength + 1);
  });

  it("refuse what a broken or hostile peer could send", () => {
    const bad: [string, Uint8Array][] = [
      ["short", new Uint8Array([1, 0, 0])],
      ["unknown kind", raw(99, 0, "{}")],
      ["hello with a request number", raw(1, 3, '{"v":1,"nick":"a","tag":"t"}')],
      ["want without one", raw(4, 0, `{"id":"${ID}"}`)],
      ["hello of another version", raw(1, 0, '{"v":2,"nick":"a","tag":"t"}')],
      ["empty nickname", raw(1, 0, '{"v":1,"nick":"","tag":"t"}')],
      ["long nickname", raw(1, 0, JSON.stringify({ v: 1, nick: "n".repeat(41), tag: "t" }))],
      ["bad tag", raw(1, 0, '{"v":1,"nick":"a","tag":"t t"}')],
      ["not JSON", raw(3, 0, "nope")],
      ["JSON array", raw(3, 0, "[]")],
      ["upper-case id", raw(3, 0, `{"id":"${ID.toUpperCase()}"}`)],
      ["short id", raw(4, 1, '{"id":"abcd"}')],
      ["size zero", raw(5, 1, '{"size":0}')],
      ["size too large", raw(5, 1, JSON.stringify({ size: DEFAULT_LIMITS.maxImageBytes + 1 }))],
      ["fractional size", raw(5, 1, '{"size":1.5}')],
      ["empty data", raw(6, 1, new Uint8Array())],
      ["unknown deny reason", raw(7, 1, '{"reason":"nope"}')],
      ["cancel with a body", raw(8, 1, "x")],
      ["frame over 64 KiB", raw(6, 1, new Uint8Array(DEFAULT_LIMITS.maxFrameBytes))],
      ["invalid UTF-8", raw(3, 0, new Uint8Array([0xff, 0xfe]))],
    ];
    for (const [label, bytes] of bad) {
      expect(() => decodeFrame(bytes), label).toThrow(GalleryWireError);
    }
  });

  it("refuse announcements of SVG, oversized thumbnails or sizes", () => {
    const have = (type: string, thumb: number, size = 10) =>
      encodeFrame({ kind: "have", id: ID, size, type, thumb: new Uint8Array(thumb) });
    expect(() => decodeFrame(have("image/svg+xml", 10))).toThrow(/bad type/);
    expect(() => decodeFrame(have("image/png", 0))).toThrow(/thumbnail/);
    expect(() => decodeFrame(have("image/png", DEFAULT_LIMITS.maxThumbBytes + 1))).toThrow(/thumbnail/);
    expect(decodeFrame(have("image/png", DEFAULT_LIMITS.maxThumbBytes)).kind).toBe("have");
    expect(() => decodeFrame(have("image/png", 10, DEFAULT_LIMITS.maxImageBytes + 1))).toThrow(/size/);
  });

  it("split an image into data frames of at most 64 KiB", () => {
    const image = new Uint8Array(CHUNK_BYTES * 2 + 10).map((_, i) => i % 251);
    const frames = [...dataFrames(3, image)];
    expect(frames.map((f) => f.length)).toEqual([
      DEFAULT_LIMITS.maxFrameBytes,
      DEFAULT_LIMITS.maxFrameBytes,
      HEADER_BYTES + 10,
    ]);
    const joined = frames.flatMap((f) => {
      const frame = decodeFrame(f);
      return frame.kind === "data" ? [...frame.bytes] : [];
    });
    expect(joined).toEqual([...image]);
  });

  it("know an image id when they see one", () => {
    expect(isImageId(ID)).toBe(true);
    expect(isImageId(ID.slice(1))).toBe(false);
    expect(isImageId(42)).toBe(false);
  });
});
