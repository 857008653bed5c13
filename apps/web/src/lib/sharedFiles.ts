/**
 * Files another app shared into the installed web app (the manifest's `share_target`). The share
 * target's service worker (`public/share-sw.js`, scope `/share` only) keeps each file in Cache
 * Storage under `/share/files/…` and sends the browser to `#/share`; the page takes them from
 * there, adds them to an album's upload queue (which encrypts them) and deletes them.
 */

export const SHARED_CACHE = "p2pos-shared";
const PREFIX = "/share/files/";

/** Cache Storage and service workers exist only in secure contexts (https, or a loopback address). */
function browserCaches(): CacheStorage | undefined {
  return typeof caches === "undefined" ? undefined : caches;
}

/** Registers the share target's worker where the browser has service workers. */
export function registerShareTarget(): void {
  if (typeof navigator === "undefined" || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/share-sw.js", { scope: "/share" }).catch((error: unknown) => {
    console.warn("the share target could not be registered", error);
  });
}

export interface SharedFile {
  key: string;
  file: File;
}

/** The files waiting to be put in an album, oldest first. */
export async function sharedFiles(storage: CacheStorage | undefined = browserCaches()): Promise<SharedFile[]> {
  if (storage === undefined) return [];
  const cache = await storage.open(SHARED_CACHE);
  const found: SharedFile[] = [];
  for (const request of await cache.keys()) {
    if (!new URL(request.url).pathname.startsWith(PREFIX)) continue;
    const response = await cache.match(request);
    if (!response) continue;
    const name = decodeURIComponent(response.headers.get("x-name") ?? "") || "shared file";
    const lastModified = Number(response.headers.get("x-last-modified")) || Date.now();
    const type = response.headers.get("content-type") ?? "";
    found.push({ key: request.url, file: new File([await response.blob()], name, { type, lastModified }) });
  }
  return found.sort((a, b) => a.key.localeCompare(b.key, "en", { numeric: true }));
}

/** Forgets shared files (after they were queued, or when the person declines them). */
export async function forgetSharedFiles(
  keys: readonly string[],
  storage: CacheStorage | undefined = browserCaches(),
): Promise<void> {
  if (storage === undefined) return;
  const cache = await storage.open(SHARED_CACHE);
  await Promise.all(keys.map((key) => cache.delete(key)));
}
