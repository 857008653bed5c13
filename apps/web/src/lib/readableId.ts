/**
 * Readable ids: an Ed25519 public key shown like a Syncthing device id (FORMATS.md, "Readable ids").
 *
 * base32 of the 32 bytes (52 characters), four chunks of 13 each followed by a Luhn mod 32 check
 * character (56), written as 8 groups of 7 joined by `-`. Parsing forgives how an id was copied or
 * read aloud (case, dashes, spaces, 0/1/8 for O/I/B) but nothing about its content, and says
 * precisely what is wrong so a person can fix a typo.
 */
import { base32nopad } from "@scure/base";
import { checkPoint } from "./ed25519Point.ts";
import { P2posError } from "./errors.ts";

export type IdErrorKind = "length" | "character" | "check" | "key";

export class IdError extends P2posError<IdErrorKind> {}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const KEY_LENGTH = 32;
const CHUNKS = 4;
const CHUNK_LENGTH = 13;
const ID_LENGTH = CHUNKS * (CHUNK_LENGTH + 1);
const GROUP_LENGTH = 7;

/** The Luhn mod 32 check character of a chunk, exactly as FORMATS.md specifies it. */
export function luhn32(chunk: string): string {
  const n = ALPHABET.length;
  let factor = 1;
  let sum = 0;
  for (const c of chunk) {
    const codepoint = ALPHABET.indexOf(c);
    if (codepoint < 0) throw new RangeError(`not a base32 character: ${c}`);
    const addend = factor * codepoint;
    factor = factor === 1 ? 2 : 1;
    sum += Math.floor(addend / n) + (addend % n);
  }
  return ALPHABET.charAt((n - (sum % n)) % n);
}

/** The readable id of a 32-byte Ed25519 public key. */
export function encodeReadableId(publicKey: Uint8Array): string {
  if (publicKey.length !== KEY_LENGTH) {
    throw new RangeError(`an id is a ${KEY_LENGTH}-byte key, got ${publicKey.length} bytes`);
  }
  const base32 = base32nopad.encode(publicKey);
  let withChecks = "";
  for (let i = 0; i < CHUNKS; i++) {
    const chunk = base32.slice(i * CHUNK_LENGTH, (i + 1) * CHUNK_LENGTH);
    withChecks += chunk + luhn32(chunk);
  }
  return splitIntoGroups(withChecks).join("-");
}

/** The 8 groups of 7 characters of a canonical id (for display). */
export function idGroups(id: string): string[] {
  return splitIntoGroups(id.replaceAll("-", ""));
}

/**
 * Parse an id as typed, pasted or read aloud; return the public key or throw an `IdError`.
 */
export function parseReadableId(text: string): Uint8Array {
  const characters = normalize(text);
  if (characters.length !== ID_LENGTH) {
    throw new IdError(
      "length",
      `An id has ${ID_LENGTH} letters and digits (not counting dashes); this one has ${characters.length}.`,
    );
  }
  const normalized = characters.join("");
  for (const c of characters) {
    if (!ALPHABET.includes(c)) {
      throw new IdError("character", `An id cannot contain “${c}”: only the letters A–Z and the digits 2–7.`);
    }
  }

  let base32 = "";
  for (let i = 0; i < CHUNKS; i++) {
    const start = i * (CHUNK_LENGTH + 1);
    const chunk = normalized.slice(start, start + CHUNK_LENGTH);
    if (normalized.charAt(start + CHUNK_LENGTH) !== luhn32(chunk)) {
      throw new IdError("check", `The ${ORDINALS[i] ?? ""} quarter of the id has a typo.`);
    }
    base32 += chunk;
  }

  let key: Uint8Array;
  try {
    key = base32nopad.decode(base32);
  } catch {
    // 52 characters carry 260 bits; the last 4 must be zero for the text to be the key's only spelling.
    throw new IdError("key", "This id does not encode a key (its last character is impossible).");
  }
  if (checkPoint(key) !== "ok") {
    throw new IdError("key", "This id is well formed but is not a usable public key.");
  }
  return key;
}

/** The canonical spelling of an id, or throw an `IdError`. */
export function canonicalReadableId(text: string): string {
  return encodeReadableId(parseReadableId(text));
}

const ORDINALS = ["1st", "2nd", "3rd", "4th"] as const;

/**
 * The characters of `text` with presentation removed. Counted by code point and upper-cased in
 * ASCII only, like the Rust parser, so both report the same length and the same bad character.
 */
function normalize(text: string): string[] {
  return Array.from(text.replace(/[-\s]/g, ""), (c) => READ_ALOUD[c] ?? c.replace(/[a-z]/, (l) => l.toUpperCase()));
}

const READ_ALOUD: Readonly<Record<string, string>> = { "0": "O", "1": "I", "8": "B" };

function splitIntoGroups(text: string): string[] {
  const groups: string[] = [];
  for (let i = 0; i < text.length; i += GROUP_LENGTH) groups.push(text.slice(i, i + GROUP_LENGTH));
  return groups;
}
