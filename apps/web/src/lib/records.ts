/**
 * Signed records (FORMATS.md, "Signed records"): `{body, signer, sig}` where `body` is base64 of the
 * exact JSON bytes and `sig` is Ed25519 over those bytes.
 *
 * Nobody re-serialises a body: the signature covers bytes, not a JSON value, so signing takes the
 * bytes as they will be sent and verifying hands back the bytes it checked. Verification is as
 * strict as ed25519-dalek's `verify_strict`, so a record accepted here is accepted by every node.
 */
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { toArrayBufferBytes, utf8DecodeStrict, utf8Encode } from "./bytes.ts";
import { GROUP_ORDER, checkPoint, littleEndianToBigInt } from "./ed25519Point.ts";
import { P2posError } from "./errors.ts";
import { encodeReadableId, parseReadableId } from "./readableId.ts";

export type RecordErrorKind = "malformed" | "signer" | "signature";

export class RecordError extends P2posError<RecordErrorKind> {}

/** A record as it travels: every field is text. */
export interface SignedRecord {
  body: string;
  signer: string;
  sig: string;
}

/** What a successful verification proves: `signer` signed exactly `bodyBytes`, which parse as `body`. */
export interface VerifiedRecord {
  signer: string;
  body: Record<string, unknown>;
  bodyBytes: Uint8Array;
}

/** Whoever signs: a readable id and its non-extractable Ed25519 private key. */
export interface RecordSigner {
  id: string;
  signingKey: CryptoKey;
}

const SIGNATURE_LENGTH = 64;

/**
 * Sign a body. A `Uint8Array` is signed as given (it must be UTF-8 JSON of an object); any other
 * value is serialised with `JSON.stringify` first.
 */
export async function signRecord(body: unknown, signer: RecordSigner): Promise<SignedRecord> {
  const bodyBytes = body instanceof Uint8Array ? toArrayBufferBytes(body) : utf8Encode(stringifyObject(body));
  // Refuse to produce a record that every verifier would reject.
  parseObjectBody(bodyBytes);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signer.signingKey, bodyBytes));
  return { body: encodeBase64(bodyBytes), signer: signer.id, sig: encodeBase64(sig) };
}

/** Verify a record (any parsed JSON value) or throw a `RecordError`. */
export async function verifyRecord(record: unknown): Promise<VerifiedRecord> {
  const { body, signer, sig } = recordFields(record);
  const bodyBytes = decodeField(body, "body");
  const sigBytes = decodeField(sig, "sig");
  if (sigBytes.length !== SIGNATURE_LENGTH) {
    throw new RecordError("malformed", `A signature is ${SIGNATURE_LENGTH} bytes, this one is ${sigBytes.length}.`);
  }

  let publicKey: Uint8Array;
  try {
    publicKey = parseReadableId(signer);
  } catch (error) {
    throw new RecordError("signer", `The signer is not a valid id: ${messageOf(error)}`, { cause: error });
  }

  await verifyStrict(publicKey, bodyBytes, sigBytes);
  return { signer: encodeReadableId(publicKey), body: parseObjectBody(bodyBytes), bodyBytes };
}

/**
 * Ed25519 verification with `verify_strict` semantics. WebCrypto alone is not enough: engines
 * differ on which edge cases they accept, so the strict checks come first and are explicit.
 */
async function verifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<void> {
  const r = signature.subarray(0, 32);
  const s = signature.subarray(32);
  // A malleable signature: S and S + L verify alike, so only S < L is accepted.
  if (littleEndianToBigInt(s) >= GROUP_ORDER) {
    throw new RecordError("signature", "The signature is not canonical (S is not reduced).");
  }
  if (checkPoint(r) !== "ok") {
    throw new RecordError("signature", "The signature's R is not a valid point of large order.");
  }
  // parseReadableId already refuses small-order keys; repeated so this function stands on its own.
  if (checkPoint(publicKey) !== "ok") {
    throw new RecordError("signer", "The signer's key is not a valid point of large order.");
  }

  const key = await crypto.subtle.importKey("raw", toArrayBufferBytes(publicKey), { name: "Ed25519" }, false, [
    "verify",
  ]);
  const valid = await crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    toArrayBufferBytes(signature),
    toArrayBufferBytes(message),
  );
  if (!valid) throw new RecordError("signature", "The signature does not match the body and signer.");
}

function recordFields(record: unknown): SignedRecord {
  if (!isPlainObject(record)) throw new RecordError("malformed", "A record is a JSON object.");
  const { body, signer, sig } = record;
  if (typeof body !== "string" || typeof signer !== "string" || typeof sig !== "string") {
    throw new RecordError("malformed", "A record has the text fields body, signer and sig.");
  }
  // Like the Rust side (serde deny_unknown_fields): nothing rides along unsigned.
  const extra = Object.keys(record).filter((key) => key !== "body" && key !== "signer" && key !== "sig");
  if (extra.length > 0) {
    throw new RecordError("malformed", `A record has only body, signer and sig, not ${extra.join(", ")}.`);
  }
  return { body, signer, sig };
}

function decodeField(value: string, field: string): Uint8Array {
  try {
    return decodeBase64(value);
  } catch (error) {
    throw new RecordError("malformed", `The record's ${field} is not valid base64: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function parseObjectBody(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8DecodeStrict(bytes));
  } catch (error) {
    throw new RecordError("malformed", "The record body is not UTF-8 JSON.", { cause: error });
  }
  if (!isPlainObject(value)) throw new RecordError("malformed", "The record body is not a JSON object.");
  return value;
}

function stringifyObject(value: unknown): string {
  if (!isPlainObject(value)) throw new RecordError("malformed", "A record body must be a JSON object.");
  return JSON.stringify(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
