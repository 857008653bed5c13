/**
 * Ed25519 point checks shared by id parsing and signature verification.
 *
 * WebCrypto verifies signatures but says nothing about *which* keys and R values it accepts, and
 * engines differ. ed25519-dalek's `verify_strict` (the Rust side) refuses small-order points, so we
 * check them here with noble before WebCrypto ever sees the bytes.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesEqual } from "./bytes.ts";

export type PointCheck = "ok" | "not-a-point" | "non-canonical" | "small-order";

/** Classify 32 bytes as an Ed25519 point encoding. */
export function checkPoint(bytes: Uint8Array): PointCheck {
  if (bytes.length !== 32) return "not-a-point";
  let point;
  try {
    // zip215 = false: RFC 8032 decoding, which refuses y ≥ p and "negative zero" x.
    point = ed25519.Point.fromBytes(bytes, false);
  } catch {
    return "not-a-point";
  }
  // Belt and braces: a canonical encoding is exactly what the point encodes back to.
  if (!bytesEqual(point.toBytes(), bytes)) return "non-canonical";
  if (point.isSmallOrder()) return "small-order";
  return "ok";
}

/** The order L of the Ed25519 prime-order subgroup. */
export const GROUP_ORDER: bigint = ed25519.Point.Fn.ORDER;

/** Read 32 bytes as a little-endian unsigned integer. */
export function littleEndianToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i] ?? 0);
  return value;
}

/** The Ed25519 public key of a 32-byte seed (RFC 8032 §5.1.5). */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}
