/**
 * Thumbnails for the grids: fetched and decrypted a few at a time, the most recently asked first,
 * and kept (decrypted) for when they come back into view.
 *
 * A chunk of 60 thumbnails coming into view used to start 60 fetches and 60 decryptions in one
 * task: 50–150 ms during which the page could not scroll. Here at most `PARALLEL` are fetched at once;
 * the others wait, and those whose cell left the screen before their turn (their signal aborted)
 * are never fetched. Newest first: while flinging, what is on screen now comes before what was
 * passed on the way; those asked for together (the rows of one render) in the order asked, top
 * first. Decryption itself happens off the page (lib/opener.ts).
 */
import type { ApiClient } from "../lib/api.ts";
import type { AgeIdentity } from "../lib/crypt.ts";
import { openDataUrl } from "../lib/opener.ts";

/**
 * Thumbnails fetched at once (a browser opens about 6 connections to one host). A fetch's turn
 * ends when its bytes are here, not when they are decrypted: the next fetches go out meanwhile.
 */
const PARALLEL = 6;
/** Decrypted thumbnails kept per session (a few screens' worth; ~15–40 KB of text each). */
const KEEP = 500;

interface Job {
  api: ApiClient;
  id: string;
  keys: readonly AgeIdentity[];
  signal: AbortSignal;
  /** The task it was asked for in (see `askedNow`). */
  batch: number;
  resolve: (url: string) => void;
  reject: (error: unknown) => void;
}

/** Waiting jobs in the order asked (so their batches ascend). */
const queue: Job[] = [];
let running = 0;
let batch = 0;
let batchOpen = false;

/** The number of the batch asked for in this task: a new one for each task that asks. */
function askedNow(): number {
  if (!batchOpen) {
    batchOpen = true;
    batch++;
    setTimeout(() => {
      batchOpen = false;
    }, 0);
  }
  return batch;
}

/** The next job: the newest batch's first. */
function next(): Job | undefined {
  const last = queue.at(-1);
  if (!last) return undefined;
  let first = queue.length - 1;
  while (first > 0 && queue[first - 1]?.batch === last.batch) first--;
  return queue.splice(first, 1)[0];
}
/** Per session (its ApiClient): a thumbnail's id is its ciphertext's hash, so the plaintext is fixed. */
const caches = new WeakMap<ApiClient, Map<string, string>>();

function cacheOf(api: ApiClient): Map<string, string> {
  let cache = caches.get(api);
  if (!cache) {
    cache = new Map();
    caches.set(api, cache);
  }
  return cache;
}

/** The decrypted thumbnail `id` (image/webp), from the cache or in its turn. Rejects when aborted. */
export function loadThumb(
  api: ApiClient,
  id: string,
  keys: readonly AgeIdentity[],
  signal: AbortSignal,
): Promise<string> {
  const cache = cacheOf(api);
  const kept = cache.get(id);
  if (kept) {
    // Most recently used last.
    cache.delete(id);
    cache.set(id, kept);
    return Promise.resolve(kept);
  }
  return new Promise((resolve, reject) => {
    queue.push({ api, id, keys, signal, batch: askedNow(), resolve, reject });
    pump();
  });
}

/** The thumbnail `id` if it is decrypted already (a cell coming back into view shows it at once). */
export function keptThumb(api: ApiClient, id: string | null | undefined): string | undefined {
  return id ? caches.get(api)?.get(id) : undefined;
}

function pump(): void {
  while (running < PARALLEL) {
    const job = next();
    if (!job) return;
    if (job.signal.aborted) {
      job.reject(job.signal.reason);
      continue;
    }
    running++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      running--;
      pump();
    };
    void run(job, release).finally(release);
  }
}

/** Fetch, then decrypt: the fetch's turn is given back once its bytes are here (`fetched`). */
async function run(job: Job, fetched: () => void): Promise<void> {
  const cache = cacheOf(job.api);
  try {
    let url = cache.get(job.id);
    if (url === undefined) {
      const encrypted = await job.api.getBlob(job.id, job.signal);
      fetched();
      url = await openDataUrl(encrypted, job.keys, "image/webp");
    }
    cache.set(job.id, url);
    while (cache.size > KEEP) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
    job.resolve(url);
  } catch (error) {
    job.reject(error);
  }
}
