/**
 * Thumbnails for the grids: fetched and decrypted a few at a time, the most recently asked first,
 * and kept (decrypted) for when they come back into view.
 *
 * A chunk of 60 thumbnails coming into view used to start 60 fetches and 60 decryptions in one
 * task: 50–150 ms during which the page could not scroll. Here at most `PARALLEL` are under way;
 * the others wait, and those whose cell left the screen before their turn (their signal aborted)
 * are never fetched. Newest first: while flinging, what is on screen now comes before what was
 * passed on the way. Decryption itself happens off the page (lib/opener.ts).
 */
import type { ApiClient } from "../lib/api.ts";
import type { AgeIdentity } from "../lib/crypt.ts";
import { openDataUrl } from "../lib/opener.ts";

/** Thumbnails fetched at once (a browser opens about 6 connections to one host). */
const PARALLEL = 6;
/** Decrypted thumbnails kept per session (a few screens' worth; ~15–40 KB of text each). */
const KEEP = 500;

interface Job {
  api: ApiClient;
  id: string;
  keys: readonly AgeIdentity[];
  signal: AbortSignal;
  resolve: (url: string) => void;
  reject: (error: unknown) => void;
}

const queue: Job[] = [];
let running = 0;
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
    queue.push({ api, id, keys, signal, resolve, reject });
    pump();
  });
}

/** The thumbnail `id` if it is decrypted already (a cell coming back into view shows it at once). */
export function keptThumb(api: ApiClient, id: string | null | undefined): string | undefined {
  return id ? caches.get(api)?.get(id) : undefined;
}

function pump(): void {
  while (running < PARALLEL) {
    const job = queue.pop();
    if (!job) return;
    if (job.signal.aborted) {
      job.reject(job.signal.reason);
      continue;
    }
    running++;
    void run(job).finally(() => {
      running--;
      pump();
    });
  }
}

async function run(job: Job): Promise<void> {
  const cache = cacheOf(job.api);
  try {
    const url =
      cache.get(job.id) ?? (await openDataUrl(await job.api.getBlob(job.id, job.signal), job.keys, "image/webp"));
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
