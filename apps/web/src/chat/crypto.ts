/**
 * Chat's cryptography with WebCrypto (`docs/PROTOCOL.md`, "Chat", crypto; the Rust twin is
 * `crates/p2pos-core/src/chat/crypto.rs`): nearby tags, rendezvous names, the channel binding and
 * its Ed25519 signature, the shared secret of two new contacts (HKDF-SHA256) and the `known` proof
 * of an existing one (HMAC-SHA256). Pinned by `testvectors/chat.json`, run in Node and Chromium.
 */
import { concatBytes, toHex, utf8Encode } from "../lib/bytes.ts";
import { canonicalReadableId, parseReadableId } from "../lib/readableId.ts";
import { ChatError, decodeB64u, encodeB64u } from "./protocol.ts";

/** Tags in a nearby profile: always exactly this many, padded with random ones. */
export const NEARBY_TAGS = 32;
/** A rendezvous slot, in ms (10 minutes, UTC). */
export const SLOT_MS = 600_000;

const NEARBY_CONTEXT = "p2pos-chat-nearby-v1|";
const RV_CONTEXT = "p2pos-chat-rv-v1|";
const BINDING_CONTEXT = "p2pos-chat-v1|";
const SECRET_CONTEXT = "p2pos-chat-secret-v1|";
const KNOWN_CONTEXT = "p2pos-chat-known-v1|";

async function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new Uint8Array(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

async function hmac(secret: Uint8Array, text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), utf8Encode(text)));
}

/** 16 random bytes, b64u: a page session's nonce `s`, a request id `rq`, a message id. */
export function randomB64u16(): string {
  return encodeB64u(crypto.getRandomValues(new Uint8Array(16)));
}

/** `hex(HMAC(secret, "p2pos-chat-nearby-v1|" + s)[..4])`: the tag a contact can find itself by. */
export async function nearbyTag(secret: Uint8Array, sessionNonce: string): Promise<string> {
  return toHex((await hmac(secret, NEARBY_CONTEXT + sessionNonce)).subarray(0, 4));
}

/**
 * The `t` of a nearby profile: a tag per secret (the caller passes the 32 most recently seen),
 * padded with random tags to exactly 32 and shuffled, so the count and the order say nothing.
 */
export async function nearbyTags(secrets: readonly Uint8Array[], sessionNonce: string): Promise<string[]> {
  const tags = await Promise.all(secrets.slice(0, NEARBY_TAGS).map((secret) => nearbyTag(secret, sessionNonce)));
  while (tags.length < NEARBY_TAGS) tags.push(toHex(crypto.getRandomValues(new Uint8Array(4))));
  const draws = crypto.getRandomValues(new Uint32Array(tags.length));
  for (let i = tags.length - 1; i > 0; i--) {
    const j = (draws[i] ?? 0) % (i + 1);
    [tags[i], tags[j]] = [tags[j] ?? "", tags[i] ?? ""];
  }
  return tags;
}

/** The rendezvous slot of a wall-clock time: `floor(unix_ms / 600000)`. */
export function slotOf(unixMs: number): number {
  return Math.floor(unixMs / SLOT_MS);
}

/** `"rv:" + hex(HMAC(secret, "p2pos-chat-rv-v1|" + slot)[..16])`, the slot in decimal. */
export async function rvName(secret: Uint8Array, slot: number): Promise<string> {
  return `rv:${toHex((await hmac(secret, RV_CONTEXT + String(slot))).subarray(0, 16))}`;
}

/** The `rv:` names to be in at `unixMs`: the current slot's, then the previous and the next. */
export async function rvNamesAt(secret: Uint8Array, unixMs: number): Promise<[string, string, string]> {
  const slot = slotOf(unixMs);
  return [await rvName(secret, slot), await rvName(secret, Math.max(0, slot - 1)), await rvName(secret, slot + 1)];
}

/**
 * What a side signs to bind its DTLS certificate to its identity, from its own point of view:
 * `"p2pos-chat-v1|" + my_id + "|" + their_id + "|" + my_fp + "|" + their_fp`. `theirId` is
 * `undefined` (empty in the text) between new contacts: neither knows the other's id before the
 * hellos cross, and the two fingerprints already tie the signature to this one channel. Ids are
 * written canonically.
 */
export function binding(myId: string, theirId: string | undefined, myFp: string, theirFp: string): string {
  const their = theirId === undefined ? "" : canonicalReadableId(theirId);
  return `${BINDING_CONTEXT}${canonicalReadableId(myId)}|${their}|${myFp}|${theirFp}`;
}

/** The Ed25519 signature of a binding with the identity's (non-extractable) signing key, b64u. */
export async function signBinding(signingKey: CryptoKey, text: string): Promise<string> {
  return encodeB64u(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signingKey, utf8Encode(text))));
}

/** Whether `sig` (b64u) is `signerId`'s signature of `text`. */
export async function verifyBinding(signerId: string, text: string, sig: string): Promise<boolean> {
  let signature: Uint8Array<ArrayBuffer>;
  let key: CryptoKey;
  try {
    signature = decodeB64u(sig, 64, "a signature");
    key = await crypto.subtle.importKey("raw", new Uint8Array(parseReadableId(signerId)), { name: "Ed25519" }, false, [
      "verify",
    ]);
  } catch {
    return false;
  }
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, utf8Encode(text));
}

/**
 * The shared secret of two new contacts from the `k` each sent:
 * `HKDF-SHA256(ikm = k_lo || k_hi, salt = "", info = "p2pos-chat-secret-v1|" + id_lo + "|" + id_hi)`,
 * `lo`/`hi` ordering the canonical readable ids by their bytes. Refuses one identity on both sides.
 */
export async function deriveSecret(
  a: { id: string; k: Uint8Array },
  b: { id: string; k: Uint8Array },
): Promise<Uint8Array<ArrayBuffer>> {
  const one = { id: canonicalReadableId(a.id), k: a.k };
  const two = { id: canonicalReadableId(b.id), k: b.k };
  if (one.id === two.id) throw new ChatError("same_identity", "Both sides have the same identity.");
  // Readable ids are ASCII, so comparing UTF-16 code units is comparing bytes.
  const [lo, hi] = one.id < two.id ? [one, two] : [two, one];
  const base = await crypto.subtle.importKey("raw", concatBytes(lo.k, hi.k), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8Encode(`${SECRET_CONTEXT}${lo.id}|${hi.id}`) },
    base,
    256,
  );
  return new Uint8Array(bits);
}

/** `b64u(HMAC(secret, "p2pos-chat-known-v1|" + binding_of_sender))`. */
export async function knownProof(secret: Uint8Array, bindingOfSender: string): Promise<string> {
  return encodeB64u(await hmac(secret, KNOWN_CONTEXT + bindingOfSender));
}

/** Checks a `known` proof (WebCrypto's HMAC verify compares in constant time). */
export async function verifyKnown(secret: Uint8Array, bindingOfSender: string, known: string): Promise<boolean> {
  let given: Uint8Array<ArrayBuffer>;
  try {
    given = decodeB64u(known, 32, "known");
  } catch {
    return false;
  }
  return crypto.subtle.verify("HMAC", await hmacKey(secret), given, utf8Encode(KNOWN_CONTEXT + bindingOfSender));
}

/** Normalises a DTLS fingerprint to `sha-256 AB:CD:…`, as the vault's channel does; only sha-256. */
export function normalizeFingerprint(text: string): string {
  const [algorithm, hex, extra] = text.trim().split(/\s+/);
  if (algorithm === undefined || hex === undefined || extra !== undefined) {
    throw new ChatError("fingerprint", `“${text}” is not “<algorithm> <hex>”.`);
  }
  if (algorithm.toLowerCase() !== "sha-256") {
    throw new ChatError("fingerprint", `${algorithm.toLowerCase()} is not supported (only sha-256).`);
  }
  const bytes = hex.toUpperCase().split(":");
  if (bytes.length !== 32 || !bytes.every((b) => /^[0-9A-F]{2}$/.test(b))) {
    throw new ChatError("fingerprint", "A sha-256 fingerprint is 32 hex bytes separated by “:”.");
  }
  return `sha-256 ${bytes.join(":")}`;
}

/** The one DTLS fingerprint an SDP carries, normalised. */
export function sdpFingerprint(sdp: string): string {
  const found = new Set(
    sdp
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.startsWith("a=fingerprint:"))
      .map((line) => normalizeFingerprint(line.slice("a=fingerprint:".length))),
  );
  const [only] = found;
  if (only === undefined) throw new ChatError("fingerprint", "The SDP carries no DTLS fingerprint.");
  if (found.size > 1) throw new ChatError("fingerprint", "The SDP carries several DTLS fingerprints.");
  return only;
}
