/**
 * WebCrypto key handling: turning raw secrets into non-extractable `CryptoKey`s.
 *
 * Raw key bytes exist only while an identity is created or restored; afterwards the page holds
 * `CryptoKey`s whose secret halves script cannot read back (`extractable: false`), so even code
 * running in the page later cannot exfiltrate them. WebCrypto imports Ed25519 and X25519 private
 * keys only as PKCS #8 (or JWK); for these curves PKCS #8 is a fixed 16-byte prefix and the 32 bytes.
 */
import { concatBytes, wipe } from "./bytes.ts";
import { encodeAgeSecretKey } from "./identityFile.ts";

// RFC 8410 OneAsymmetricKey: SEQUENCE { version 0, AlgorithmIdentifier { OID }, OCTET STRING { OCTET STRING (32) } }
const PKCS8_PREFIX_ED25519 = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
);
const PKCS8_PREFIX_X25519 = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);

/** Import an Ed25519 seed as a non-extractable signing key. */
export async function importSigningKey(seed: Uint8Array): Promise<CryptoKey> {
  return importPkcs8(PKCS8_PREFIX_ED25519, seed, { name: "Ed25519" }, ["sign"]);
}

/** Import an X25519 scalar as a non-extractable age decryption key (typage derives bits with it). */
export async function importAgeKey(scalar: Uint8Array): Promise<CryptoKey> {
  return importPkcs8(PKCS8_PREFIX_X25519, scalar, { name: "X25519" }, ["deriveBits"]);
}

/**
 * A fresh Ed25519 seed from WebCrypto's generator. The key pair is extractable only so the seed can
 * be written into the identity file; the pair itself is discarded.
 */
export async function generateEd25519Seed(): Promise<Uint8Array> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  return seedFromPkcs8(new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)));
}

/** A fresh age X25519 identity (`AGE-SECRET-KEY-1…`) from WebCrypto's generator. */
export async function generateAgeSecretKey(): Promise<string> {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
  const scalar = seedFromPkcs8(new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)));
  try {
    return encodeAgeSecretKey(scalar);
  } finally {
    wipe(scalar);
  }
}

function seedFromPkcs8(pkcs8: Uint8Array): Uint8Array {
  // Both curves export exactly the 48-byte form above (no optional public key attribute).
  if (pkcs8.length !== 48) throw new Error(`unexpected PKCS #8 length ${pkcs8.length}`);
  const seed = pkcs8.slice(16);
  wipe(pkcs8);
  return seed;
}

async function importPkcs8(
  prefix: Uint8Array,
  secret: Uint8Array,
  algorithm: Algorithm,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  if (secret.length !== 32) throw new RangeError("a private key is 32 bytes");
  const pkcs8 = concatBytes(prefix, secret);
  try {
    return await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, usages);
  } finally {
    wipe(pkcs8);
  }
}

/**
 * Whether this browser's WebCrypto has Ed25519 and X25519 (Chromium ≥ 137, Firefox ≥ 130,
 * Safari ≥ 17). Without them keys could not be kept non-extractable, so the app refuses to start.
 */
export async function checkWebCryptoSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (typeof crypto === "undefined" || typeof crypto.subtle === "undefined") {
    return { ok: false, reason: "WebCrypto is not available (the page must be served over HTTPS or from localhost)." };
  }
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    return { ok: true };
  } catch {
    return { ok: false, reason: "Its WebCrypto lacks Ed25519 or X25519 keys." };
  }
}
