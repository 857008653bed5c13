/**
 * What a gallery's name becomes: the hub namespace peers meet in, the link people share, and the
 * key that binds each WebRTC connection to people who know the name.
 *
 * - Namespace: `rv:` + base64url(SHA-256("p2pos-gallery-v1|" + name)), so the hub sees an opaque
 *   rendezvous name, not the gallery's name (a short, guessable name can still be guessed).
 * - Link: `<origin>/gallery/#<name>`: the fragment never leaves the browser.
 * - Binding: every offer and answer carries HMAC-SHA256(key, "p2pos-gallery-rtc-v1|ns|from|to|
 *   fingerprint") with key = HKDF-SHA256(name, salt "p2pos-gallery-v1", info "rtc binding"). A hub
 *   that swaps the SDP to sit in the middle does not know the name, so its MAC fails.
 */
import { base64, base64urlnopad } from "@scure/base";
import { utf8Encode } from "./bytes.ts";
import { P2posError } from "./errors.ts";
import { sdpFingerprints } from "./peerLink.ts";

export class GalleryNameError extends P2posError<"empty" | "too_long" | "binding"> {}

export const MAX_NAME_CHARS = 128;
/** Names shorter than this are easy to guess from the namespace the hub sees. */
export const WEAK_NAME_CHARS = 16;

/** The gallery name people typed, tidied: trimmed, Unicode NFC. Throws when empty or too long. */
export function normalizeGalleryName(name: string): string {
  const tidy = name.normalize("NFC").trim();
  if (tidy.length === 0) throw new GalleryNameError("empty", "Give the gallery a name.");
  if (Array.from(tidy).length > MAX_NAME_CHARS) {
    throw new GalleryNameError("too_long", `A gallery name has at most ${MAX_NAME_CHARS} characters.`);
  }
  return tidy;
}

/** The hub namespace of a gallery: `rv:` and 43 base64url characters. */
export async function galleryNamespace(name: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", utf8Encode(`p2pos-gallery-v1|${normalizeGalleryName(name)}`));
  return `rv:${base64urlnopad.encode(new Uint8Array(digest))}`;
}

/** The link to a gallery: the name travels in the fragment, which browsers never send. */
export function galleryLink(origin: string, name: string): string {
  return `${origin}/gallery/#${encodeURIComponent(normalizeGalleryName(name))}`;
}

/** The gallery name in a link's fragment (`#…`), or "" when there is none. */
export function galleryNameFromHash(hash: string): string {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  try {
    return decodeURIComponent(raw).trim();
  } catch {
    return raw.trim();
  }
}

const NAME_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";

/** A fresh hard-to-guess name: 25 characters from a 32-letter alphabet (125 bits), in groups of 5. */
export function randomGalleryName(
  random: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array = (b) => crypto.getRandomValues(b),
): string {
  const bytes = random(new Uint8Array(25));
  const letters = Array.from(bytes, (byte) => NAME_ALPHABET[byte % 32] ?? "a").join("");
  return letters.match(/.{5}/g)?.join("-") ?? letters;
}

/** The HMAC key that binds connections to people who know the gallery's name. */
export async function galleryBindingKey(name: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", utf8Encode(normalizeGalleryName(name)), "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8Encode("p2pos-gallery-v1"), info: utf8Encode("rtc binding") },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

/** The text a binding MAC covers. `from` and `to` are hub peer ids. */
export function bindingText(ns: string, from: string, to: string, fingerprint: string): string {
  return `p2pos-gallery-rtc-v1|${ns}|${from}|${to}|${fingerprint}`;
}

export async function signBinding(key: CryptoKey, text: string): Promise<string> {
  return base64.encode(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8Encode(text))));
}

/** Checks a binding MAC (constant time, by WebCrypto). */
export async function verifyBinding(key: CryptoKey, text: string, mac: string): Promise<boolean> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(base64.decode(mac));
  } catch {
    return false;
  }
  return crypto.subtle.verify("HMAC", key, bytes, utf8Encode(text));
}

/** The one DTLS fingerprint in an SDP, as `sha-256 AB:CD:…`; throws when there is not exactly one. */
export function sdpFingerprint(sdp: string): string {
  let found: string[];
  try {
    found = sdpFingerprints(sdp);
  } catch (error) {
    throw new GalleryNameError("binding", "The connection offer carries a malformed DTLS fingerprint.", {
      cause: error,
    });
  }
  const [only] = found;
  if (found.length !== 1 || only === undefined) {
    throw new GalleryNameError("binding", `The connection offer carries ${found.length} DTLS fingerprints, not one.`);
  }
  return only;
}
