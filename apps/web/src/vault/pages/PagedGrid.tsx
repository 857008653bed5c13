/**
 * The photo grid of a paged listing, virtualised against the window: the loaded photos in rows of
 * as many columns as the grid's width holds (as the CSS grid did), of which only the rows near the
 * screen exist as elements (`@tanstack/react-virtual`; the grid's height is the rows' total, so
 * 100,000 photos cost a few dozen elements, not a box per chunk), a row's file names decrypted (in
 * one batch, off the page) when it first comes near, and the next page asked for once the last row
 * is among those drawn.
 */
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useLayoutEffect, useRef, useState } from "react";
import type { PhotoItem } from "../../lib/apiTypes.ts";
import { openPhotoMeta, type OpenPhoto, type PhotoMeta } from "../../lib/photos.ts";
import { gridRows } from "../gridRows.ts";
import { Thumb } from "./Thumb.tsx";

/**
 * Rows drawn beyond the screen, above and below (about 1,200 px at 1280 px wide): the next page is
 * asked for once the last row is among them.
 */
const OVERSCAN = 6;

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
  const list = useRef<HTMLDivElement>(null);
  const [box, setBox] = useState({ width: 0, top: 0, rem: 16 });
  useLayoutEffect(() => {
    const element = list.current;
    if (!element) return;
    const measure = () => {
      const width = element.clientWidth;
      const top = element.getBoundingClientRect().top + window.scrollY;
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      setBox((b) => (b.width === width && b.top === top && b.rem === rem ? b : { width, top, rem }));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    // What is above the grid (the uploads, the selection bar) moves it down.
    if (element.parentElement?.parentElement) observer.observe(element.parentElement.parentElement);
    return () => observer.disconnect();
  }, []);

  const { columns, estimate } = gridRows(box.width, box.rem, showNames);
  const rows = box.width > 0 ? Math.ceil(photos.length / columns) : 0;
  const virtualizer = useWindowVirtualizer({
    count: rows,
    estimateSize: () => estimate,
    overscan: OVERSCAN,
    scrollMargin: box.top,
  });
  // Other columns or names shown: every row's height changes.
  useEffect(() => virtualizer.measure(), [columns, estimate, virtualizer]);

  const virtual = virtualizer.getVirtualItems();
  // The last row drawn (or no row at all): the next page, and again after it came while still so.
  const atEnd = box.width > 0 && (rows === 0 || (virtual.at(-1)?.index ?? -1) >= rows - 1);
  useEffect(() => {
    if (atEnd && !done && !loading) onMore();
  }, [atEnd, done, loading, onMore, photos.length]);

  return (
    <div
      className={showNames ? "paged-grid" : "paged-grid names-hidden"}
      data-testid="photo-grid"
      data-loaded={photos.length}
      data-done={done}
    >
      <div ref={list} className="paged-grid-rows" style={{ height: virtualizer.getTotalSize() }}>
        {virtual.map((v) => (
          <Row
            key={v.index}
            index={v.index}
            measure={virtualizer.measureElement}
            top={v.start - virtualizer.options.scrollMargin}
            height={v.size}
            columns={columns}
            album={album}
            photos={photos.slice(v.index * columns, (v.index + 1) * columns)}
            keys={keys}
            here={here}
            showNames={showNames}
            selection={selection}
          />
        ))}
      </div>
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

interface RowProps {
  index: number;
  measure: (element: Element | null) => void;
  top: number;
  /** Its height as known to the virtualizer: kept while its names are being decrypted. */
  height: number;
  columns: number;
  album: string;
  photos: readonly PhotoItem[];
  keys: CryptoKey[];
  here: string | undefined;
  showNames: boolean;
  selection: GridSelection | undefined;
}

/** One row of the grid; drawn again only when its photos or what they show change (not on scroll). */
const Row = memo(function Row({
  index,
  measure,
  top,
  height,
  columns,
  album,
  photos,
  keys,
  here,
  showNames,
  selection,
}: RowProps) {
  const [, setOpened] = useState(0);
  const waiting = photos.some((p) => !metas.has(p.meta));
  useEffect(() => {
    if (!waiting) return;
    const state = { live: true };
    const missing = photos.filter((p) => !metas.has(p.meta));
    // One batch with the other rows' of this task, decrypted off the page (lib/opener.ts).
    void Promise.all(
      missing.map(async (p) => metas.set(p.meta, await openPhotoMeta(p, keys).catch(() => undefined))),
    ).then(() => {
      if (state.live) setOpened((n) => n + 1);
    });
    return () => {
      state.live = false;
    };
  }, [waiting, photos, keys]);

  const style = { transform: `translateY(${top}px)`, gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` };
  if (waiting) {
    // Not measured while empty: it keeps the height it is known (or guessed) to have.
    return <ul className="grid grid-row" data-index={index} style={{ ...style, height }} aria-hidden="true" />;
  }
  return (
    <ul ref={measure} className="grid grid-row" data-index={index} style={style}>
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
}, sameRow);

function sameRow(a: RowProps, b: RowProps): boolean {
  return (
    a.index === b.index &&
    a.measure === b.measure &&
    a.top === b.top &&
    a.height === b.height &&
    a.columns === b.columns &&
    a.album === b.album &&
    a.keys === b.keys &&
    a.here === b.here &&
    a.showNames === b.showNames &&
    a.selection === b.selection &&
    a.photos.length === b.photos.length &&
    a.photos.every((p, i) => p === b.photos[i])
  );
}
