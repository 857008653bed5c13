/**
 * Blob ids: BLAKE3-256 of the stored bytes (the ciphertext), as lower-case hex.
 *
 * Content addressing lets any node check what it received without trusting the sender, so the id
 * is computed incrementally while bytes stream past instead of after buffering a whole photo.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { toHex } from "./bytes.ts";

/** The blob id of bytes in memory. */
export function blobId(bytes: Uint8Array): string {
  return toHex(blake3(bytes));
}

/** An incremental blob id: `update` with each chunk, then `digest` once. */
export class BlobHasher {
  readonly #hash = blake3.create();
  #size = 0;

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
    return toHex(this.#hash.digest());
  }
}

/** The blob id of a stream, read to its end. */
export async function blobIdOfStream(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hasher = new BlobHasher();
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
