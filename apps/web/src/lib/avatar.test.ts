import { describe, expect, it } from "vitest";
import {
  AVATAR_COLOURS,
  AVATAR_SIDE,
  AvatarError,
  CENTRED,
  MAX_AVATAR_LENGTH,
  MAX_AVATAR_PIXELS,
  avatarColour,
  cropSquare,
  dragCrop,
  fitAvatar,
  initials,
  safeAvatar,
  type AvatarEncoder,
} from "./avatar.ts";
import { encodeBase64 } from "./base64.ts";

// ---- hand-built picture headers (the bytes a decoder reads first; the rest is padding) ----------

const bytes = (...parts: (number[] | string | Uint8Array)[]) =>
  new Uint8Array(
    parts.flatMap((part) => (typeof part === "string" ? Array.from(part, (c) => c.charCodeAt(0)) : Array.from(part))),
  );
const be32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const le16 = (n: number) => [n & 255, (n >>> 8) & 255];
const le24 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255];
const le32 = (n: number) => [...le16(n & 0xffff), ...le16(n >>> 16)];

function pngChunk(kind: string, data: Uint8Array) {
  return bytes(be32(data.length), kind, data, [0, 0, 0, 0]); // the CRC is not checked here
}

/** A PNG of `width`×`height` (an APNG with `animated`), `pad` bytes of image data. */
function png(width: number, height: number, { animated = false, pad = 10 } = {}): Uint8Array<ArrayBuffer> {
  return bytes(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    pngChunk("IHDR", bytes(be32(width), be32(height), [8, 6, 0, 0, 0])),
    animated ? pngChunk("acTL", bytes(be32(2), be32(0))) : [],
    pngChunk("IDAT", new Uint8Array(pad)),
    pngChunk("IEND", new Uint8Array(0)),
  );
}

function riff(...chunks: [string, Uint8Array][]): Uint8Array<ArrayBuffer> {
  const body = bytes(
    "WEBP",
    ...chunks.flatMap(([kind, data]) => [bytes(kind, le32(data.length), data, data.length % 2 ? [0] : [])]),
  );
  return bytes("RIFF", le32(body.length), body);
}

/** Lossy WebP (`VP8 `): a key frame's header. */
function webpVp8(width: number, height: number, pad = 10): [string, Uint8Array] {
  return ["VP8 ", bytes([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a], le16(width), le16(height), new Uint8Array(pad))];
}

/** Lossless WebP (`VP8L`): the signature, then 14-bit width − 1 and height − 1. */
function webpVp8l(width: number, height: number, pad = 10): [string, Uint8Array] {
  const bits = ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14);
  return ["VP8L", bytes([0x2f], le32(bits >>> 0), new Uint8Array(pad))];
}

/** Extended WebP (`VP8X`): flags (0x02 animation, 0x10 alpha), then the canvas − 1. */
function webpVp8x(width: number, height: number, flags = 0x10): [string, Uint8Array] {
  return ["VP8X", bytes([flags, 0, 0, 0], le24(width - 1), le24(height - 1))];
}

/** A baseline JPEG: SOI, an APP0, the SOF0 frame header, then a scan. */
function jpeg(width: number, height: number, pad = 10): Uint8Array<ArrayBuffer> {
  return bytes(
    [0xff, 0xd8],
    [0xff, 0xe0, 0, 16],
    "JFIF\0",
    [1, 1, 0, 0, 1, 0, 1, 0, 0],
    [0xff, 0xc0, 0, 17, 8],
    [(height >>> 8) & 255, height & 255, (width >>> 8) & 255, width & 255],
    [3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0],
    new Uint8Array(pad),
    [0xff, 0xd9],
  );
}

const url = (type: string, data: Uint8Array) => `data:image/${type};base64,${encodeBase64(data)}`;

/**
 * A stand-in for the browser's canvas encoder, with the shape that matters to the loop: bigger
 * sides and higher qualities make bigger files. `webp: false` is a browser without a WebP encoder,
 * whose canvas hands back PNG. Records each call.
 */
function encoder(bytesFor: (side: number, quality: number) => number, webp = true) {
  const calls: [number, string, number][] = [];
  const encode: AvatarEncoder = (side, type, quality) => {
    calls.push([side, type, quality]);
    const actual = type === "image/webp" && !webp ? "image/png" : type;
    const pad = Math.max(0, Math.round(bytesFor(side, quality)) - 60);
    const data =
      actual === "image/webp"
        ? riff(webpVp8(side, side, pad))
        : actual === "image/png"
          ? png(side, side, { pad })
          : jpeg(side, side, pad);
    return Promise.resolve(new Blob([data], { type: actual }));
  };
  return { encode, calls };
}

/** WCAG contrast ratio of `hex` against white. */
function contrastWithWhite(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return 1.05 / (luminance + 0.05);
}

describe("avatars", () => {
  it("show only base64 WebP, JPEG or PNG data URLs within the profile's limit", () => {
    // The longest that fits: 22 characters of prefix, then whole base64 quads (3 bytes each).
    const longest = png(96, 96, { pad: Math.floor((MAX_AVATAR_LENGTH - 22) / 4) * 3 - 57 });
    expect(url("png", longest).length).toBe(22 + Math.floor((MAX_AVATAR_LENGTH - 22) / 4) * 4);
    for (const ok of [
      url("webp", riff(webpVp8(96, 96))),
      url("jpeg", jpeg(96, 96)),
      url("png", png(96, 96)),
      url("png", longest),
    ]) {
      expect(safeAvatar(ok) === ok, ok.slice(0, 40)).toBe(true);
    }
    for (const bad of [
      undefined,
      null,
      42,
      "",
      "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
      "data:image/gif;base64,R0lGODlh",
      "data:text/html;base64,PHNjcmlwdD4=",
      "data:image/png,rawbytes",
      "DATA:IMAGE/PNG;BASE64,iVBORw0KGgo=",
      "javascript:alert(1)",
      "https://evil.example/track.png",
      "data:image/png;base64,iVBORw0KGgo=) , url(https://evil.example/x",
      'data:image/png;base64,iVBORw0KGgo=" onerror="alert(1)',
      "data:image/png;base64,iVBORw0KGgo=\n",
      "data:image/png;base64,iVBO Rw0K",
      "data:image/png;base64,iVBORw0KGgo",
      `data:image/png;base64,${"A".repeat(MAX_AVATAR_LENGTH)}`,
    ]) {
      expect(safeAvatar(bad) === undefined, String(bad).slice(0, 60)).toBe(true);
    }
  });

  it("show only still pictures of at most 256 px a side, read from their headers", () => {
    const side = MAX_AVATAR_PIXELS;
    for (const [name, ok] of [
      ["PNG", url("png", png(side, 1))],
      ["lossy WebP", url("webp", riff(webpVp8(side, side)))],
      ["lossless WebP", url("webp", riff(webpVp8l(1, side)))],
      [
        "extended WebP with alpha",
        url("webp", riff(webpVp8x(side, side), ["ALPH", new Uint8Array(4)], webpVp8(side, side))),
      ],
      ["JPEG", url("jpeg", jpeg(side, side))],
    ] as const) {
      expect(safeAvatar(ok), name).toBe(ok);
    }
    for (const [name, bad] of [
      // The image bombs: a few hundred bytes that declare 16383×16383 (or 65535 for JPEG).
      ["PNG bomb", url("png", png(16_383, 16_383))],
      ["lossless WebP bomb", url("webp", riff(webpVp8l(16_383, 16_383)))],
      ["lossy WebP bomb", url("webp", riff(webpVp8(16_383, 16_383)))],
      ["extended WebP bomb", url("webp", riff(webpVp8x(16_383, 16_383), webpVp8l(1, 1)))],
      ["a frame larger than its canvas", url("webp", riff(webpVp8x(8, 8), webpVp8l(16_383, 16_383)))],
      ["JPEG bomb", url("jpeg", jpeg(65_535, 65_535))],
      ["one side over", url("png", png(side + 1, 1))],
      ["JPEG one side over", url("jpeg", jpeg(1, side + 1))],
      // Animations.
      ["APNG", url("png", png(8, 8, { animated: true }))],
      ["animated WebP", url("webp", riff(webpVp8x(8, 8, 0x02), ["ANIM", new Uint8Array(6)]))],
      ["WebP frames without the flag", url("webp", riff(webpVp8x(8, 8), ["ANMF", new Uint8Array(24)]))],
      // Malformed or mislabelled headers.
      ["a PNG signature only", "data:image/png;base64,iVBORw0KGgo="],
      ["a RIFF header only", "data:image/webp;base64,UklGRg=="],
      ["a JPEG marker only", "data:image/jpeg;base64,/9j/4AAQ"],
      ["a PNG called WebP", url("webp", png(8, 8))],
      ["a JPEG called PNG", url("png", jpeg(8, 8))],
      ["a zero side", url("png", png(0, 8))],
      ["a PNG without image data", url("png", png(8, 8).subarray(0, 33))],
      ["a truncated WebP chunk", url("webp", riff(webpVp8l(8, 8)).subarray(0, 24))],
      ["a JPEG scan before its frame", url("jpeg", bytes([0xff, 0xd8, 0xff, 0xda, 0, 2], jpeg(8, 8).subarray(2)))],
    ] as const) {
      expect(safeAvatar(bad), name).toBeUndefined();
    }
  });

  it("give initials of the first and last word, whole characters", () => {
    expect(initials("Ann")).toBe("A");
    expect(initials("ann rivers")).toBe("AR");
    expect(initials("  Marie  Curie   Skłodowska ")).toBe("MS");
    expect(initials("émile zola")).toBe("ÉZ");
    expect(initials("🌳 Oak")).toBe("🌳O");
    expect(initials("(Grandma) Jo")).toBe("GJ");
    expect(initials("  ")).toBe("?");
    expect(initials("ABCDEFG…")).toBe("A");
  });

  it("colour each member the same everywhere, always readable with white initials", () => {
    const ids = Array.from({ length: 200 }, (_, i) => `ID${i}-${"X".repeat(i % 7)}`);
    const used = new Set(ids.map(avatarColour));
    expect(avatarColour("ABCDEFG-HIJKLMN")).toBe(avatarColour("ABCDEFG-HIJKLMN"));
    // Spread over the palette, not one colour for everyone.
    expect(used.size).toBe(AVATAR_COLOURS.length);
    for (const colour of AVATAR_COLOURS) expect(contrastWithWhite(colour), colour).toBeGreaterThanOrEqual(4.5);
  });

  it("crop a square inside the picture, centred, zoomed, dragged", () => {
    expect(cropSquare(400, 300, CENTRED)).toEqual({ sx: 50, sy: 0, side: 300 });
    expect(cropSquare(300, 400, CENTRED)).toEqual({ sx: 0, sy: 50, side: 300 });
    expect(cropSquare(400, 300, { x: 0.5, y: 0.5, zoom: 2 })).toEqual({ sx: 125, sy: 75, side: 150 });
    // The centre is kept where the square fits, zoom within 1..4.
    expect(cropSquare(400, 300, { x: 1, y: 0, zoom: 2 })).toEqual({ sx: 250, sy: 0, side: 150 });
    expect(cropSquare(400, 300, { x: 0.5, y: 0.5, zoom: 0.1 }).side).toBe(300);
    expect(cropSquare(400, 300, { x: 0.5, y: 0.5, zoom: 100 }).side).toBe(75);
    // Dragging the picture 20 px right in a 150 px preview of a 300 px square moves the crop 40 px left.
    const dragged = dragCrop(CENTRED, 400, 300, 20, 0, 150);
    expect(cropSquare(400, 300, dragged)).toEqual({ sx: 10, sy: 0, side: 300 });
    // And no further than the picture's edge.
    expect(cropSquare(400, 300, dragCrop(CENTRED, 400, 300, 500, 500, 150))).toEqual({ sx: 0, sy: 0, side: 300 });
    expect(cropSquare(400, 300, dragCrop(CENTRED, 400, 300, -500, 0, 150)).sx).toBe(100);
  });

  it("keep the first, largest and best encoding that fits", async () => {
    const { encode, calls } = encoder(() => 1_000);
    const url = await fitAvatar(encode);
    expect(url.startsWith("data:image/webp;base64,")).toBe(true);
    expect(url.length).toBeLessThanOrEqual(MAX_AVATAR_LENGTH);
    expect(calls).toEqual([[AVATAR_SIDE, "image/webp", 0.85]]);
  });

  it("lower the quality, then the size, until the data URL fits", async () => {
    // About 3 base64 characters per byte × 4/3: 5,000 characters hold some 3,730 bytes.
    const { encode, calls } = encoder((side, quality) => side * side * quality * 0.7);
    const url = await fitAvatar(encode);
    expect(safeAvatar(url)).toBe(url);
    const [side, , quality] = calls[calls.length - 1] ?? [];
    // 96² × q × 0.7 ≤ 3,730 first at q = 0.55; every bigger attempt was made and refused.
    expect([side, quality]).toEqual([96, 0.55]);
    expect(calls.map((call) => call[2])).toEqual([0.85, 0.75, 0.65, 0.55]);

    const tighter = encoder((side, quality) => side * side * quality * 1.5);
    const small = await fitAvatar(tighter.encode);
    expect(small.length).toBeLessThanOrEqual(MAX_AVATAR_LENGTH);
    const last = tighter.calls[tighter.calls.length - 1] ?? [];
    expect(last[0]).toBeLessThan(AVATAR_SIDE);
  });

  it("fall back to JPEG where the browser cannot encode WebP", async () => {
    const { encode, calls } = encoder(() => 1_000, false);
    const url = await fitAvatar(encode);
    expect(url.startsWith("data:image/jpeg;base64,")).toBe(true);
    expect(calls).toEqual([
      [AVATAR_SIDE, "image/webp", 0.85],
      [AVATAR_SIDE, "image/jpeg", 0.85],
    ]);
  });

  it("say so when nothing fits", async () => {
    const { encode, calls } = encoder(() => 10_000);
    const failed = fitAvatar(encode);
    await expect(failed).rejects.toBeInstanceOf(AvatarError);
    await expect(failed).rejects.toMatchObject({ kind: "too_large" });
    expect(calls.length).toBe(24);
  });
});
