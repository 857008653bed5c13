/**
 * age's payload (FORMATS.md, "Age files"): the STREAM construction over ChaCha20-Poly1305, in
 * 64 KiB chunks, each sealed with an 11-byte big-endian counter and a last-chunk flag as nonce.
 *
 * The chunks are sealed and opened by crates/p2pos-age-stream compiled to WebAssembly with SIMD
 * (`ageStreamWasm.ts`), several times faster than the pure-JavaScript cipher typage uses; where
 * the engine has no WebAssembly SIMD, by `@noble/ciphers` (typage's own). The header stays with
 * typage (crypt.ts).
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { concatBytes } from "./bytes.ts";
import { DATA_AT, KEY_AT, NONCE_AT, p2posWasm, type P2posWasm } from "./p2posWasm.ts";

/** Plaintext bytes per chunk, and what sealing adds to each. */
export const CHUNK = 64 * 1024;
export const TAG = 16;

/** Seals and opens one STREAM chunk. `open` throws `PayloadError` when a chunk does not authenticate. */
export interface ChunkCipher {
  /** "wasm" (WebAssembly SIMD) or "js" (`@noble/ciphers`). */
  readonly kind: "wasm" | "js";
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array<ArrayBuffer>;
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array<ArrayBuffer>;
}

/** A payload chunk that does not authenticate, or a payload cut short or too long. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

class WasmCipher implements ChunkCipher {
  readonly kind = "wasm";
  private readonly exports: P2posWasm;
  private readonly base: number;

  constructor(exports: P2posWasm) {
    this.exports = exports;
    this.base = exports.scratch();
  }

  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array<ArrayBuffer> {
    if (plaintext.length > CHUNK) throw new RangeError("a STREAM chunk holds at most 64 KiB");
    const memory = this.load(key, nonce, plaintext);
    const length = this.exports.seal(plaintext.length);
    return memory.slice(this.base + DATA_AT, this.base + DATA_AT + length);
  }

  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array<ArrayBuffer> {
    if (sealed.length < TAG || sealed.length > CHUNK + TAG) throw new PayloadError("a payload chunk has a wrong size");
    const memory = this.load(key, nonce, sealed);
    const length = this.exports.open(sealed.length);
    if (length < 0) throw new PayloadError("a payload chunk does not authenticate");
    return memory.slice(this.base + DATA_AT, this.base + DATA_AT + length);
  }

  private load(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array<ArrayBuffer> {
    if (key.length !== 32 || nonce.length !== 12)
      throw new RangeError("ChaCha20-Poly1305 takes a 32-byte key and a 12-byte nonce");
    // A view made now: the module's memory may have grown (and its buffer changed) since the last.
    const memory = new Uint8Array(this.exports.memory.buffer);
    memory.set(key, this.base + KEY_AT);
    memory.set(nonce, this.base + NONCE_AT);
    memory.set(data, this.base + DATA_AT);
    return memory;
  }
}

const jsCipher: ChunkCipher = {
  kind: "js",
  seal: (key, nonce, plaintext) => chacha20poly1305(key, nonce).encrypt(plaintext),
  open(key, nonce, sealed) {
    try {
      return chacha20poly1305(key, nonce).decrypt(sealed);
    } catch (error) {
      throw new PayloadError("a payload chunk does not authenticate", { cause: error });
    }
  },
};

let loading: Promise<ChunkCipher> | undefined;

/**
 * The fastest cipher this engine runs: the WebAssembly module when it validates (it needs SIMD:
 * Chromium 91, Firefox 89, Safari 16.4), `@noble/ciphers` otherwise. Loaded once per page or worker.
 */
export function chunkCipher(): Promise<ChunkCipher> {
  loading ??= p2posWasm().then((exports) => (exports ? new WasmCipher(exports) : jsCipher));
  return loading;
}

/** The pure-JavaScript cipher, for comparisons and for engines without WebAssembly SIMD. */
export function javascriptCipher(): ChunkCipher {
  return jsCipher;
}

/** The nonce of chunk `counter`: 11 bytes big-endian, then 1 on the last chunk. */
function chunkNonce(counter: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  let n = counter;
  for (let i = 10; i >= 0 && n > 0; i--) {
    nonce[i] = n % 256;
    n = Math.floor(n / 256);
  }
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * Collects incoming bytes into chunks of `size`, keeping the latest full one back until more
 * arrives: only the stream's end tells which chunk is the last.
 */
class Chunker {
  private readonly size: number;
  private readonly buffer: Uint8Array;
  private used = 0;

  constructor(size: number) {
    this.size = size;
    this.buffer = new Uint8Array(size);
  }

  /** Feed bytes; `full` is called with each full chunk that is known not to be the last. */
  push(bytes: Uint8Array, full: (chunk: Uint8Array) => void): void {
    let rest = bytes;
    while (rest.length > 0) {
      if (this.used === this.size) {
        full(this.buffer);
        this.used = 0;
      }
      const n = Math.min(this.size - this.used, rest.length);
      this.buffer.set(rest.subarray(0, n), this.used);
      this.used += n;
      rest = rest.subarray(n);
    }
  }

  /** What is left: the last chunk (possibly empty). */
  rest(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }
}

/**
 * Decrypts a whole payload held in memory (what `decryptPayload` does to a stream, without one:
 * a photo's meta is a few hundred bytes, and a stream's machinery cost more than its cipher).
 */
export function openPayload(key: Uint8Array, cipher: ChunkCipher, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const size = CHUNK + TAG;
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let at = 0;
  let counter = 0;
  // Only the end tells which chunk is the last: a payload of exactly one full chunk is all last.
  while (payload.length - at > size) {
    parts.push(cipher.open(key, chunkNonce(counter++, false), payload.subarray(at, at + size)));
    at += size;
  }
  const last = cipher.open(key, chunkNonce(counter, true), payload.subarray(at));
  if (last.length === 0 && counter > 0) throw new PayloadError("the payload ends with an empty chunk");
  if (parts.length === 0) return last;
  parts.push(last);
  return concatBytes(...parts);
}

/** Encrypts a payload with the STREAM key `key` (32 bytes), chunk by chunk. */
export function encryptPayload(key: Uint8Array, cipher: ChunkCipher): TransformStream<Uint8Array, Uint8Array> {
  const chunker = new Chunker(CHUNK);
  let counter = 0;
  return new TransformStream({
    transform(bytes, controller) {
      chunker.push(bytes, (chunk) => controller.enqueue(cipher.seal(key, chunkNonce(counter++, false), chunk)));
    },
    flush(controller) {
      controller.enqueue(cipher.seal(key, chunkNonce(counter, true), chunker.rest()));
    },
  });
}

/**
 * Decrypts a payload with the STREAM key `key`. A chunk that does not authenticate, a payload cut
 * short (no last chunk), or an empty last chunk after others, errors the stream with a
 * `PayloadError`; nothing after the failing chunk is passed on.
 */
export function decryptPayload(key: Uint8Array, cipher: ChunkCipher): TransformStream<Uint8Array, Uint8Array> {
  const chunker = new Chunker(CHUNK + TAG);
  let counter = 0;
  return new TransformStream({
    transform(bytes, controller) {
      chunker.push(bytes, (chunk) => controller.enqueue(cipher.open(key, chunkNonce(counter++, false), chunk)));
    },
    flush(controller) {
      const last = cipher.open(key, chunkNonce(counter, true), chunker.rest());
      if (last.length === 0 && counter > 0) throw new PayloadError("the payload ends with an empty chunk");
      controller.enqueue(last);
    },
  });
}
