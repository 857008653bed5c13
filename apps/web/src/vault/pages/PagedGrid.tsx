/**
 * The photo grid of a paged listing: the loaded photos in chunks, of which only those near the
 * screen are drawn (the others keep their height as empty boxes, so 100,000 photos cost a few
 * thousand elements), a chunk's file names decrypted (in one batch, off the page) when it first
 * comes near, and a sentinel at the end that asks for the next page as it comes into view
 * (IntersectionObserver).
 */
import { memo, useEffect, useMemo, useRef, useState } from "react";
import type { PhotoItem } from "../../lib/apiTypes.ts";
import { openPhotoMeta, type OpenPhoto, type PhotoMeta } from "../../lib/photos.ts";
import { Thumb } from "./Thumb.tsx";

/** Photos per drawn chunk. */
const CHUNK = 60;
/** How far beyond the screen chunks are drawn and the next page is asked for. */
const NEAR = "1200px 0px";

/** While selecting: which photos are selected, and how to toggle one. */
export interface GridSelection {
  chosen: ReadonlySet<string>;
  onToggle: (photo: string) => void;
}

interface Props {
  album: string;
  photos: readonly PhotoItem[];
  keys: CryptoKey[];
  here: string | undefined;
  done: boolean;
  loading: boolean;
  onMore: () => void;
  /** Show the file names under the photos. */
  showNames: boolean;
  selection: GridSelection | undefined;
}

export function PagedGrid({ album, photos, keys, here, done, loading, onMore, showNames, selection }: Props) {
  const sentinel = useRef<HTMLDivElement>(null);
  const [atEnd, setAtEnd] = useState(false);
  useEffect(() => {
    const element = sentinel.current;
    if (!element) return;
    const observer = new IntersectionObserver((entries) => setAtEnd(entries.some((e) => e.isIntersecting)), {
      rootMargin: NEAR,
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  // Still in view after a page arrived (a tall screen, a short page): the next one.
  useEffect(() => {
    if (atEnd && !done && !loading) onMore();
  }, [atEnd, done, loading, onMore, photos.length]);

  const chunks = useChunks(photos);
  const near = useNearWatcher();
  return (
    <div
      className={showNames ? "paged-grid" : "paged-grid names-hidden"}
      data-testid="photo-grid"
      data-loaded={photos.length}
      data-done={done}
    >
      {chunks.map((chunk, i) => (
        // Keyed by place: a photo added at the top shifts the chunks' contents, not their state.
        <Chunk
          key={i}
          near={near}
          album={album}
          photos={chunk}
          keys={keys}
          here={here}
          showNames={showNames}
          selection={selection}
        />
      ))}
      <div ref={sentinel} className="grid-sentinel" data-testid="grid-more" aria-hidden="true" />
      {loading && (
        <p className="muted" role="status" data-testid="grid-loading">
          Loading more photos…
        </p>
      )}
    </div>
  );
}

/** File names etc., decrypted once per photo record (the key is the record's encrypted meta). */
const metas = new Map<string, PhotoMeta | undefined>();

/** A listed photo with its meta, if the grid (or `openMetas`) decrypted it already. */
export function openedPhoto(view: PhotoItem): OpenPhoto {
  return { view, meta: metas.get(view.meta) };
}

/** Decrypt the metas of `photos` not decrypted yet (the viewer's photo and its neighbours). */
export async function openMetas(photos: readonly PhotoItem[], keys: CryptoKey[]): Promise<void> {
  await Promise.all(
    photos
      .filter((p) => !metas.has(p.meta))
      .map(async (p) => metas.set(p.meta, await openPhotoMeta(p, keys).catch(() => undefined))),
  );
}

/**
 * One IntersectionObserver for every chunk of the grid (100,000 photos are 1,667 chunks: one
 * observer each made the browser's per-frame intersection work grow with the album).
 */
class NearWatcher {
  #observer: IntersectionObserver | undefined;
  readonly #callbacks = new Map<Element, (entry: IntersectionObserverEntry) => void>();

  watch(element: Element, callback: (entry: IntersectionObserverEntry) => void): () => void {
    this.#observer ??= new IntersectionObserver(
      (entries) => {
        for (const entry of entries) this.#callbacks.get(entry.target)?.(entry);
      },
      { rootMargin: NEAR },
    );
    this.#callbacks.set(element, callback);
    this.#observer.observe(element);
    return () => {
      this.#callbacks.delete(element);
      this.#observer?.unobserve(element);
    };
  }

  disconnect(): void {
    this.#observer?.disconnect();
    this.#observer = undefined;
    this.#callbacks.clear();
  }
}

function useNearWatcher(): NearWatcher {
  const [watcher] = useState(() => new NearWatcher());
  useEffect(() => () => watcher.disconnect(), [watcher]);
  return watcher;
}

/**
 * The photos in chunks of CHUNK, each chunk the same array as before while its photos are the
 * same: a page arriving at the end then leaves every other chunk's props equal, and React skips
 * them at a pointer comparison.
 */
function useChunks(photos: readonly PhotoItem[]): readonly (readonly PhotoItem[])[] {
  const [previous] = useState<{ chunks: readonly (readonly PhotoItem[])[] }>(() => ({ chunks: [] }));
  return useMemo(() => {
    const chunks: (readonly PhotoItem[])[] = [];
    for (let start = 0, c = 0; start < photos.length; start += CHUNK, c++) {
      const end = Math.min(photos.length, start + CHUNK);
      const before = previous.chunks[c];
      const same = before?.length === end - start && before.every((p, j) => p === photos[start + j]);
      chunks.push(same ? before : photos.slice(start, end));
    }
    previous.chunks = chunks;
    return chunks;
  }, [photos, previous]);
}

interface ChunkProps {
  near: NearWatcher;
  album: string;
  photos: readonly PhotoItem[];
  keys: CryptoKey[];
  here: string | undefined;
  showNames: boolean;
  selection: GridSelection | undefined;
}

const Chunk = memo(function Chunk({ near: watcher, album, photos, keys, here, showNames, selection }: ChunkProps) {
  const box = useRef<HTMLUListElement>(null);
  // Undefined while near the screen (drawn); else the height to keep while not drawn.
  const [away, setAway] = useState<number>();
  const near = away === undefined;
  const [, setOpened] = useState(0);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    return watcher.watch(element, (entry) => {
      // Keep the drawn height for when it is not drawn.
      const height = entry.boundingClientRect.height;
      setAway(entry.isIntersecting ? undefined : height > 0 ? height : estimateHeight(CHUNK));
    });
  }, [watcher]);

  const waiting = near && photos.some((p) => !metas.has(p.meta));
  useEffect(() => {
    if (!waiting) return;
    const state = { live: true };
    const missing = photos.filter((p) => !metas.has(p.meta));
    // One batch, decrypted off the page (lib/opener.ts).
    void Promise.all(
      missing.map(async (p) => metas.set(p.meta, await openPhotoMeta(p, keys).catch(() => undefined))),
    ).then(() => {
      if (state.live) setOpened((n) => n + 1);
    });
    return () => {
      state.live = false;
    };
  }, [waiting, photos, keys]);

  if (!near || waiting) {
    return (
      <ul
        ref={box}
        className="grid grid-chunk-away"
        style={{ height: away ?? estimateHeight(photos.length) }}
        aria-hidden="true"
      />
    );
  }
  return (
    <ul ref={box} className="grid">
      {photos.map((view) => (
        <Thumb
          key={view.id}
          album={album}
          photo={openedPhoto(view)}
          keys={keys}
          placements={view.nodes}
          here={here}
          showName={showNames}
          selection={
            selection
              ? { selected: selection.chosen.has(view.id), onToggle: () => selection.onToggle(view.id) }
              : undefined
          }
        />
      ))}
    </ul>
  );
}, sameChunk);

function sameChunk(a: ChunkProps, b: ChunkProps): boolean {
  return (
    a.near === b.near &&
    a.album === b.album &&
    a.keys === b.keys &&
    a.here === b.here &&
    a.showNames === b.showNames &&
    a.selection === b.selection &&
    (a.photos === b.photos || (a.photos.length === b.photos.length && a.photos.every((p, i) => p === b.photos[i])))
  );
}

/** Before a chunk was ever drawn: rows of 9rem tiles with their captions (about 13rem each). */
function estimateHeight(count: number): number {
  const perRow = Math.max(1, Math.floor((typeof window === "undefined" ? 1024 : window.innerWidth) / 160));
  return Math.ceil(count / perRow) * 208;
}
