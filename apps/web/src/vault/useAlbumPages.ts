/**
 * An album's photos (or the timeline's), loaded a page at a time as the grid scrolls, with where
 * each is stored kept fresh by polling the node's changes (`albumPages.ts` holds the logic). Works
 * the same over HTTP and over the data channel: both carry the same API requests.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, type ApiClient } from "../lib/api.ts";
import { PhotoPages, type PagesSnapshot, type PagesSource } from "./albumPages.ts";
import { Poller } from "./poller.ts";
import { REFRESH_MS } from "./Placements.tsx";

/** Photos per page: a first screen and some, small enough to arrive at once. */
export const PAGE_SIZE = 100;

export interface AlbumPages extends PagesSnapshot {
  /** Load the next page (the grid calls this when its end comes into view). */
  loadMore: () => void;
  /** Ask the node for changes now (after an upload from this page). */
  refresh: () => void;
  /** Why the last poll for changes failed; undefined once one succeeds. */
  pollError: unknown;
  /** The node refuses the listing now (403/404: access taken away, album gone). */
  refused: boolean;
}

function isRefusal(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 403 || error.status === 404);
}

/** The source of one album's pages, or (without `album`) of every album shared with you. */
export function pagesSource(api: ApiClient, album: string | undefined, limit = PAGE_SIZE): PagesSource {
  return {
    page: (cursor) =>
      album === undefined ? api.timeline({ cursor, limit }) : api.albumPhotos(album, { cursor, limit }),
    changes: (since, through) => api.replicationChanges({ album, since, through }),
  };
}

const EMPTY: PagesSnapshot = {
  photos: [],
  done: false,
  loading: true,
  error: undefined,
  here: undefined,
  membership: 0,
};

export function useAlbumPages(api: ApiClient, album: string | undefined): AlbumPages {
  const [snapshot, setSnapshot] = useState<PagesSnapshot>(EMPTY);
  const [pollError, setPollError] = useState<unknown>();
  const listing = useRef<PhotoPages>(undefined);
  const poller = useRef<Poller<void>>(undefined);

  useEffect(() => {
    // One listing per album (and node) and mount: StrictMode's second mount gets a fresh one.
    const pages = new PhotoPages(pagesSource(api, album));
    listing.current = pages;
    const unsubscribe = pages.subscribe(setSnapshot);
    void pages.loadMore();
    const polling = new Poller<void>({
      load: () => pages.poll(),
      intervalMs: REFRESH_MS,
      onValue: () => setPollError(undefined),
      onError: setPollError,
    });
    poller.current = polling;
    const onVisibility = () => polling.visibilityChanged();
    document.addEventListener("visibilitychange", onVisibility);
    // The listing starts with a cursor of now: the first poll has nothing to catch up on (and
    // would make the node compare its journal with every photo while the first page is read).
    polling.start(true);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      polling.stop();
      unsubscribe();
      pages.stop();
    };
  }, [api, album]);

  const loadMore = useCallback(() => void listing.current?.loadMore(), []);
  const refresh = useCallback(() => poller.current?.refresh(), []);
  const refused = isRefusal(pollError) || isRefusal(snapshot.error);
  return { ...snapshot, loadMore, refresh, pollError, refused };
}
