/**
 * Strict standard base64 (RFC 4648 §4: alphabet `A–Z a–z 0–9 + /`, `=` padding).
 *
 * Every signed record and test vector carries binary data this way, and both implementations must
 * accept exactly the same strings: one canonical encoding per byte string. So decoding refuses
 * whitespace, missing or extra padding, and non-zero trailing bits, which lax decoders ignore.
 */
import { base64 } from "@scure/base";
import { P2posError } from "./errors.ts";

export class Base64Error extends P2posError<"base64"> {
  constructor(message: string) {
    super("base64", message);
  }
}

const CANONICAL_SHAPE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function encodeBase64(bytes: Uint8Array): string {
  return base64.encode(bytes);
}

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  if (!CANONICAL_SHAPE.test(text)) {
    throw new Base64Error("not padded standard base64");
  }
  let bytes: Uint8Array;
  try {
    bytes = base64.decode(text);
  } catch {
    throw new Base64Error("not valid base64");
  }
  // The shape check cannot see the trailing bits of the last character; the round trip can.
  if (base64.encode(bytes) !== text) {
    throw new Base64Error("non-canonical base64 (non-zero trailing bits)");
  }
  return new Uint8Array(bytes);
}
