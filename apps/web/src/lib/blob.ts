/**
 * Blob ids: BLAKE3-256 of the stored bytes (the ciphertext), as lower-case hex.
 *
 * Content addressing lets any node check what it received without trusting the sender, so the id
 * is computed incrementally while bytes stream past instead of after buffering a whole photo.
 * BLAKE3 runs in WebAssembly (hash-wasm): about ten times the speed of pure JavaScript, which
 * decides how fast the browser can encrypt and upload (docs/BENCHMARKS.md). The page's CSP allows
 * it with `'wasm-unsafe-eval'`.
 */
import { createBLAKE3, type IHasher } from "hash-wasm";

/** The blob id of bytes in memory. */
export async function blobId(bytes: Uint8Array): Promise<string> {
  return (await BlobHasher.create()).update(bytes).digest();
}

/** An incremental blob id: `await BlobHasher.create()`, `update` with each chunk, then `digest` once. */
export class BlobHasher {
  readonly #hash: IHasher;
  #size = 0;

  private constructor(hash: IHasher) {
    this.#hash = hash;
  }

  static async create(): Promise<BlobHasher> {
    const hash = await createBLAKE3(256);
    hash.init();
    return new BlobHasher(hash);
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
    return this.#hash.digest("hex");
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
