import { describe, expect, it } from "vitest";
import {
  AVATAR_COLOURS,
  AVATAR_SIDE,
  AvatarError,
  CENTRED,
  MAX_AVATAR_LENGTH,
  avatarColour,
  cropSquare,
  dragCrop,
  fitAvatar,
  initials,
  safeAvatar,
  type AvatarEncoder,
} from "./avatar.ts";

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
    return Promise.resolve(new Blob([new Uint8Array(Math.round(bytesFor(side, quality)))], { type: actual }));
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
    for (const ok of [
      "data:image/webp;base64,UklGRg==",
      "data:image/jpeg;base64,/9j/4AAQ",
      "data:image/png;base64,iVBORw0KGgo=",
      // The longest that fits: 22 characters of prefix, then whole base64 quads.
      `data:image/png;base64,${"AAAA".repeat(Math.floor((MAX_AVATAR_LENGTH - 22) / 4))}`,
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
