/**
 * `openPhotoMeta` (src/lib/photos.ts) in one long-lived Web Worker, for the local photo index:
 * indexing 10,000 photos is 10,000 decryptions (X25519, age's streams, ChaCha20-Poly1305), which
 * on the main thread come out as long tasks. The album keys are non-extractable `CryptoKey`s,
 * which the worker receives by structured clone (their secret stays inside the browser's crypto).
 * Where no worker can be started, the page opens them itself.
 */
import type { PhotoMeta } from "./lib/photos.ts";
import { openPhotoMeta } from "./lib/photos.ts";

export interface OpenMetaRequest {
  id: number;
  photo: { meta: string; size?: number };
  keys: CryptoKey[];
}

export type OpenMetaResponse = { id: number; meta: PhotoMeta } | { id: number; error: string };

let worker: Worker | undefined;
let failed = false;
let next = 0;
const waiting = new Map<number, { resolve: (meta: PhotoMeta) => void; reject: (error: Error) => void }>();

function indexWorker(): Worker | undefined {
  if (worker || failed) return worker;
  try {
    worker = new Worker(new URL("./photoIndex.worker.ts", import.meta.url), { type: "module", name: "photo-index" });
  } catch {
    failed = true;
    return undefined;
  }
  worker.onmessage = ({ data }: MessageEvent<OpenMetaResponse>) => {
    const call = waiting.get(data.id);
    if (!call) return;
    waiting.delete(data.id);
    if ("meta" in data) call.resolve(data.meta);
    else call.reject(new Error(data.error));
  };
  worker.onerror = (event) => {
    // The worker cannot run (a browser without module workers, say): the page opens the rest.
    failed = true;
    worker?.terminate();
    worker = undefined;
    for (const call of waiting.values()) call.reject(new Error(`the index worker failed: ${event.message}`));
    waiting.clear();
  };
  return worker;
}

/** A photo's meta opened with `keys`, in the index worker (or here when there is none). */
export function openMetaInWorker(photo: { meta: string; size: number }, keys: CryptoKey[]): Promise<PhotoMeta> {
  const target = indexWorker();
  if (!target) return openPhotoMeta(photo, keys);
  const id = next++;
  return new Promise<PhotoMeta>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    const request: OpenMetaRequest = { id, photo: { meta: photo.meta, size: photo.size }, keys };
    target.postMessage(request);
  });
}

/** Stop the worker (the index was forgotten). */
export function stopIndexWorker(): void {
  worker?.terminate();
  worker = undefined;
  for (const call of waiting.values()) call.reject(new Error("stopped"));
  waiting.clear();
}
