/**
 * The age scrypt (passphrase) stanza, with progress reporting and without freezing the page.
 *
 * typage implements the same stanza but runs scrypt synchronously: at the age CLI's work factor
 * (logN 18) that blocks the page for a second or more with no way to show progress. This module
 * plugs into typage's `Recipient`/`Identity` interfaces and produces and reads byte-identical
 * stanzas (age spec, "scrypt recipient stanza"), running noble's `scryptAsync`, which yields to the
 * event loop every few milliseconds and reports how far it got.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { randomBytes } from "@noble/hashes/utils.js";
import { base64nopad } from "@scure/base";
import { Stanza, type Identity, type Recipient } from "age-encryption";
import { concatBytes, utf8Encode } from "./bytes.ts";

/** The age CLI's default work factor. */
export const DEFAULT_LOG_N = 18;
/** The highest work factor we agree to decrypt: 2^20 needs 1 GiB and several seconds. */
export const MAX_LOG_N = 20;

/** Called with the fraction (0 to 1) of the scrypt work done. */
export type ProgressCallback = (fraction: number) => void;

/**
 * scrypt with the age parameters (r = 8, p = 1, 32-byte key) and N = 2^logN; `salt` is the full
 * scrypt salt (age's label followed by the stanza's salt). The default runs
 * in the calling thread, yielding now and then; a page can pass one that runs in a Web Worker so
 * that rendering and input never wait for it (see src/scryptWorker.ts).
 */
export type ScryptFunction = (
  passphrase: string,
  salt: Uint8Array,
  logN: number,
  onProgress?: ProgressCallback,
) => Promise<Uint8Array>;

/** How a passphrase stanza runs scrypt and reports progress. */
export interface ScryptOptions {
  onProgress?: ProgressCallback;
  scrypt?: ScryptFunction;
}

const LABEL = "age-encryption.org/v1/scrypt";
const SALT_LENGTH = 16;
const FILE_KEY_BODY_LENGTH = 32; // 16-byte file key + 16-byte Poly1305 tag
const ZERO_NONCE = new Uint8Array(12);

/** Encrypts the file key under a passphrase. */
export class ScryptRecipient implements Recipient {
  readonly #passphrase: string;
  readonly #logN: number;
  readonly #options: ScryptOptions;

  constructor(passphrase: string, logN = DEFAULT_LOG_N, options: ScryptOptions = {}) {
    if (!Number.isInteger(logN) || logN < 1 || logN > MAX_LOG_N) {
      throw new RangeError(`scrypt work factor must be an integer from 1 to ${MAX_LOG_N}`);
    }
    this.#passphrase = passphrase;
    this.#logN = logN;
    this.#options = options;
  }

  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const salt = randomBytes(SALT_LENGTH);
    const key = await deriveKey(this.#passphrase, salt, this.#logN, this.#options);
    const body = chacha20poly1305(key, ZERO_NONCE).encrypt(fileKey);
    return [new Stanza(["scrypt", base64nopad.encode(salt), String(this.#logN)], body)];
  }
}

/** Recovers the file key from a scrypt stanza, or returns null for a wrong passphrase. */
export class ScryptIdentity implements Identity {
  readonly #passphrase: string;
  readonly #options: ScryptOptions;
  /**
   * Whether the last header offered a scrypt stanza. When nothing unwraps the file key this tells
   * "wrong passphrase" apart from "not a passphrase file at all".
   */
  sawScryptStanza = false;

  constructor(passphrase: string, options: ScryptOptions = {}) {
    this.#passphrase = passphrase;
    this.#options = options;
  }

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    this.sawScryptStanza = false;
    for (const stanza of stanzas) {
      if (stanza.args[0] !== "scrypt") continue;
      this.sawScryptStanza = true;
      // The spec forbids mixing: a passphrase file with other recipients would let them read it
      // while the passphrase holder believes it is private.
      if (stanzas.length !== 1) throw new Error("scrypt stanza is not the only stanza in the header");
      const [, saltText, logNText] = stanza.args;
      if (stanza.args.length !== 3 || saltText === undefined || logNText === undefined) {
        throw new Error("invalid scrypt stanza");
      }
      if (!/^[1-9][0-9]*$/.test(logNText)) throw new Error("invalid scrypt stanza");
      const logN = Number(logNText);
      if (logN > MAX_LOG_N) throw new Error("scrypt work factor is too high");
      const salt = base64nopad.decode(saltText);
      if (salt.length !== SALT_LENGTH || stanza.body.length !== FILE_KEY_BODY_LENGTH) {
        throw new Error("invalid scrypt stanza");
      }
      const key = await deriveKey(this.#passphrase, salt, logN, this.#options);
      try {
        return chacha20poly1305(key, ZERO_NONCE).decrypt(stanza.body);
      } catch {
        return null; // wrong passphrase
      }
    }
    return null;
  }
}

async function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  logN: number,
  options: ScryptOptions,
): Promise<Uint8Array> {
  const scrypt = options.scrypt ?? scryptInThisThread;
  return scrypt(passphrase, concatBytes(utf8Encode(LABEL), salt), logN, options.onProgress);
}

/** The default `ScryptFunction`: noble's scrypt, yielding to the event loop every 20 ms. */
export const scryptInThisThread: ScryptFunction = (passphrase, salt, logN, onProgress) =>
  scryptAsync(passphrase, salt, {
    N: 2 ** logN,
    r: 8,
    p: 1,
    dkLen: 32,
    // 2^20 × r 8 needs 1 GiB plus noble's bookkeeping; the default cap is just below that.
    maxmem: 2 ** 31,
    asyncTick: 20,
    ...(onProgress ? { onProgress } : {}),
  });
