/**
 * Photos: every photo of every album shared with you, newest taken first, grouped by month and
 * day, in justified rows (`timelineLayout.ts`), virtualised against the window (only the rows near
 * the screen exist, so 10,000 photos cost a few dozen elements), thumbnails decrypted as their row
 * comes near. A search box filters the same grid as you type, over the local index in memory (the
 * node learns nothing). A photo opens in the full-screen viewer over the timeline, stepping in the
 * order shown, across albums.
 */
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import { groupByMonthAndDay, prepareSearch, SearchIndex, type IndexEntry } from "../../lib/photoIndex.ts";
import type { OpenPhoto } from "../../lib/photos.ts";
import { describeError } from "../../errorMessages.ts";
import { previousRoute, replaceRoute, navigate, type Route } from "../router.ts";
import { pause, usePhotoIndex } from "../usePhotoIndex.ts";
import { useStoredToggle } from "../useStoredToggle.ts";
import { layoutTimeline, type TimelineItem } from "../timelineLayout.ts";
import { PhotoViewer } from "./PhotoViewer.tsx";
import { Thumb } from "./Thumb.tsx";

const SHOW_NAMES_KEY = "p2pos.timeline.showFileNames";
/** Typing pauses this long (ms) before the results change. */
const SEARCH_DEBOUNCE_MS = 120;
const NO_KEYS: CryptoKey[] = [];
const count = new Intl.NumberFormat("en");

export function TimelinePage({ photoId }: { photoId?: string | undefined }) {
  const index = usePhotoIndex();
  const [query, setQuery] = useState("");
  const [search, setSearch] = useState("");
  const [showNames, setShowNames] = useStoredToggle(SHOW_NAMES_KEY, false);
  useEffect(() => {
    const timer = setTimeout(() => setSearch(query), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  const searching = search.trim() !== "";
  // The search texts made ahead, in slices, once the photos are here (not on the first keystroke).
  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(() => void prepareSearch(index.entries, pause, () => cancelled), 500);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [index.entries]);
  // Built when a search starts (and again when the index changes meanwhile).
  const searchIndex = useMemo(
    () => (searching ? new SearchIndex(index.entries) : undefined),
    [index.entries, searching],
  );
  const shown = useMemo(
    () => (searchIndex ? searchIndex.search(search) : index.entries),
    [searchIndex, search, index.entries],
  );
  const months = useMemo(() => groupByMonthAndDay(shown), [shown]);

  // The viewer steps through what is shown, in that order.
  const opened = useMemo<OpenPhoto[]>(() => shown.map((e) => ({ view: e.item, meta: e.meta })), [shown]);
  const byId = useMemo(() => new Map(shown.map((e) => [e.item.id, e])), [shown]);
  const placements = useMemo(() => new Map(shown.map((e) => [e.item.id, e.item.nodes])), [shown]);
  const { keys } = index;
  const keysFor = useCallback((photo: OpenPhoto) => keys.get(photo.view.album) ?? NO_KEYS, [keys]);
  const albumTitleFor = useCallback((photo: OpenPhoto) => byId.get(photo.view.id)?.albumTitle, [byId]);
  const [openedFrom, setOpenedFrom] = useState<Route | undefined>();
  const [viewing, setViewing] = useState(false);
  if ((photoId !== undefined) !== viewing) {
    setViewing(photoId !== undefined);
    setOpenedFrom(previousRoute());
  }
  const closeViewer = () => {
    if (openedFrom?.page === "photos") history.back();
    else replaceRoute({ page: "photos" });
  };

  const { entries, loaded, synced, progress, error } = index;
  const indexing = progress !== undefined && progress.total > 0 && progress.done < progress.total;
  return (
    <section className="card wide timeline-page" data-testid="timeline-page" data-indexed={entries.length}>
      <div className="timeline-head">
        <h1>Photos</h1>
        <div className="timeline-tools">
          <input
            type="search"
            className="timeline-search"
            aria-label="Search photos"
            placeholder="Search: album, caption, file, camera, date…"
            value={query}
            onChange={(event) => setQuery(event.target.value)}
            data-testid="timeline-search"
          />
          <label className="switch">
            <input
              type="checkbox"
              data-testid="timeline-show-names"
              checked={showNames}
              onChange={(event) => setShowNames(event.target.checked)}
            />
            Show file names
          </label>
        </div>
      </div>
      <p className="muted timeline-status" role="status" data-testid="timeline-status" data-synced={synced}>
        {searching
          ? `${count.format(shown.length)} ${shown.length === 1 ? "photo" : "photos"}`
          : indexing
            ? `Indexing ${count.format(progress.done)} of ${count.format(progress.total)} photos…`
            : entries.length > 0
              ? `${count.format(entries.length)} ${entries.length === 1 ? "photo" : "photos"}`
              : ""}
      </p>
      {error !== undefined && (
        <p className="form-error" role="alert" data-testid="timeline-error">
          The photos could not be refreshed: {describeError(error)}
        </p>
      )}
      {entries.length === 0 ? (
        !loaded || !synced ? (
          <p className="muted empty-state" data-testid="timeline-loading">
            {indexing ? "Opening your photos…" : "Loading your photos…"}
          </p>
        ) : (
          <p className="muted empty-state" data-testid="timeline-empty">
            No photos yet. Photos you add to any album, and those of albums shared with you, appear here by date taken.{" "}
            <a href="#/albums">Go to the albums</a>.
          </p>
        )
      ) : searching && shown.length === 0 ? (
        <p className="muted empty-state" data-testid="timeline-no-results">
          No photo matches “{search.trim()}”.
        </p>
      ) : (
        <TimelineGrid months={months} keys={index.keys} showNames={showNames} />
      )}
      {photoId !== undefined && (
        <PhotoViewer
          albumId={byId.get(photoId)?.item.album ?? ""}
          albumTitle={byId.get(photoId)?.albumTitle}
          albumTitleFor={albumTitleFor}
          photos={opened}
          keys={NO_KEYS}
          keysFor={keysFor}
          photoId={photoId}
          placements={placements}
          here={index.here}
          hasMore={!synced && byId.get(photoId) === undefined}
          onNavigate={(photo) => replaceRoute({ page: "timeline-photo", photo })}
          onClose={closeViewer}
        />
      )}
    </section>
  );
}

interface GridProps {
  months: ReturnType<typeof groupByMonthAndDay>;
  keys: ReadonlyMap<string, CryptoKey[]>;
  showNames: boolean;
}

/** The virtualised grid: headers and rows are the virtualizer's items, laid out for the width. */
function TimelineGrid({ months, keys, showNames }: GridProps) {
  const list = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [offset, setOffset] = useState(0);
  useLayoutEffect(() => {
    const element = list.current;
    if (!element) return;
    const measure = () => {
      setWidth(element.clientWidth);
      setOffset(element.getBoundingClientRect().top + window.scrollY);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    // What is above the grid (the status line, an error) moves it down.
    if (element.parentElement) observer.observe(element.parentElement);
    return () => observer.disconnect();
  }, []);
  const items = useMemo(() => (width > 0 ? layoutTimeline(months, width) : []), [months, width]);
  const virtualizer = useWindowVirtualizer({
    count: items.length,
    estimateSize: (i) => items[i]?.height ?? 0,
    getItemKey: (i) => items[i]?.key ?? i,
    overscan: 6,
    scrollMargin: offset,
  });
  // New heights (a resize, a search): measure again.
  useEffect(() => virtualizer.measure(), [items, virtualizer]);

  const onClick = (event: MouseEvent<HTMLDivElement>) => {
    // A photo's link leads to its album; here a plain click opens it over the timeline instead.
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const target = event.target instanceof Element ? event.target : null;
    const cell = target?.closest("[data-photo-id]");
    const id = cell?.getAttribute("data-photo-id");
    if (!id || !target?.closest("a")) return;
    event.preventDefault();
    navigate({ page: "timeline-photo", photo: id });
  };

  const virtual = virtualizer.getVirtualItems();
  return (
    <div
      ref={list}
      className={showNames ? "timeline" : "timeline names-hidden"}
      data-testid="timeline"
      data-items={items.length}
      style={{ height: virtualizer.getTotalSize() }}
      onClick={onClick}
    >
      {virtual.map((v) => {
        const item = items[v.index];
        if (!item) return null;
        return (
          <div
            key={v.key}
            className="timeline-item"
            style={{ transform: `translateY(${v.start - virtualizer.options.scrollMargin}px)`, height: item.height }}
          >
            <Item item={item} keys={keys} showNames={showNames} />
          </div>
        );
      })}
    </div>
  );
}

/** A header or a row; drawn again only when it, the keys or the names toggle change (not on scroll). */
const Item = memo(function Item({
  item,
  keys,
  showNames,
}: {
  item: TimelineItem;
  keys: ReadonlyMap<string, CryptoKey[]>;
  showNames: boolean;
}) {
  switch (item.kind) {
    case "month":
      return (
        <h2 className="timeline-month" data-testid="timeline-month">
          {item.label}
        </h2>
      );
    case "day":
      return (
        <h3 className="timeline-day" data-testid="timeline-day" data-day={item.day}>
          {item.label}
        </h3>
      );
    case "row":
      return <Row item={item} keys={keys} showNames={showNames} />;
  }
});

/** How long a row must stay near the screen before its thumbnails are decrypted. */
const SETTLE_MS = 100;

/**
 * A row of photos. Its thumbnails are decrypted once it has stayed near the screen for
 * `SETTLE_MS`: rows a fast scroll (or the scroll bar) flies past cost no decryption at all.
 */
function Row({
  item,
  keys,
  showNames,
}: {
  item: Extract<TimelineItem, { kind: "row" }>;
  keys: ReadonlyMap<string, CryptoKey[]>;
  showNames: boolean;
}) {
  const [settled, setSettled] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(true), SETTLE_MS);
    return () => clearTimeout(timer);
  }, []);
  return (
    <ul
      className="timeline-row"
      style={{ gridTemplateColumns: item.photos.map((p) => `${p.width}px`).join(" "), height: item.rowHeight }}
    >
      {item.photos.map(({ entry }) => (
        <Cell key={entry.item.id} entry={entry} keys={settled ? keys : NO_ALBUM_KEYS} showNames={showNames} />
      ))}
    </ul>
  );
}

const NO_ALBUM_KEYS: ReadonlyMap<string, CryptoKey[]> = new Map();

function Cell({
  entry,
  keys,
  showNames,
}: {
  entry: IndexEntry;
  keys: ReadonlyMap<string, CryptoKey[]>;
  showNames: boolean;
}) {
  const albumKeys = keys.get(entry.item.album);
  const photo = useMemo<OpenPhoto>(() => ({ view: entry.item, meta: entry.meta }), [entry]);
  if (!albumKeys) {
    return (
      <li className="thumb" data-testid="photo-thumb" data-photo-id={entry.item.id} data-name={entry.meta.name}>
        <span className="placeholder" data-loading="true" aria-label={entry.meta.name} role="img">
          …
        </span>
      </li>
    );
  }
  return <Thumb album={entry.item.album} photo={photo} keys={albumKeys} showName={showNames} />;
}
