/**
 * The identity file (FORMATS.md, "Identity file"): one text file that is both a valid age identity
 * file and the carrier of the person's Ed25519 seed.
 *
 * ```
 * # p2pos identity (v1). Keep this file secret: it is your signing and decryption key.
 * # id: XXXXXXX-…
 * # recipient: age1…
 * # ed25519-seed: <base64 of the 32-byte seed>
 * AGE-SECRET-KEY-1…
 * ```
 *
 * Parsing mirrors the Rust reader (`p2pos-core/src/identity.rs`) line for line, so a file is
 * accepted by both or by neither: lines are trimmed and blank ones skipped; the seed line is
 * required; exactly one AGE-SECRET-KEY-1 line; other comments (the recipient line among them) are
 * informational; the optional id line must name the key derived from the seed, which catches a
 * damaged seed.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { bech32 } from "@scure/base";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { publicKeyFromSeed } from "./ed25519Point.ts";
import { P2posError } from "./errors.ts";
import { encodeReadableId, parseReadableId } from "./readableId.ts";
import { bytesEqual } from "./bytes.ts";

export class IdentityFileError extends P2posError<"identity"> {
  constructor(message: string, options?: ErrorOptions) {
    super("identity", message, options);
  }
}

/** Everything an identity file holds, with the public halves derived. Secret: keep short-lived. */
export interface IdentityFile {
  /** Readable id (Ed25519 public key). */
  id: string;
  publicKey: Uint8Array;
  /** 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Uint8Array;
  /** The age X25519 identity, `AGE-SECRET-KEY-1…`. */
  ageSecretKey: string;
  /** The age recipient, `age1…`. */
  recipient: string;
}

const HEADER = "# p2pos identity (v1). Keep this file secret: it is your signing and decryption key.";
const ID_PREFIX = "# id: ";
const RECIPIENT_PREFIX = "# recipient: ";
const SEED_PREFIX = "# ed25519-seed: ";
const AGE_KEY_PREFIX = "AGE-SECRET-KEY-1";
const AGE_KEY_HRP = "age-secret-key-";

/** Build an identity from its two secrets, deriving and checking everything else. */
export function identityFromSecrets(seed: Uint8Array, ageSecretKey: string): IdentityFile {
  if (seed.length !== 32) throw new IdentityFileError("The Ed25519 seed must be 32 bytes.");
  const publicKey = publicKeyFromSeed(seed);
  return {
    id: encodeReadableId(publicKey),
    publicKey,
    seed,
    ageSecretKey,
    recipient: recipientOf(ageSecretKey),
  };
}

/** The file text, byte for byte what the Rust side writes. */
export function formatIdentityFile(identity: IdentityFile): string {
  return [
    HEADER,
    ID_PREFIX + identity.id,
    RECIPIENT_PREFIX + identity.recipient,
    SEED_PREFIX + encodeBase64(identity.seed),
    identity.ageSecretKey,
    "",
  ].join("\n");
}

/** Parse identity file text or throw an `IdentityFileError`. */
export function parseIdentityFile(text: string): IdentityFile {
  let seedText: string | undefined;
  let statedId: string | undefined;
  const ageKeys: string[] = [];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "") continue;
    if (line.startsWith(SEED_PREFIX)) seedText = line.slice(SEED_PREFIX.length).trim();
    else if (line.startsWith(ID_PREFIX)) statedId = line.slice(ID_PREFIX.length).trim();
    else if (line.startsWith(AGE_KEY_PREFIX)) ageKeys.push(line);
    else if (!line.startsWith("#")) {
      throw new IdentityFileError("This is not a p2pos identity file (unexpected line).");
    }
  }

  if (seedText === undefined) throw new IdentityFileError("This identity file has no ed25519-seed line.");
  let seed: Uint8Array;
  try {
    seed = decodeBase64(seedText);
  } catch (error) {
    throw new IdentityFileError("The identity file's ed25519-seed is not base64.", { cause: error });
  }
  if (seed.length !== 32) throw new IdentityFileError("The identity file's ed25519-seed is not 32 bytes.");

  const [ageSecretKey, ...extraKeys] = ageKeys;
  if (ageSecretKey === undefined || extraKeys.length > 0) {
    throw new IdentityFileError(`Expected one AGE-SECRET-KEY line, found ${ageKeys.length}.`);
  }
  const identity = identityFromSecrets(seed, ageSecretKey);

  if (statedId !== undefined && !statedIdMatches(statedId, identity.publicKey)) {
    throw new IdentityFileError(`The identity file is damaged: it names id ${statedId} but its key is ${identity.id}.`);
  }
  return identity;
}

/** The raw 32-byte X25519 scalar of an `AGE-SECRET-KEY-1…` string. Secret. */
export function ageSecretKeyBytes(ageSecretKey: string): Uint8Array {
  if (!ageSecretKey.startsWith(AGE_KEY_PREFIX)) {
    throw new IdentityFileError("The age key does not start with AGE-SECRET-KEY-1.");
  }
  let decoded;
  try {
    decoded = bech32.decodeToBytes(ageSecretKey);
  } catch (error) {
    throw new IdentityFileError("The AGE-SECRET-KEY line is damaged.", { cause: error });
  }
  if (decoded.prefix.toLowerCase() !== AGE_KEY_HRP || decoded.bytes.length !== 32) {
    throw new IdentityFileError("The AGE-SECRET-KEY line is not an X25519 age identity.");
  }
  return decoded.bytes;
}

/** The `AGE-SECRET-KEY-1…` spelling of a 32-byte X25519 scalar. */
export function encodeAgeSecretKey(scalar: Uint8Array): string {
  return bech32.encodeFromBytes(AGE_KEY_HRP, scalar).toUpperCase();
}

/** The `age1…` recipient of an age X25519 identity. */
export function recipientOf(ageSecretKey: string): string {
  return bech32.encodeFromBytes("age", x25519.getPublicKey(ageSecretKeyBytes(ageSecretKey)));
}

function statedIdMatches(statedId: string, publicKey: Uint8Array): boolean {
  try {
    return bytesEqual(parseReadableId(statedId), publicKey);
  } catch {
    return false;
  }
}
