import { describe, expect, it } from "vitest";
import {
  checkNickname,
  describePullFailure,
  forgetGalleryIdentity,
  formatBytes,
  GALLERY_IDENTITY_KEY,
  GALLERY_LIMITS,
  GalleryError,
  loadGalleryIdentity,
  newGalleryIdentity,
  saveGalleryIdentity,
  sniffImageType,
} from "./gallery.ts";

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.map.set(key, value);
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
}

const bytes = (...parts: (number[] | string)[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? Array.from(p, (c) => c.charCodeAt(0)) : p)));

describe("gallery identity", () => {
  it("is a nickname and a random tag, kept in localStorage and forgotten on reset", () => {
    const storage = new MemoryStorage();
    expect(loadGalleryIdentity(storage)).toBeUndefined();
    const identity = newGalleryIdentity("  Oak  ");
    expect(identity.nick).toBe("Oak");
    expect(identity.tag).toMatch(/^[A-Za-z0-9_-]{11}$/);
    saveGalleryIdentity(identity, storage);
    expect(JSON.parse(storage.map.get(GALLERY_IDENTITY_KEY) ?? "")).toEqual({ nick: "Oak", tag: identity.tag });
    expect(loadGalleryIdentity(storage)).toEqual(identity);
    forgetGalleryIdentity(storage);
    expect(loadGalleryIdentity(storage)).toBeUndefined();
    const fresh = newGalleryIdentity();
    expect(fresh.nick).toMatch(/^Guest \d{4}$/);
    expect(fresh.tag).not.toBe(identity.tag);
  });

  it("ignores a damaged stored identity", () => {
    const storage = new MemoryStorage();
    for (const value of ["{", "null", '{"nick":"a"}', '{"nick":"","tag":"abc"}', '{"nick":"a","tag":"a b"}']) {
      storage.setItem(GALLERY_IDENTITY_KEY, value);
      expect(loadGalleryIdentity(storage)).toBeUndefined();
    }
  });

  it("refuses empty or long nicknames", () => {
    expect(() => checkNickname(" ")).toThrow(GalleryError);
    expect(() => checkNickname("n".repeat(41))).toThrow(/at most 40/);
    expect(checkNickname("🌳".repeat(40))).toHaveLength(80);
  });
});

describe("images", () => {
  it("are recognised by their first bytes, never SVG", () => {
    expect(sniffImageType(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe("image/jpeg");
    expect(sniffImageType(bytes([0x89], "PNG\r\n\x1a\n"))).toBe("image/png");
    expect(sniffImageType(bytes("GIF89a"))).toBe("image/gif");
    expect(sniffImageType(bytes("RIFF", [1, 2, 3, 4], "WEBPVP8 "))).toBe("image/webp");
    expect(sniffImageType(bytes([0, 0, 0, 0x1c], "ftypavif"))).toBe("image/avif");
    expect(sniffImageType(bytes('<svg xmlns="http://www.w3.org/2000/svg">'))).toBeUndefined();
    expect(sniffImageType(bytes("RIFF", [1, 2, 3, 4], "WAVE"))).toBeUndefined();
    expect(sniffImageType(new Uint8Array())).toBeUndefined();
  });

  it("have the limits the issue asks for", () => {
    expect(GALLERY_LIMITS.maxImageBytes).toBe(25 * 1024 * 1024);
    expect(GALLERY_LIMITS.maxThumbBytes).toBe(32 * 1024);
    expect(GALLERY_LIMITS.stallMs).toBe(15_000);
    expect(formatBytes(GALLERY_LIMITS.maxImageBytes)).toBe("25.0 MB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(12)).toBe("12 B");
    expect(describePullFailure("no_holder")).toMatch(/no one who holds it/);
  });
});
