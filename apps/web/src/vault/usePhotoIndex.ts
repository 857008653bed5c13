/**
 * The local photo index of the signed-in identity and family (`lib/photoIndexSync.ts`), kept for
 * the page's life (leaving Photos and coming back shows it at once), loaded from its sealed copy
 * in IndexedDB, walked again each time the Photos page opens and polled for changes (uploads,
 * deletions, from anywhere) every few seconds while it is open and visible.
 */
import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { ApiClient } from "../lib/api.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { testHooksAllowed } from "../lib/testHooks.ts";
import { openMetaInWorker, stopIndexWorker } from "../photoIndexWorker.ts";
import { PhotoIndexer, type IndexSnapshot } from "../lib/photoIndexSync.ts";
import { clearIndexes, indexPlace, indexScope, loadIndex, saveIndex, type IndexPlace } from "../lib/photoIndexStore.ts";
import type { Vault } from "../lib/vault.ts";
import { useVault } from "./context.ts";

/** How often the open Photos page asks the node what changed. */
export const INDEX_POLL_MS = 5000;

const indexers = new Map<string, PhotoIndexer>();

/** A macrotask: lets input, rendering and other tasks run between decryption slices. */
export function pause(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (scheduler?.yield) return scheduler.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function indexerFor(api: ApiClient, vault: Vault, identity: StoredIdentity): PhotoIndexer {
  const scope = indexScope(identity.id, vault.family);
  let indexer = indexers.get(scope);
  if (indexer) return indexer;
  let place: Promise<IndexPlace> | undefined;
  const placeNow = () => (place ??= indexPlace(identity.ageKey, identity.recipient, scope));
  indexer = new PhotoIndexer({
    page: (cursor, limit) => api.timeline({ cursor, limit }),
    changes: (since) => api.replicationChanges(since === undefined ? {} : { since }),
    album: async (id) => {
      const opened = await vault.openAlbum(id);
      return { title: opened.title, keys: opened.keyList };
    },
    // Off the main thread (a worker of its own); the page opens them itself if it cannot start.
    open: (item, keys) => openMetaInWorker(item, keys),
    load: async () => loadIndex(await placeNow()),
    save: async (entries, isCancelled) => saveIndex(await placeNow(), entries, pause, isCancelled),
    pause,
    now: () => performance.now(),
  });
  indexers.set(scope, indexer);
  // For the browser test (`?test-hooks` on a loopback host): the last walk's figures, nothing more.
  if (testHooksAllowed()) {
    const figures = indexer;
    (globalThis as { p2posPhotoIndex?: unknown }).p2posPhotoIndex = {
      get lastSync() {
        return figures.lastSync;
      },
    };
  }
  return indexer;
}

/**
 * Forget the indexes: in memory, and their sealed copies in this browser (the identity is
 * forgotten or signs out). Stopping an indexer cancels a save it has under way (`saveIndex` asks
 * right before writing), so no save still sealing writes the index back after the clearing.
 */
export async function forgetPhotoIndexes(): Promise<void> {
  for (const indexer of indexers.values()) indexer.stop();
  indexers.clear();
  stopIndexWorker();
  await clearIndexes().catch(() => undefined);
}

export function usePhotoIndex(): IndexSnapshot {
  const { api, vault, identity } = useVault();
  const [indexer] = useState(() => indexerFor(api, vault, identity));
  const snapshot = useSyncExternalStore(
    useCallback((onChange: () => void) => indexer.subscribe(onChange), [indexer]),
    () => indexer.snapshot,
  );

  useEffect(() => {
    void indexer.sync();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void indexer.poll();
    }, INDEX_POLL_MS);
    const onVisible = () => {
      if (document.visibilityState === "visible") void indexer.poll();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [indexer]);

  return snapshot;
}
