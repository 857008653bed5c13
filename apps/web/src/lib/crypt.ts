/**
 * age encryption (FORMATS.md, "Age files") on top of typage (`age-encryption`).
 *
 * Photos are encrypted to one or more X25519 recipients (`age1…`) as streams, so a large file never
 * has to sit in memory twice; backups are armored passphrase files. Readers accept binary and
 * armored input alike. typage reports failures as plain `Error`s; here they become a `CryptError`
 * whose kind says what the user can do about it: try another key, re-type the passphrase, or give
 * up on a damaged file.
 *
 * typage writes and reads the header (stanzas, MAC); the payload after it, which is nearly all of
 * a photo's bytes, goes through `ageStream.ts`: WebAssembly where the engine has SIMD.
 */
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { Decrypter, Encrypter, armor, type Recipient } from "age-encryption";
import { chunkCipher, decryptPayload, encryptPayload, openPayload, TAG } from "./ageStream.ts";
import { concatBytes, utf8DecodeStrict, utf8Encode } from "./bytes.ts";
import { P2posError } from "./errors.ts";
import { bytesToStream, readAllBytes } from "./streams.ts";
import {
  DEFAULT_LOG_N,
  ScryptIdentity,
  ScryptRecipient,
  type ProgressCallback,
  type ScryptFunction,
  type ScryptOptions,
} from "./scryptStanza.ts";

export { DEFAULT_LOG_N, type ProgressCallback, type ScryptFunction, type ScryptOptions };

export type CryptErrorKind = "no-identity" | "corrupt" | "passphrase";

export class CryptError extends P2posError<CryptErrorKind> {}

/** An age X25519 identity: `AGE-SECRET-KEY-1…` text, or a non-extractable X25519 `CryptoKey`. */
export type AgeIdentity = string | CryptoKey;

/** Binary or ASCII-armored age file. */
export type AgeFile = Uint8Array | string;

const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
// typage's message when no identity unwraps the file key; every other failure is about the file.
const NO_MATCH = /no identity matched/i;

// ---------------------------------------------------------------------------------------------
// Recipients

/** Encrypt to recipients. Bytes in, bytes (binary age) out; a stream in, a stream out. */
export function encryptToRecipients(plaintext: Uint8Array, recipients: readonly string[]): Promise<Uint8Array>;
export function encryptToRecipients(
  plaintext: ReadableStream<Uint8Array>,
  recipients: readonly string[],
): Promise<ReadableStream<Uint8Array>>;
export async function encryptToRecipients(
  plaintext: Uint8Array | ReadableStream<Uint8Array>,
  recipients: readonly string[],
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  if (recipients.length === 0) throw new TypeError("encrypting needs at least one recipient");
  const encrypter = new Encrypter();
  for (const recipient of recipients) {
    if (!recipient.startsWith("age1")) throw new TypeError(`not an age recipient: ${recipient}`);
    try {
      encrypter.addRecipient(recipient);
    } catch (error) {
      throw new TypeError(`not an age recipient: ${recipient}`, { cause: error });
    }
  }
  const stream = plaintext instanceof Uint8Array ? bytesToStream(plaintext) : plaintext;
  const encrypted = await encryptStream(encrypter, stream);
  return plaintext instanceof Uint8Array ? readAllBytes(encrypted) : encrypted;
}

/**
 * typage makes the file key, the header and the payload nonce; the payload is ours. A recipient
 * that writes no stanza learns the file key; typage's file of an empty payload is the header, the
 * nonce and one empty sealed chunk, of which the first two are kept.
 */
async function encryptStream(
  encrypter: Encrypter,
  plaintext: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  let fileKey: Uint8Array | undefined;
  const learner: Recipient = {
    wrapFileKey(key) {
      fileKey = key;
      return [];
    },
  };
  encrypter.addRecipient(learner);
  const empty = await encrypter.encrypt(new Uint8Array(0));
  if (fileKey === undefined) throw new Error("typage did not make a file key");
  const head = empty.subarray(0, empty.length - TAG);
  const key = payloadKey(fileKey, head.subarray(head.length - NONCE_SIZE));
  const payload = plaintext.pipeThrough(encryptPayload(key, await chunkCipher()));
  return withHead([head], payload.getReader());
}

/** The payload nonce's size, after the header. */
const NONCE_SIZE = 16;
/** A header longer than this is not one we wrote or would accept. */
const MAX_HEADER = 1024 * 1024;

/** age's STREAM key: HKDF-SHA-256 of the file key, salted with the payload nonce. */
function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return hkdf(sha256, fileKey, nonce, utf8Encode("payload"), 32);
}

/** Decrypt with identities. Bytes or armored text in, bytes out; a stream in, a stream out. */
export function decryptWithIdentities(file: AgeFile, identities: readonly AgeIdentity[]): Promise<Uint8Array>;
export function decryptWithIdentities(
  file: ReadableStream<Uint8Array>,
  identities: readonly AgeIdentity[],
): Promise<ReadableStream<Uint8Array>>;
export async function decryptWithIdentities(
  file: AgeFile | ReadableStream<Uint8Array>,
  identities: readonly AgeIdentity[],
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  if (identities.length === 0) throw new TypeError("decrypting needs at least one identity");
  const decrypter = new Decrypter();
  for (const identity of identities) {
    if (typeof identity === "string" && !identity.startsWith("AGE-SECRET-KEY-1")) {
      throw new TypeError("not an age X25519 identity (AGE-SECRET-KEY-1…)");
    }
    try {
      decrypter.addIdentity(identity);
    } catch (error) {
      throw new TypeError("not a valid age identity", { cause: error });
    }
  }
  return decryptWith(decrypter, file, "no-identity");
}

// ---------------------------------------------------------------------------------------------
// Passphrases

export interface PassphraseEncryptOptions extends ScryptOptions {
  /** scrypt work factor, log2(N). Defaults to 18, the age CLI's default. */
  logN?: number;
}

/** Encrypt to a passphrase; returns an armored age file (backups are text a person can store). */
export async function encryptWithPassphrase(
  plaintext: Uint8Array | string,
  passphrase: string,
  options: PassphraseEncryptOptions = {},
): Promise<string> {
  if (passphrase.length === 0) throw new TypeError("the passphrase is empty");
  const encrypter = new Encrypter();
  encrypter.addRecipient(new ScryptRecipient(passphrase, options.logN ?? DEFAULT_LOG_N, options));
  const bytes = typeof plaintext === "string" ? utf8Encode(plaintext) : plaintext;
  return armor.encode(await readAllBytes(await encrypter.encrypt(bytesToStream(bytes))));
}

/** Decrypt a passphrase file (binary or armored). A wrong passphrase is a `CryptError` "passphrase". */
export async function decryptWithPassphrase(
  file: AgeFile,
  passphrase: string,
  options: ScryptOptions = {},
): Promise<Uint8Array> {
  const identity = new ScryptIdentity(passphrase, options);
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  try {
    return await decryptWith(decrypter, file, "passphrase");
  } catch (error) {
    if (error instanceof CryptError && error.kind === "passphrase" && !identity.sawScryptStanza) {
      throw new CryptError("corrupt", "This file is not protected by a passphrase.", { cause: error });
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Armor

/** ASCII-armor a binary age file. */
export function armorFile(file: Uint8Array): string {
  return armor.encode(file);
}

/** True when the bytes start (after whitespace) with the age armor header. */
export function isArmored(file: Uint8Array | string): boolean {
  const head = typeof file === "string" ? file.slice(0, 1024) : latin1(file.subarray(0, 1024));
  return head.trimStart().startsWith(ARMOR_BEGIN);
}

/** The binary age file of binary or armored input; armor errors are `CryptError` "corrupt". */
export function dearmor(file: AgeFile): Uint8Array {
  if (!isArmored(file)) {
    if (typeof file === "string") throw new CryptError("corrupt", "This is not an age file.");
    return file;
  }
  try {
    return armor.decode(typeof file === "string" ? file : utf8DecodeStrict(file));
  } catch (error) {
    throw new CryptError("corrupt", "The armored age file is damaged.", { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// Internals

type NoMatchKind = "no-identity" | "passphrase";

function decryptWith(decrypter: Decrypter, file: AgeFile, noMatch: NoMatchKind): Promise<Uint8Array>;
function decryptWith(
  decrypter: Decrypter,
  file: ReadableStream<Uint8Array>,
  noMatch: NoMatchKind,
): Promise<ReadableStream<Uint8Array>>;
function decryptWith(
  decrypter: Decrypter,
  file: AgeFile | ReadableStream<Uint8Array>,
  noMatch: NoMatchKind,
): Promise<Uint8Array | ReadableStream<Uint8Array>>;
async function decryptWith(
  decrypter: Decrypter,
  file: AgeFile | ReadableStream<Uint8Array>,
  noMatch: NoMatchKind,
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  try {
    if (!(file instanceof ReadableStream)) return await decryptBytes(decrypter, dearmor(file));
    // The header is authenticated before this resolves; payload chunks as they are read.
    const output = await decryptStream(decrypter, await dearmorStream(file));
    return mapStreamErrors(output, (error) => toCryptError(error, noMatch));
  } catch (error) {
    throw toCryptError(error, noMatch);
  }
}

/**
 * Reads the header and the payload nonce, has typage unwrap the file key and check the header's
 * MAC, and returns the decrypted payload as a stream.
 */
async function decryptStream(
  decrypter: Decrypter,
  input: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = input.getReader();
  let head: Uint8Array = new Uint8Array(0);
  let headerEnd: number | undefined;
  while (headerEnd === undefined || head.length < headerEnd + NONCE_SIZE) {
    const { done, value } = await reader.read();
    if (done) throw new CryptError("corrupt", "The file ends before its payload starts.");
    head = concatBytes(head, value);
    headerEnd ??= findHeaderEnd(head);
    if (headerEnd === undefined && head.length > MAX_HEADER)
      throw new CryptError("corrupt", "This is not an age file.");
  }
  const fileKey = await decrypter.decryptHeader(head.subarray(0, headerEnd));
  const key = payloadKey(fileKey, head.subarray(headerEnd, headerEnd + NONCE_SIZE));
  const rest = head.subarray(headerEnd + NONCE_SIZE);
  const payload = withHead(rest.length > 0 ? [rest] : [], reader);
  return payload.pipeThrough(decryptPayload(key, await chunkCipher()));
}

/** `decryptStream` for a file held whole (a photo's meta, a key): no streams on the way. */
async function decryptBytes(decrypter: Decrypter, file: Uint8Array): Promise<Uint8Array> {
  const headerEnd = findHeaderEnd(file.subarray(0, MAX_HEADER));
  if (headerEnd === undefined) {
    throw file.length > MAX_HEADER
      ? new CryptError("corrupt", "This is not an age file.")
      : new CryptError("corrupt", "The file ends before its payload starts.");
  }
  if (file.length < headerEnd + NONCE_SIZE) throw new CryptError("corrupt", "The file ends before its payload starts.");
  const fileKey = await decrypter.decryptHeader(file.subarray(0, headerEnd));
  const key = payloadKey(fileKey, file.subarray(headerEnd, headerEnd + NONCE_SIZE));
  return openPayload(key, await chunkCipher(), file.subarray(headerEnd + NONCE_SIZE));
}

/**
 * Where the binary header ends: after the MAC line, `--- ` and the MAC, the only line that
 * starts with three dashes (stanza lines start with `-> `, their bodies are base64).
 */
function findHeaderEnd(bytes: Uint8Array): number | undefined {
  for (let i = 0; i + 4 <= bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x2d && bytes[i + 2] === 0x2d && bytes[i + 3] === 0x2d) {
      const end = bytes.indexOf(0x0a, i + 4);
      return end < 0 ? undefined : end + 1;
    }
  }
  return undefined;
}

function toCryptError(error: unknown, noMatch: NoMatchKind): CryptError {
  if (error instanceof CryptError) return error;
  if (error instanceof Error && NO_MATCH.test(error.message)) {
    return noMatch === "passphrase"
      ? new CryptError("passphrase", "Wrong passphrase.", { cause: error })
      : new CryptError("no-identity", "None of your keys can open this file.", { cause: error });
  }
  return new CryptError("corrupt", "The file is damaged or is not an age file.", { cause: error });
}

/**
 * Binary age files start with "age-encryption.org/v1", armored ones with "-----BEGIN": the first
 * non-whitespace byte tells them apart. Armored files (keys, backups) are small, so they are
 * buffered and decoded; binary files stream through untouched.
 */
async function dearmorStream(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let first: number | undefined;
  while (first === undefined) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(value);
    first = value.find((byte) => !isAsciiWhitespace(byte));
  }
  if (first === 0x2d /* "-" */) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      head.push(value);
    }
    return bytesToStream(dearmor(concatBytes(...head)));
  }
  return withHead(head, reader);
}

/** The bytes already read (`head`), then the rest of `reader`'s stream. */
function withHead(
  head: readonly Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of head) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function mapStreamErrors(
  source: ReadableStream<Uint8Array>,
  map: (error: unknown) => Error,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(map(error));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function isAsciiWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0c;
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
