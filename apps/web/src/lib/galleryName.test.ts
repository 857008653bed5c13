import { describe, expect, it } from "vitest";
import {
  bindingText,
  galleryBindingKey,
  galleryLink,
  galleryNameFromHash,
  galleryNamespace,
  GalleryNameError,
  normalizeGalleryName,
  randomGalleryName,
  sdpFingerprint,
  signBinding,
  verifyBinding,
} from "./galleryName.ts";

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, "0").toUpperCase()).join(":");

describe("gallery names", () => {
  it("become an opaque rv: namespace the hub accepts", async () => {
    const ns = await galleryNamespace("River family summer");
    // base64url(SHA-256("p2pos-gallery-v1|River family summer")), no padding (checked with Python hashlib).
    expect(ns).toBe("rv:ABC7sC4OdGF_QWQX-ydlt8PzfSbCkwsmXOspUp6uV8s");
    expect(ns.length).toBeLessThanOrEqual(64);
    expect(ns.slice(3)).toMatch(/^[A-Za-z0-9_=+/.-]{1,128}$/);
    expect(ns).not.toContain("River");
    // Trimmed and NFC-normalised before hashing: the same gallery however it was typed.
    expect(await galleryNamespace("  River family summer ")).toBe(ns);
    expect(await galleryNamespace("Cafe\u0301")).toBe(await galleryNamespace("Caf\u00e9"));
    expect(await galleryNamespace("river family summer")).not.toBe(ns);
  });

  it("refuse empty or overlong names", () => {
    expect(() => normalizeGalleryName("   ")).toThrow(GalleryNameError);
    expect(() => normalizeGalleryName("x".repeat(129))).toThrow(/at most 128/);
    expect(normalizeGalleryName("x".repeat(128))).toHaveLength(128);
  });

  it("travel in the link's fragment, which the hub never sees", () => {
    const link = galleryLink("https://hub.example.org", "Oak & Pine #2");
    expect(link).toBe("https://hub.example.org/gallery/#Oak%20%26%20Pine%20%232");
    const url = new URL(link);
    expect(url.pathname).toBe("/gallery/");
    expect(galleryNameFromHash(url.hash)).toBe("Oak & Pine #2");
    expect(galleryNameFromHash("")).toBe("");
    expect(galleryNameFromHash("#%E0%A4%A")).toBe("%E0%A4%A");
  });

  it("can be made up at random, hard to guess", () => {
    const name = randomGalleryName();
    expect(name).toMatch(/^[a-z2-9]{5}(-[a-z2-9]{5}){4}$/);
    expect(randomGalleryName()).not.toBe(name);
    expect(randomGalleryName((bytes) => bytes.fill(0))).toBe("aaaaa-aaaaa-aaaaa-aaaaa-aaaaa");
  });
});

describe("connection binding", () => {
  it("verifies only with the same name, peers and fingerprint", async () => {
    const key = await galleryBindingKey("River family summer");
    const text = bindingText("rv:x", "pa", "pb", `sha-256 ${FP}`);
    expect(text).toBe(`p2pos-gallery-rtc-v1|rv:x|pa|pb|sha-256 ${FP}`);
    const mac = await signBinding(key, text);
    expect(await verifyBinding(key, text, mac)).toBe(true);
    // Another name (a hub that knows only the namespace), other peers or another certificate: no.
    const other = await galleryBindingKey("River family autumn");
    expect(await verifyBinding(other, text, mac)).toBe(false);
    expect(await verifyBinding(key, bindingText("rv:x", "pb", "pa", `sha-256 ${FP}`), mac)).toBe(false);
    expect(await verifyBinding(key, text.replace("00:01", "00:02"), mac)).toBe(false);
    expect(await verifyBinding(key, text, "not base64!")).toBe(false);
  });

  it("reads the one DTLS fingerprint of an SDP", () => {
    const sdp = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:SHA-256 ${FP.toLowerCase()}\r\nm=application 9\r\n`;
    expect(sdpFingerprint(sdp)).toBe(`sha-256 ${FP}`);
    expect(() => sdpFingerprint("v=0\r\n")).toThrow(/0 DTLS fingerprints/);
    expect(() => sdpFingerprint(`${sdp}a=fingerprint:sha-256 ${FP.replace("00", "FF")}\r\n`)).toThrow(/2 DTLS/);
    expect(() => sdpFingerprint("a=fingerprint:sha-1 00:11\r\n")).toThrow(/malformed/);
  });
});
