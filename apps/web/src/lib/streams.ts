/**
 * Stream helpers.
 *
 * `new Response(stream).arrayBuffer()` is the usual one-liner to drain a stream, but Chromium
 * replaces the stream's own error with a generic `TypeError: Failed to fetch`, which would erase
 * the difference between "damaged file" and everything else. These helpers read with a reader and
 * let the stream's error through unchanged.
 */
import { concatBytes } from "./bytes.ts";

/** Read a stream to its end into one byte array; rejects with the stream's own error. */
export async function readAllBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return concatBytes(...chunks);
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
}

/** A stream of `bytes`, in pieces of at most `pieceSize` bytes (the whole array by default). */
export function bytesToStream(bytes: Uint8Array, pieceSize = bytes.length): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      const size = Math.max(1, pieceSize);
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}
