/**
 * Blob ids: BLAKE3-256 of the stored bytes (the ciphertext), as lower-case hex.
 *
 * Content addressing lets any node check what it received without trusting the sender, so the id
 * is computed incrementally while bytes stream past instead of after buffering a whole photo.
 * BLAKE3 runs in WebAssembly: the `blake3` crate's SIMD code in our module (`p2posWasm.ts`), or
 * hash-wasm's where the engine has no WebAssembly SIMD; both many times the speed of pure
 * JavaScript, which decides how fast the browser can encrypt and upload (docs/BENCHMARKS.md). The
 * page's CSP allows them with `'wasm-unsafe-eval'`.
 */
import { createBLAKE3 } from "hash-wasm";
import { toHex } from "./bytes.ts";
import { DATA_AT, DATA_MAX, p2posWasm, type P2posWasm } from "./p2posWasm.ts";

/** What `BlobHasher` needs of a BLAKE3 implementation. */
interface Hashing {
  update(bytes: Uint8Array): void;
  digest(): string;
}

/** A hasher in our module: bytes go through its scratch buffer, a chunk at a time. */
class WasmHashing implements Hashing {
  readonly #exports: P2posWasm;
  readonly #base: number;
  readonly #id: number;

  constructor(exports: P2posWasm) {
    this.#exports = exports;
    this.#base = exports.scratch();
    this.#id = exports.hasher_new();
    // A hasher dropped without a digest (an upload abandoned halfway) frees its handle when collected.
    abandoned.register(this, { exports, id: this.#id }, this);
  }

  update(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += DATA_MAX) {
      const piece = bytes.subarray(at, at + DATA_MAX);
      new Uint8Array(this.#exports.memory.buffer).set(piece, this.#base + DATA_AT);
      if (this.#exports.hasher_update(this.#id, piece.length) !== 0) throw new Error("BLAKE3: this hasher is finished");
    }
  }

  digest(): string {
    abandoned.unregister(this);
    if (this.#exports.hasher_finish(this.#id) !== 32) throw new Error("BLAKE3: this hasher is finished");
    const start = this.#base + DATA_AT;
    return toHex(new Uint8Array(this.#exports.memory.buffer, start, 32));
  }
}

const abandoned = new FinalizationRegistry<{ exports: P2posWasm; id: number }>(({ exports, id }) =>
  exports.hasher_drop(id),
);

/** The blob id of bytes in memory. */
export async function blobId(bytes: Uint8Array): Promise<string> {
  return (await BlobHasher.create()).update(bytes).digest();
}

/** An incremental blob id: `await BlobHasher.create()`, `update` with each chunk, then `digest` once. */
export class BlobHasher {
  readonly #hash: Hashing;
  #size = 0;

  private constructor(hash: Hashing) {
    this.#hash = hash;
  }

  static async create(): Promise<BlobHasher> {
    const exports = await p2posWasm();
    if (exports) return new BlobHasher(new WasmHashing(exports));
    const hash = await createBLAKE3(256);
    hash.init();
    return new BlobHasher({ update: (bytes) => void hash.update(bytes), digest: () => hash.digest("hex") });
  }

  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    return this;
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.#size;
  }

  digest(): string {
    return this.#hash.digest();
  }
}

/** The blob id of a stream, read to its end. */
export async function blobIdOfStream(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hasher = await BlobHasher.create();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return hasher.digest();
      hasher.update(value);
    }
  } finally {
    reader.releaseLock();
  }
}
