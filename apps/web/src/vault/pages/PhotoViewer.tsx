/**
 * One photo, full size and decrypted; previous/next (arrow keys); download of the original; where
 * it is stored (refreshed every 2 s). An original that has not reached this node yet is waited for.
 */
import { useEffect, useState } from "react";
import { displayKind, openBlob, openPhotos } from "../../lib/photos.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { formatBytes } from "../format.ts";
import { href, navigate } from "../router.ts";
import { useAsync } from "../useAsync.ts";
import { PlacementBadges } from "../Placements.tsx";
import { useAlbumPages } from "../useAlbumPages.ts";
import { storedHere } from "../replicationView.ts";

interface Props {
  albumId: string;
  photoId: string;
}

export function PhotoViewer({ albumId, photoId }: Props) {
  const { api, vault } = useVault();
  const [state] = useAsync(() => vault.openAlbum(albumId), [vault, albumId]);
  // The album's pages as the grid loads them: this photo's page, and the next one near the end.
  const pages = useAlbumPages(api, albumId);
  const index = pages.photos.findIndex((p) => p.id === photoId);
  const item = index >= 0 ? pages.photos[index] : undefined;
  const { loadMore, done, loading } = pages;
  const nearEnd = index < 0 || index >= pages.photos.length - 2;
  useEffect(() => {
    if (nearEnd && !done && !loading) loadMore();
  }, [nearEnd, done, loading, loadMore, pages.photos.length]);
  const keyList = state.status === "ready" ? state.value.keyList : undefined;
  const [metas] = useAsync(async () => {
    const around = [index - 1, index, index + 1].flatMap((i) => (pages.photos[i] ? [pages.photos[i]] : []));
    return keyList ? openPhotos(around, keyList) : [];
  }, [keyList, index, pages.photos]);
  const opened = metas.status === "ready" ? metas.value : [];
  const photo = item ? (opened.find((p) => p.view.id === item.id) ?? { view: item, meta: undefined }) : undefined;
  const previous = index > 0 ? pages.photos[index - 1] : undefined;
  const next = index >= 0 ? pages.photos[index + 1] : undefined;
  const placements = item?.nodes;
  const total = pages.done
    ? pages.photos.length
    : Math.max(pages.photos.length, state.status === "ready" ? state.value.detail.photos : 0);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
      if (event.key === "ArrowLeft" && previous) navigate({ page: "photo", album: albumId, photo: previous.id });
      else if (event.key === "ArrowRight" && next) navigate({ page: "photo", album: albumId, photo: next.id });
      else if (event.key === "Escape") navigate({ page: "album", album: albumId });
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [albumId, previous, next]);

  if (state.status === "loading" || (!item && !pages.done && pages.error === undefined)) {
    return <p className="muted">Opening…</p>;
  }
  if (state.status === "failed") {
    return (
      <section className="card notice" role="alert" data-testid="viewer-error">
        <h1>This photo cannot be opened</h1>
        <p>{describeError(state.error, "album")}</p>
      </section>
    );
  }
  if (!photo) {
    return (
      <section className="card notice" role="alert" data-testid="viewer-error">
        <h1>No such photo</h1>
        <p>
          It may have been deleted. <a href={href({ page: "album", album: albumId })}>Back to the album</a>
        </p>
      </section>
    );
  }
  const name = photo.meta?.name ?? "photo";
  return (
    <section className="card wide viewer" data-testid="photo-viewer" data-photo-id={photo.view.id} data-name={name}>
      <nav className="viewer-nav">
        <a href={href({ page: "album", album: albumId })} data-testid="viewer-back">
          ← {state.value.title ?? "Album"}
        </a>
        <span className="muted" data-testid="viewer-position">
          {index + 1} / {total}
        </span>
        {previous ? (
          <a href={href({ page: "photo", album: albumId, photo: previous.id })} data-testid="viewer-prev">
            ‹ Previous
          </a>
        ) : (
          <span className="muted">‹ Previous</span>
        )}
        {next ? (
          <a href={href({ page: "photo", album: albumId, photo: next.id })} data-testid="viewer-next">
            Next ›
          </a>
        ) : (
          <span className="muted">Next ›</span>
        )}
      </nav>
      <h1 className="viewer-title" data-testid="viewer-name">
        {name}
      </h1>
      {placements && (
        <div className="viewer-placements" data-testid="viewer-placements">
          <span className="muted">Stored on</span>
          <PlacementBadges placements={placements} detailed />
        </div>
      )}
      <Original
        key={photo.view.id}
        blob={photo.view.blob}
        meta={photo.meta}
        keys={state.value.keyList}
        arriving={storedHere(placements, pages.here) === false}
      />
    </section>
  );
}

function Original({
  blob,
  meta,
  keys,
  arriving,
}: {
  blob: string;
  meta: { name: string; type: string; size: number; lastModified: number } | undefined;
  keys: CryptoKey[];
  /** Its files are on another node and not here yet: wait for them. */
  arriving: boolean;
}) {
  const { api } = useVault();
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<string>();
  const [undisplayable, setUndisplayable] = useState(false);
  const type = meta?.type ?? "application/octet-stream";

  useEffect(() => {
    if (arriving) return;
    const controller = new AbortController();
    let created: string | undefined;
    openBlob(api, blob, keys, type, controller.signal).then(
      (plain) => {
        if (controller.signal.aborted) return;
        created = URL.createObjectURL(plain);
        setUrl(created);
        setError(undefined);
      },
      (caught: unknown) => {
        if (!controller.signal.aborted) setError(describeError(caught, "blob"));
      },
    );
    return () => {
      controller.abort();
      if (created) URL.revokeObjectURL(created);
    };
  }, [api, blob, keys, type, arriving]);

  const kind = displayKind(meta);
  const name = meta?.name ?? "photo";
  return (
    <div className="original">
      {error && !arriving && (
        <p className="form-error" role="alert" data-testid="viewer-failed">
          {error}
        </p>
      )}
      {!url && arriving && (
        <p className="muted" role="status" data-testid="viewer-arriving">
          This photo is still being copied to this node from another one. It opens as soon as it is here.
        </p>
      )}
      {!url && !error && !arriving && (
        <p className="muted" role="status" data-testid="viewer-loading">
          Decrypting{meta ? ` ${formatBytes(meta.size)}` : ""}…
        </p>
      )}
      {url && kind === "image" && !undisplayable && (
        <img src={url} alt={name} data-testid="viewer-image" onError={() => setUndisplayable(true)} />
      )}
      {url && kind === "video" && !undisplayable && (
        <video src={url} controls data-testid="viewer-video" onError={() => setUndisplayable(true)} />
      )}
      {url && (kind === "file" || undisplayable) && (
        <p className="placeholder large" data-testid="viewer-placeholder">
          This browser cannot show {type}. Download it to open it.
        </p>
      )}
      {url && (
        <p>
          <a className="button primary" href={url} download={name} data-testid="viewer-download">
            Download original
          </a>{" "}
          {meta && (
            <span className="muted">
              {formatBytes(meta.size)} · {type} · {new Date(meta.lastModified).toLocaleString()}
            </span>
          )}
        </p>
      )}
    </div>
  );
}
