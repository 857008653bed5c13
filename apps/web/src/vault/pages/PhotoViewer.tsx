/**
 * The full-screen viewer: a modal <dialog> over a dark backdrop, opened on top of the album (the
 * URL names the photo, so a reload reopens it and Back leaves it). Previous/next by buttons, arrow
 * keys and swipes; zoom and pan by wheel, pinch, double click or tap, drag and the zoom buttons;
 * an info panel ("i") with the date taken and camera from EXIF, size, pixels and where the photo is
 * stored; download of the original; a slideshow. The thumbnail shows at once, the original replaces
 * it once decrypted, and the neighbours are decrypted ahead into a small cache of object URLs.
 *
 * It takes the list of photos the page has loaded and, for paged lists, `hasMore`/`onLoadMore`:
 * stepping past the last loaded photo (or opening one not loaded yet) asks for more.
 */
import { useCallback, useEffect, useEffectEvent, useRef, useState, type Dispatch, type SetStateAction } from "react";
import type { Placement } from "../../lib/apiTypes.ts";
import { cameraName, formatTaken } from "../../lib/exif.ts";
import { displayKind, openBlob, type OpenPhoto } from "../../lib/photos.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { formatBytes } from "../format.ts";
import { PlacementBadges } from "../Placements.tsx";
import { storedHere } from "../replicationView.ts";
import { previousRoute, replaceRoute } from "../router.ts";
import { Icon } from "../viewer/icons.tsx";
import { preloadOrder, SLIDESHOW_INTERVALS, slideshowNext, step } from "../viewer/navigation.ts";
import { UrlCache } from "../viewer/urlCache.ts";
import {
  distance,
  doubleTapScale,
  FIT,
  fitSize,
  isDoubleTap,
  maxScale,
  midpoint,
  oneToOneScale,
  panBy,
  pinchScale,
  swipeAction,
  TAP_SLOP,
  wheelFactor,
  ZOOM_STEP,
  zoomTo,
  type Point,
  type Size,
  type Tap,
  type View,
} from "../viewer/zoom.ts";
import "../viewer/viewer.css";

/** Decrypted pictures kept: the photo shown and its neighbours (thumbnail and original each), plus slack. */
const CACHE_SIZE = 8;
/** Originals larger than this are not decrypted ahead (a neighbour that is a long video, say). */
const PRELOAD_MAX_BYTES = 40 * 1024 * 1024;

interface Props {
  albumId: string;
  albumTitle?: string | undefined;
  /** The photos loaded so far, in the album's order. */
  photos: readonly OpenPhoto[];
  /** The album's keys, to decrypt the blobs. */
  keys: CryptoKey[];
  /** Photos of several albums (the timeline): each photo's keys, in place of `keys`. */
  keysFor?: ((photo: OpenPhoto) => CryptoKey[]) | undefined;
  /** Photos of several albums: each photo's album title, in place of `albumTitle`. */
  albumTitleFor?: ((photo: OpenPhoto) => string | undefined) | undefined;
  photoId: string;
  /** Where each photo is stored (the album page's replication status), and which node this is. */
  placements: ReadonlyMap<string, readonly Placement[]>;
  here: string | undefined;
  /** More photos exist past the last one loaded. */
  hasMore?: boolean;
  onLoadMore?: () => void;
  /** Show another photo (default: replace the URL's photo, so Back leaves the viewer). */
  onNavigate?: (photoId: string) => void;
  /** Leave the viewer (default: back to the album). */
  onClose?: () => void;
}

export function PhotoViewer(props: Props) {
  const { albumId, photos, photoId, placements, here, hasMore = false, onLoadMore, keysFor } = props;
  const { api } = useVault();
  const dialog = useRef<HTMLDialogElement>(null);
  const [cache] = useState(() => new UrlCache({ capacity: CACHE_SIZE }));
  const [openedFrom] = useState(previousRoute);
  const [infoOpen, setInfoOpen] = useState(false);
  const [playing, setPlaying] = useState(false);
  const [interval, setIntervalSeconds] = useState<number>(5);
  const [loop, setLoop] = useState(false);
  const [view, setView] = useState<View>(FIT);
  const [geometry, setGeometry] = useState<Geometry>();
  const direction = useRef<1 | -1>(1);
  /** The photo the viewer is going to, before `photoId` says so. */
  const heading = useRef<string>(undefined);
  /** The photo whose "next" asked for more photos, until they come. */
  const nextAfterLoad = useRef<string>(undefined);

  const index = photos.findIndex((p) => p.view.id === photoId);
  const photo = photos[index];
  const keysOf = useCallback((p: OpenPhoto) => (keysFor ? keysFor(p) : props.keys), [keysFor, props.keys]);
  const keys = photo ? keysOf(photo) : props.keys;

  const close = useCallback(() => {
    if (props.onClose) props.onClose();
    // Opened from this album's grid: Back returns there (and leaves no viewer entry to come back to).
    else if (openedFrom?.page === "album" && openedFrom.album === albumId) history.back();
    else replaceRoute({ page: "album", album: albumId });
  }, [props, openedFrom, albumId]);

  /** Show `target`. Until the URL (and so `photoId`) catches up, further steps start from it. */
  const show = useCallback(
    (target: OpenPhoto, delta: 1 | -1) => {
      direction.current = delta;
      heading.current = target.view.id;
      if (props.onNavigate) props.onNavigate(target.view.id);
      else replaceRoute({ page: "photo", album: albumId, photo: target.view.id });
    },
    [props, albumId],
  );

  const go = useCallback(
    (delta: 1 | -1) => {
      // Keys pressed quickly: the second step starts where the first one is going.
      const pending = heading.current;
      const from = pending !== undefined ? photos.findIndex((p) => p.view.id === pending) : -1;
      const base = from >= 0 ? from : index;
      const target = step(base, delta, photos.length);
      if (target === undefined) {
        if (delta === 1 && hasMore && base >= 0) {
          // Step on once the next page of photos is here.
          nextAfterLoad.current = photos[base]?.view.id;
          onLoadMore?.();
        }
        return;
      }
      const next = photos[target];
      if (next) show(next, delta);
    },
    [index, photos, hasMore, onLoadMore, show],
  );

  // Arrived where the last step was going: steps start from `photoId` again.
  useEffect(() => {
    if (heading.current === photoId) heading.current = undefined;
  }, [photoId]);

  // A photo not loaded yet (a paged list): ask for more until it is, or there is no more.
  useEffect(() => {
    if (index < 0 && hasMore) onLoadMore?.();
  }, [index, hasMore, onLoadMore]);
  // "Next" on the last loaded photo asked for more: go on when they arrive.
  const stepOn = useEffectEvent(() => {
    if (nextAfterLoad.current === undefined || nextAfterLoad.current !== photo?.view.id) return;
    if (index + 1 < photos.length) {
      nextAfterLoad.current = undefined;
      go(1);
    } else if (!hasMore) nextAfterLoad.current = undefined;
  });
  useEffect(() => stepOn(), [photos.length, hasMore]);

  // The browser's own full screen (hiding its toolbars too), where it allows it.
  const [fullscreen, setFullscreen] = useState(false);
  useEffect(() => {
    const onChange = () => setFullscreen(document.fullscreenElement !== null);
    document.addEventListener("fullscreenchange", onChange);
    return () => {
      document.removeEventListener("fullscreenchange", onChange);
      if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
    };
  }, []);
  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
    else void dialog.current?.requestFullscreen().catch(() => undefined);
  };

  // Opened as a modal: the rest of the page is inert, focus stays inside, Escape comes as "cancel".
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  useEffect(() => () => cache.clear(), [cache]);

  // A new photo starts fitted.
  const [viewFor, setViewFor] = useState(photoId);
  if (viewFor !== photoId) {
    setViewFor(photoId);
    setView(FIT);
  }

  const zoomBy = useCallback(
    (factor: number) => {
      const g = geometry;
      if (!g) return;
      setView((v) => zoomTo(v, v.scale * factor, { x: 0, y: 0 }, g.fitted, g.stage, g.max));
    },
    [geometry],
  );
  const onGeometry = useCallback((next: Geometry) => {
    setGeometry((old) => (old && sameGeometry(old, next) ? old : next));
  }, []);

  // Keys anywhere while the viewer is open (focus may be on the page's body after the button that
  // had it went away, e.g. "Previous" on reaching the first photo).
  const onKeyDown = useEffectEvent((event: KeyboardEvent) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    if (target instanceof HTMLSelectElement || target instanceof HTMLInputElement) return;
    switch (event.key) {
      case "ArrowLeft":
        setPlaying(false);
        go(-1);
        break;
      case "ArrowRight":
        setPlaying(false);
        go(1);
        break;
      case "i":
      case "I":
        setInfoOpen((open) => !open);
        break;
      case "+":
      case "=":
        zoomBy(ZOOM_STEP);
        break;
      case "-":
        zoomBy(1 / ZOOM_STEP);
        break;
      case "0":
        setView(FIT);
        break;
      case "f":
      case "F":
        if (document.fullscreenEnabled) toggleFullscreen();
        break;
      default:
        return;
    }
    event.preventDefault();
  });
  useEffect(() => {
    const listener = (event: KeyboardEvent) => onKeyDown(event);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);
  // The focused control went away (no "Previous" on the first photo): focus the dialog instead.
  useEffect(() => {
    const element = dialog.current;
    if (element && (document.activeElement === document.body || !document.activeElement)) element.focus();
  });

  // The slideshow moves on `interval` seconds after a photo is shown (the album page re-rendering
  // meanwhile, as its replication status refreshes, does not restart the wait).
  const advance = useEffectEvent(() => {
    const next = slideshowNext(index, photos.length, { loop, hasMore });
    if ("go" in next) {
      const target = photos[next.go];
      if (target) show(target, 1);
    } else if ("loadMore" in next) onLoadMore?.();
    else setPlaying(false);
  });
  useEffect(() => {
    if (!playing || index < 0) return;
    const timer = setTimeout(advance, interval * 1000);
    return () => clearTimeout(timer);
  }, [playing, index, interval, photos.length]);

  // Decrypt the neighbours ahead; keep what is shown and what is next from being evicted.
  useEffect(() => {
    if (index < 0) return;
    const around = [index, ...preloadOrder(index, photos.length, direction.current)];
    const wanted: string[] = [];
    for (const i of around) {
      const neighbour = photos[i];
      if (!neighbour || storedHere(placements.get(neighbour.view.id), here) === false) continue;
      const kind = displayKind(neighbour.meta);
      const thumb = neighbour.view.thumb;
      if (thumb && kind !== "file") wanted.push(thumb);
      const big = (neighbour.meta?.size ?? neighbour.view.size) > PRELOAD_MAX_BYTES;
      if (kind === "image" && (i === index || !big)) wanted.push(neighbour.view.blob);
    }
    cache.keep(wanted);
    for (const i of around.slice(1)) {
      const neighbour = photos[i];
      if (!neighbour) continue;
      for (const blob of [neighbour.view.thumb, neighbour.view.blob]) {
        if (blob && wanted.includes(blob)) {
          const type = blob === neighbour.view.blob ? (neighbour.meta?.type ?? "") : "image/webp";
          const neighbourKeys = keysOf(neighbour);
          cache.get(blob, (signal) => openBlob(api, blob, neighbourKeys, type, signal)).catch(() => undefined);
        }
      }
    }
  }, [index, photos, placements, here, cache, api, keysOf]);

  const name = photo?.meta?.name ?? "photo";
  const photoPlacements = photo ? placements.get(photo.view.id) : undefined;
  const arriving = storedHere(photoPlacements, here) === false;

  return (
    <dialog
      ref={dialog}
      className={`viewer${infoOpen ? " with-info" : ""}`}
      aria-label={`${name}, photo ${index + 1} of ${photos.length}${hasMore ? "+" : ""}`}
      data-testid="photo-viewer"
      data-photo-id={photo?.view.id}
      data-name={name}
      onCancel={(event) => {
        event.preventDefault();
        close();
      }}
      tabIndex={-1}
    >
      <header className="viewer-toolbar">
        <button
          type="button"
          className="viewer-button"
          aria-label="Close"
          title="Close (Esc)"
          onClick={close}
          data-testid="viewer-back"
          autoFocus
        >
          <Icon name="close" />
        </button>
        <span className="viewer-position" data-testid="viewer-position">
          {index >= 0 ? `${index + 1} / ${photos.length}${hasMore ? "+" : ""}` : ""}
        </span>
        <span className="viewer-spacer" />
        {photo && displayKind(photo.meta) === "image" && !arriving && (
          <ZoomControls view={view} setView={setView} zoomBy={zoomBy} geometry={geometry} />
        )}
        <button
          type="button"
          className="viewer-button"
          aria-label={playing ? "Pause slideshow" : "Play slideshow"}
          title={playing ? "Pause slideshow" : "Play slideshow"}
          aria-pressed={playing}
          onClick={() => setPlaying((p) => !p)}
          data-testid="viewer-slideshow"
          disabled={photos.length < 2}
        >
          <Icon name={playing ? "pause" : "play"} />
        </button>
        {document.fullscreenEnabled && (
          <button
            type="button"
            className="viewer-button viewer-fullscreen"
            aria-label={fullscreen ? "Leave full screen" : "Full screen"}
            title={fullscreen ? "Leave full screen (f)" : "Full screen (f)"}
            aria-pressed={fullscreen}
            onClick={toggleFullscreen}
            data-testid="viewer-fullscreen"
          >
            <Icon name="fullscreen" />
          </button>
        )}
        <button
          type="button"
          className="viewer-button"
          aria-label="Info"
          title="Info (i)"
          aria-pressed={infoOpen}
          aria-controls="viewer-info"
          onClick={() => setInfoOpen((open) => !open)}
          data-testid="viewer-info-toggle"
        >
          <Icon name="info" />
        </button>
        {photo && <DownloadButton photo={photo} cache={cache} keys={keys} arriving={arriving} />}
      </header>

      {photo ? (
        <Stage
          key={photo.view.id}
          photo={photo}
          cache={cache}
          keys={keys}
          arriving={arriving}
          view={view}
          setView={setView}
          onGeometry={onGeometry}
          onSwipe={(action) => {
            setPlaying(false);
            if (action === "close") close();
            else go(action === "next" ? 1 : -1);
          }}
        />
      ) : (
        <div className="viewer-stage viewer-message" role="alert" data-testid="viewer-error">
          {index < 0 && hasMore ? (
            <p>Loading…</p>
          ) : (
            <p>
              This photo is not in the album any more: it may have been deleted.{" "}
              <button type="button" className="viewer-text-button" onClick={close}>
                Back to the album
              </button>
            </p>
          )}
        </div>
      )}

      {index > 0 && (
        <button
          type="button"
          className="viewer-button viewer-step viewer-step-previous"
          aria-label="Previous photo"
          title="Previous (←)"
          onClick={() => {
            setPlaying(false);
            go(-1);
          }}
          data-testid="viewer-prev"
        >
          <Icon name="previous" />
        </button>
      )}
      {index >= 0 && (index < photos.length - 1 || hasMore) && (
        <button
          type="button"
          className="viewer-button viewer-step viewer-step-next"
          aria-label="Next photo"
          title="Next (→)"
          onClick={() => {
            setPlaying(false);
            go(1);
          }}
          data-testid="viewer-next"
        >
          <Icon name="next" />
        </button>
      )}

      <footer className="viewer-caption">
        <span className="viewer-name" data-testid="viewer-name">
          {name}
        </span>
        {photoPlacements && (
          <div className="viewer-placements" data-testid="viewer-placements">
            <PlacementBadges placements={photoPlacements} />
          </div>
        )}
        {playing && (
          <div className="viewer-slideshow" data-testid="slideshow-controls">
            <label>
              Every{" "}
              <select
                value={interval}
                onChange={(event) => setIntervalSeconds(Number(event.target.value))}
                data-testid="slideshow-interval"
              >
                {SLIDESHOW_INTERVALS.map((seconds) => (
                  <option key={seconds} value={seconds}>
                    {seconds} s
                  </option>
                ))}
              </select>
            </label>
            <label>
              <input
                type="checkbox"
                checked={loop}
                onChange={(event) => setLoop(event.target.checked)}
                data-testid="slideshow-loop"
              />{" "}
              Loop
            </label>
          </div>
        )}
      </footer>

      {infoOpen && photo && (
        <InfoPanel
          photo={photo}
          albumTitle={props.albumTitleFor ? props.albumTitleFor(photo) : props.albumTitle}
          placements={photoPlacements}
          natural={geometry?.natural}
          onClose={() => setInfoOpen(false)}
        />
      )}
    </dialog>
  );
}

/** What the stage measured, for the zoom buttons and keys. */
interface Geometry {
  natural: Size | undefined;
  fitted: Size;
  stage: Size;
  max: number;
}

function sameGeometry(a: Geometry, b: Geometry): boolean {
  const same = (x: Size | undefined, y: Size | undefined) => x?.width === y?.width && x?.height === y?.height;
  return same(a.natural, b.natural) && same(a.fitted, b.fitted) && same(a.stage, b.stage) && a.max === b.max;
}

function ZoomControls({
  view,
  setView,
  zoomBy,
  geometry,
}: {
  view: View;
  setView: Dispatch<SetStateAction<View>>;
  zoomBy: (factor: number) => void;
  geometry: Geometry | undefined;
}) {
  const g = geometry;
  const max = g?.max ?? 1;
  // Shown as the share of the original's pixels, as photo apps do.
  const percent = g?.natural ? Math.round(view.scale * (100 / oneToOneScale(g.natural, g.fitted))) : undefined;
  return (
    <div className="viewer-zoom" role="group" aria-label="Zoom">
      <button
        type="button"
        className="viewer-button"
        aria-label="Zoom out"
        title="Zoom out (−)"
        onClick={() => zoomBy(1 / ZOOM_STEP)}
        disabled={view.scale <= 1}
        data-testid="viewer-zoom-out"
      >
        <Icon name="zoomOut" />
      </button>
      <button
        type="button"
        className="viewer-zoom-level"
        aria-label="Fit to screen"
        title="Fit to screen (0)"
        onClick={() => setView(FIT)}
        data-testid="viewer-zoom-level"
      >
        {percent !== undefined ? `${percent}%` : "Fit"}
      </button>
      <button
        type="button"
        className="viewer-button"
        aria-label="Zoom in"
        title="Zoom in (+)"
        onClick={() => zoomBy(ZOOM_STEP)}
        disabled={view.scale >= max}
        data-testid="viewer-zoom-in"
      >
        <Icon name="zoomIn" />
      </button>
    </div>
  );
}

/** The photo's blob decrypted through the cache: its URL once ready, or the error. */
interface Decrypted {
  url?: string | undefined;
  error?: string | undefined;
}

function useDecrypted(
  cache: UrlCache,
  blob: string | null | undefined,
  type: string,
  keys: CryptoKey[],
  skip: boolean,
): Decrypted {
  const { api } = useVault();
  const [loaded, setLoaded] = useState<Decrypted & { blob: string }>();
  useEffect(() => {
    if (!blob || skip) return;
    let live = true;
    cache
      .get(blob, (signal) => openBlob(api, blob, keys, type, signal))
      .then(
        (url) => {
          if (live) setLoaded({ blob, url });
        },
        (caught: unknown) => {
          if (live && !(caught instanceof DOMException && caught.name === "AbortError")) {
            setLoaded({ blob, error: describeError(caught, "blob") });
          }
        },
      );
    return () => {
      live = false;
    };
  }, [cache, api, blob, type, keys, skip]);
  if (!blob || skip) return {};
  if (loaded?.blob === blob) return loaded;
  const url = cache.peek(blob);
  return url ? { url } : {};
}

interface StageProps {
  photo: OpenPhoto;
  cache: UrlCache;
  keys: CryptoKey[];
  arriving: boolean;
  view: View;
  setView: Dispatch<SetStateAction<View>>;
  onGeometry: (geometry: Geometry) => void;
  onSwipe: (action: "next" | "previous" | "close") => void;
}

interface Gesture {
  pointers: Map<number, Point>;
  start: Point;
  startTime: number;
  last: Point;
  pinch: { distance: number; scale: number; view: View; mid: Point } | undefined;
  moved: boolean;
  swiping: boolean;
}

function Stage({ photo, cache, keys, arriving, view, setView, onGeometry, onSwipe }: StageProps) {
  const meta = photo.meta;
  const kind = displayKind(meta);
  const type = meta?.type ?? "application/octet-stream";
  const thumb = useDecrypted(cache, kind === "file" ? undefined : photo.view.thumb, "image/webp", keys, arriving);
  const original = useDecrypted(cache, kind === "file" ? undefined : photo.view.blob, type, keys, arriving);
  const [undisplayable, setUndisplayable] = useState(false);
  const [stageSize, setStageSize] = useState<Size>({ width: 0, height: 0 });
  const [loadedSize, setLoadedSize] = useState<{ src: string; size: Size }>();
  const [drag, setDrag] = useState<Point>({ x: 0, y: 0 });
  const [gesturing, setGesturing] = useState(false);
  const stage = useRef<HTMLDivElement>(null);
  const gesture = useRef<Gesture>(undefined);
  const lastTap = useRef<Tap>(undefined);
  const lastTouch = useRef(0);

  useEffect(() => {
    const element = stage.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setStageSize({ width: entry.contentRect.width, height: entry.contentRect.height });
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const src = original.url ?? thumb.url;
  const showsOriginal = src !== undefined && src === original.url;
  // The original's pixel size: from the meta, else from the decoded original; the thumbnail only
  // tells the proportions, so until then the picture fills the stage.
  const fromMeta = meta?.width && meta.height ? { width: meta.width, height: meta.height } : undefined;
  const decoded = loadedSize && loadedSize.src === original.url ? loadedSize.size : undefined;
  const proportions = loadedSize && loadedSize.src === src ? loadedSize.size : undefined;
  const natural = fromMeta ?? decoded;
  const fitted = fitSize(
    natural ??
      (proportions ? { width: proportions.width * 1e4, height: proportions.height * 1e4 } : { width: 0, height: 0 }),
    stageSize,
  );
  const max = maxScale(natural ?? fitted, fitted);
  useEffect(() => {
    onGeometry({ natural, fitted, stage: stageSize, max });
  });

  const zoomable = kind === "image" && !undisplayable && fitted.width > 0;
  const centred = (clientX: number, clientY: number): Point => {
    const rect = stage.current?.getBoundingClientRect();
    if (!rect) return { x: 0, y: 0 };
    return { x: clientX - rect.left - rect.width / 2, y: clientY - rect.top - rect.height / 2 };
  };

  // Wheel zoom needs a listener that may cancel the page's scroll (React's is passive).
  useEffect(() => {
    const element = stage.current;
    if (!element || !zoomable) return;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const at = centred(event.clientX, event.clientY);
      setView((v) => zoomTo(v, v.scale * wheelFactor(event.deltaY, event.deltaMode), at, fitted, stageSize, max));
    };
    element.addEventListener("wheel", onWheel, { passive: false });
    return () => element.removeEventListener("wheel", onWheel);
  });

  const toggleZoom = (at: Point) => {
    if (!zoomable) return;
    setView((v) => zoomTo(v, doubleTapScale(v, natural ?? fitted, fitted, max), at, fitted, stageSize, max));
  };

  const onPointerDown = (event: React.PointerEvent) => {
    if (event.button !== 0 || (event.target as Element).closest("video")) return;
    const point = { x: event.clientX, y: event.clientY };
    const g =
      gesture.current ??
      ({
        pointers: new Map<number, Point>(),
        start: point,
        startTime: event.timeStamp,
        last: point,
        pinch: undefined,
        moved: false,
        swiping: false,
      } satisfies Gesture);
    g.pointers.set(event.pointerId, point);
    gesture.current = g;
    event.currentTarget.setPointerCapture(event.pointerId);
    if (g.pointers.size === 2 && zoomable) {
      const [a, b] = [...g.pointers.values()] as [Point, Point];
      const mid = midpoint(a, b);
      g.pinch = { distance: distance(a, b), scale: view.scale, view, mid: centred(mid.x, mid.y) };
      g.swiping = false;
      setDrag({ x: 0, y: 0 });
    }
    setGesturing(true);
  };

  const onPointerMove = (event: React.PointerEvent) => {
    const g = gesture.current;
    if (!g?.pointers.has(event.pointerId)) return;
    const point = { x: event.clientX, y: event.clientY };
    g.pointers.set(event.pointerId, point);
    if (distance(point, g.start) > TAP_SLOP) g.moved = true;
    if (g.pinch && g.pointers.size >= 2) {
      const [a, b] = [...g.pointers.values()] as [Point, Point];
      const mid = centred(midpoint(a, b).x, midpoint(a, b).y);
      const scaled = zoomTo(
        g.pinch.view,
        pinchScale(g.pinch.scale, g.pinch.distance, distance(a, b)),
        g.pinch.mid,
        fitted,
        stageSize,
        max,
      );
      setView(panBy(scaled, { x: mid.x - g.pinch.mid.x, y: mid.y - g.pinch.mid.y }, fitted, stageSize, max));
    } else if (g.pointers.size === 1) {
      const delta = { x: point.x - g.last.x, y: point.y - g.last.y };
      if (view.scale > 1) setView((v) => panBy(v, delta, fitted, stageSize, max));
      else if (event.pointerType !== "mouse" && g.moved) {
        g.swiping = true;
        setDrag({ x: point.x - g.start.x, y: Math.max(0, point.y - g.start.y) });
      }
    }
    g.last = point;
  };

  const onPointerUp = (event: React.PointerEvent) => {
    const g = gesture.current;
    if (!g?.pointers.has(event.pointerId)) return;
    g.pointers.delete(event.pointerId);
    if (g.pointers.size > 0) {
      // One finger of a pinch lifted: carry on panning with the other from where it is.
      const [rest] = [...g.pointers.values()];
      if (rest) g.last = rest;
      g.pinch = undefined;
      return;
    }
    gesture.current = undefined;
    setGesturing(false);
    setDrag({ x: 0, y: 0 });
    if (event.type === "pointercancel") return;
    const point = { x: event.clientX, y: event.clientY };
    if (g.swiping) {
      const action = swipeAction({ x: point.x - g.start.x, y: point.y - g.start.y }, event.timeStamp - g.startTime);
      if (action) onSwipe(action);
      return;
    }
    if (event.pointerType !== "mouse" && !g.moved) {
      lastTouch.current = event.timeStamp;
      const tap = { at: point, time: event.timeStamp };
      if (isDoubleTap(lastTap.current, tap)) {
        lastTap.current = undefined;
        toggleZoom(centred(point.x, point.y));
      } else lastTap.current = tap;
    }
  };

  const name = meta?.name ?? "photo";
  const transform = `translate(-50%, -50%) translate(${view.x + drag.x}px, ${view.y + drag.y}px) scale(${view.scale})`;
  return (
    <div
      ref={stage}
      className={`viewer-stage${view.scale > 1 ? " zoomed" : ""}${gesturing ? " gesturing" : ""}`}
      data-testid="viewer-stage"
      data-scale={view.scale.toFixed(3)}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerCancel={onPointerUp}
      onDoubleClick={(event) => {
        // A touch double tap is handled above; browsers may send a dblclick for it too.
        if (event.timeStamp - lastTouch.current < 600) return;
        toggleZoom(centred(event.clientX, event.clientY));
      }}
    >
      {arriving && (
        <p className="viewer-message" role="status" data-testid="viewer-arriving">
          This photo is still being copied to this node from another one. It opens as soon as it is here.
        </p>
      )}
      {!arriving && original.error && !original.url && (
        <p className="viewer-message form-error" role="alert" data-testid="viewer-failed">
          {original.error}
        </p>
      )}
      {!arriving && kind !== "file" && !original.url && !original.error && (
        <p className="viewer-loading" role="status" data-testid="viewer-loading">
          Decrypting{meta ? ` ${formatBytes(meta.size)}` : ""}…
        </p>
      )}
      {kind === "image" && src && !undisplayable && (
        <img
          src={src}
          alt={name}
          draggable={false}
          className={showsOriginal ? "original" : "preview"}
          data-testid="viewer-image"
          data-quality={showsOriginal ? "original" : "thumbnail"}
          style={
            fitted.width > 0 ? { width: fitted.width, height: fitted.height, transform } : { visibility: "hidden" }
          }
          onLoad={(event) => {
            const img = event.currentTarget;
            setLoadedSize({ src: img.src, size: { width: img.naturalWidth, height: img.naturalHeight } });
          }}
          onError={() => {
            if (showsOriginal) setUndisplayable(true);
          }}
        />
      )}
      {kind === "video" && !undisplayable && (original.url ?? thumb.url) && (
        <video
          src={original.url}
          poster={thumb.url}
          controls
          playsInline
          data-testid="viewer-video"
          onError={() => {
            if (original.url) setUndisplayable(true);
          }}
        />
      )}
      {!arriving && (kind === "file" || undisplayable) && (
        <p className="viewer-message viewer-placeholder" data-testid="viewer-placeholder">
          This browser cannot show {type}. Download the original to open it.
        </p>
      )}
    </div>
  );
}

/** Always in the toolbar: decrypts the original if it is not yet, then saves it under its name. */
function DownloadButton({
  photo,
  cache,
  keys,
  arriving,
}: {
  photo: OpenPhoto;
  cache: UrlCache;
  keys: CryptoKey[];
  arriving: boolean;
}) {
  const { api } = useVault();
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<{ photo: string; message: string }>();
  const anchor = useRef<HTMLAnchorElement>(null);
  const name = photo.meta?.name ?? "photo";
  const blob = photo.view.blob;

  const download = async () => {
    setBusy(blob);
    setError(undefined);
    try {
      const url = await cache.get(blob, (signal) =>
        openBlob(api, blob, keys, photo.meta?.type ?? "application/octet-stream", signal),
      );
      const link = anchor.current;
      if (link) {
        link.href = url;
        link.download = name;
        link.click();
      }
    } catch (caught) {
      setError({ photo: blob, message: describeError(caught, "blob") });
    } finally {
      setBusy(undefined);
    }
  };

  const working = busy === blob;
  return (
    <>
      <button
        type="button"
        className="viewer-button viewer-download"
        aria-label={`Download original (${name})`}
        title={arriving ? "Not on this node yet" : "Download original"}
        disabled={arriving || working}
        onClick={() => void download()}
        data-testid="viewer-download"
      >
        <Icon name="download" />
        <span className="viewer-download-label">{working ? "Decrypting…" : "Download"}</span>
      </button>
      {/* The link the download goes through; in the dialog, since the page behind it is inert. */}
      <a ref={anchor} hidden aria-hidden="true" tabIndex={-1} />
      {error?.photo === blob && (
        <p className="viewer-toast form-error" role="alert" data-testid="viewer-download-error">
          {error.message}
        </p>
      )}
    </>
  );
}

function InfoPanel({
  photo,
  albumTitle,
  placements,
  natural,
  onClose,
}: {
  photo: OpenPhoto;
  albumTitle: string | undefined;
  placements: readonly Placement[] | undefined;
  natural: Size | undefined;
  onClose: () => void;
}) {
  const meta = photo.meta;
  const taken = meta?.taken ? formatTaken(meta.taken) : undefined;
  const camera = cameraName(meta?.make, meta?.model);
  const width = meta?.width ?? natural?.width;
  const height = meta?.height ?? natural?.height;
  return (
    <aside className="viewer-info" id="viewer-info" aria-label="Info" data-testid="viewer-info">
      <div className="viewer-info-head">
        <h2>Info</h2>
        <button
          type="button"
          className="viewer-button"
          aria-label="Close info"
          title="Close info (i)"
          onClick={onClose}
        >
          <Icon name="close" />
        </button>
      </div>
      {!meta ? (
        <p className="muted">This photo&apos;s details cannot be opened with your keys.</p>
      ) : (
        <dl>
          <dt>Taken</dt>
          <dd data-testid="info-taken">{taken ?? <span className="muted">Not recorded in the file</span>}</dd>
          {camera && (
            <>
              <dt>Camera</dt>
              <dd data-testid="info-camera">{camera}</dd>
            </>
          )}
          <dt>File</dt>
          <dd data-testid="info-name" className="viewer-info-name">
            {meta.name}
          </dd>
          <dt>Size</dt>
          <dd data-testid="info-size">
            {formatBytes(meta.size)}
            {width && height ? (
              <span data-testid="info-dimensions">
                {" · "}
                {width} × {height} px
                {width * height >= 100_000 ? ` (${((width * height) / 1e6).toFixed(1)} MP)` : ""}
              </span>
            ) : null}
          </dd>
          <dt>Type</dt>
          <dd>{meta.type}</dd>
          {meta.lastModified > 0 && (
            <>
              <dt>File date</dt>
              <dd data-testid="info-file-date">{new Date(meta.lastModified).toLocaleString()}</dd>
            </>
          )}
          {meta.caption && (
            <>
              <dt>Caption</dt>
              <dd>{meta.caption}</dd>
            </>
          )}
          {albumTitle && (
            <>
              <dt>Album</dt>
              <dd>{albumTitle}</dd>
            </>
          )}
        </dl>
      )}
      <h3>Stored on</h3>
      {placements ? (
        <div data-testid="info-placements">
          <PlacementBadges placements={placements} detailed />
        </div>
      ) : (
        <p className="muted">Checking where it is stored…</p>
      )}
    </aside>
  );
}
