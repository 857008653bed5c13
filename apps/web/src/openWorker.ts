/**
 * The app's opener (lib/opener.ts): photo metas and blobs decrypted in one long-lived Web Worker,
 * so a screenful of thumbnails and names (age: X25519, HKDF, ChaCha20-Poly1305 in JS) never blocks
 * the page while it scrolls. Keys cross as they are (a non-extractable `CryptoKey` can be posted
 * to a worker of the same origin; it stays non-extractable there). If the worker cannot start,
 * decrypting goes back to the page's thread.
 */
import type { AgeIdentity } from "./lib/crypt.ts";
import { openerHere, revive, setOpener, type FailedOpening, type Opened, type Opener } from "./lib/opener.ts";

/** What the worker is asked to decrypt. */
export type OpenTask =
  | { type: "metas"; metas: readonly string[]; keys: readonly AgeIdentity[] }
  | { type: "blob" | "dataUrl"; encrypted: Blob; keys: readonly AgeIdentity[]; mime: string };

export type OpenRequest = OpenTask & { id: number };

export type OpenResponse =
  | { id: number; type: "metas"; results: Opened<unknown>[] }
  | { id: number; type: "blob"; blob: Blob }
  | { id: number; type: "dataUrl"; url: string }
  | { id: number; type: "error"; error: FailedOpening };

/** Start the worker and decrypt there from now on. */
export function openInWorker(): void {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./open.worker.ts", import.meta.url), { type: "module", name: "open" });
  } catch {
    return;
  }
  const waiting = new Map<number, { resolve: (response: OpenResponse) => void; reject: (error: unknown) => void }>();
  let next = 0;
  let broken = false;
  worker.onmessage = ({ data }: MessageEvent<OpenResponse>) => {
    const entry = waiting.get(data.id);
    waiting.delete(data.id);
    if (!entry) return;
    if (data.type === "error") entry.reject(revive(data.error));
    else entry.resolve(data);
  };
  worker.onerror = (event) => {
    // The worker did not load (or died): what waits fails, and the page decrypts from now on.
    broken = true;
    setOpener(openerHere);
    const error = new Error(`the decryption worker failed: ${event.message}`);
    for (const entry of waiting.values()) entry.reject(error);
    waiting.clear();
  };
  const ask = (request: OpenTask): Promise<OpenResponse> =>
    new Promise((resolve, reject) => {
      if (broken) {
        reject(new Error("the decryption worker failed"));
        return;
      }
      const id = next++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  const opener: Opener = {
    async metas(metas, keys) {
      const answer = await ask({ type: "metas", metas, keys });
      if (answer.type !== "metas") throw new Error("the decryption worker answered out of turn");
      return answer.results;
    },
    async blob(encrypted, keys, mime) {
      const answer = await ask({ type: "blob", encrypted, keys, mime });
      if (answer.type !== "blob") throw new Error("the decryption worker answered out of turn");
      return answer.blob;
    },
    async dataUrl(encrypted, keys, mime) {
      const answer = await ask({ type: "dataUrl", encrypted, keys, mime });
      if (answer.type !== "dataUrl") throw new Error("the decryption worker answered out of turn");
      return answer.url;
    },
  };
  setOpener(opener);
}
