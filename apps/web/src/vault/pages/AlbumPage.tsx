/**
 * One album: the grid of decrypted thumbnails, loaded a page at a time as it scrolls (newest
 * first, the node's order), where each photo is stored (changes polled every 2 s,
 * `useAlbumPages`), selection and the album's actions, and the uploader (drop or pick many files).
 * Photos that arrive from another node appear by themselves.
 */
import { useEffect, useMemo, useState } from "react";
import type { Placement } from "../../lib/apiTypes.ts";
import { keptIn, toggled } from "../../lib/organise.ts";
import { UploadQueue, type UploadItem } from "../../lib/uploadQueue.ts";
import { describeError } from "../../errorMessages.ts";
import { prepareInWorker, uploadConcurrency } from "../../photoWorker.ts";
import { useVault, type VaultSession } from "../context.ts";
import { formatBytes } from "../format.ts";
import { useAsync } from "../useAsync.ts";
import { AlbumToolbar } from "../AlbumToolbar.tsx";
import { SelectionBar } from "../SelectionBar.tsx";
import { albumSummary, placementTally } from "../replicationView.ts";
import { useAlbumPages } from "../useAlbumPages.ts";
import { PagedGrid, openMetas, openedPhoto, type GridSelection } from "./PagedGrid.tsx";
import { PhotoViewer } from "./PhotoViewer.tsx";
import { DropZone, PageFileDrop } from "../../components/FileDrop.tsx";
import { useStoredToggle } from "../useStoredToggle.ts";

/** Upload queues outlive the page (open a photo while the rest uploads); one per album. */
const queues = new Map<string, UploadQueue>();

export function queueFor(session: VaultSession, album: string, onUploaded: () => void) {
  const key = `${session.identity.id}/${album}`;
  let queue = queues.get(key);
  if (!queue) {
    queue = new UploadQueue({
      api: session.api,
      context: () => session.vault.context(),
      // The album's current epoch when each file's turn comes: a revocation since brings a new key.
      target: () => session.vault.uploadTarget(album),
      prepare: prepareInWorker,
      concurrency: uploadConcurrency(navigator.hardwareConcurrency),
      onUploaded: () => listeners.get(key)?.(),
      describeError: (error) => describeError(error, "upload"),
    });
    queues.set(key, queue);
  }
  listeners.set(key, onUploaded);
  return queue;
}
const listeners = new Map<string, () => void>();

/** `photoId`: the photo open in the full-screen viewer over the album, if any. */
export function AlbumPage({ albumId, photoId }: { albumId: string; photoId?: string | undefined }) {
  const session = useVault();
  const { vault } = session;
  const pages = useAlbumPages(session.api, albumId);
  // The album's title, keys and count; opened again when photos appear or go away, or when the
  // node stops listing it (access taken away: opening it then says why).
  const refused = pages.refused;
  const [state, reload] = useAsync(() => vault.openAlbum(albumId), [vault, albumId, pages.membership, refused]);
  const [selecting, setSelecting] = useState(false);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [showNames, setShowNames] = useStoredToggle(SHOW_NAMES_KEY, false);
  const { photos, here } = pages;
  // A page's arrival adds to `photos` (up to 100,000 of them) in place: what depends on it depends
  // on its length too. The counts take in only the new page, and only what is on screen needs the
  // rest (the viewer's map, the selection).
  const loaded = photos.length;
  const [tally] = useState(placementTally);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `loaded`: the same array grew
  const counts = useMemo(() => tally(photos), [tally, photos, loaded]);
  const viewing = photoId !== undefined;
  const placements = useMemo(
    () => (viewing ? new Map(photos.map((p) => [p.id, p.nodes])) : new Map<string, Placement[]>()),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `loaded`: the same array grew
    [photos, loaded, viewing],
  );
  const chosen = useMemo(
    () =>
      selected.size === 0
        ? selected
        : keptIn(
            selected,
            photos.map((p) => p.id),
          ),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `loaded`: the same array grew
    [selected, photos, loaded],
  );
  const selection = useMemo<GridSelection | undefined>(
    () => (selecting ? { chosen, onToggle: (photo) => setSelected((current) => toggled(current, photo)) } : undefined),
    [selecting, chosen],
  );
  const changed = () => {
    reload();
    pages.refresh();
  };

  // The viewer's photo and its neighbours: their file names and dates, decrypted before it shows them.
  const keyList = state.status === "ready" ? state.value.keyList : undefined;
  const viewerIndex = photoId === undefined ? -1 : photos.findIndex((p) => p.id === photoId);
  const [metasOpened, setMetasOpened] = useState(0);
  useEffect(() => {
    if (!keyList || viewerIndex < 0) return;
    let live = true;
    const around = photos.slice(Math.max(0, viewerIndex - 1), viewerIndex + 2);
    void openMetas(around, keyList).then(() => {
      if (live) setMetasOpened((n) => n + 1);
    });
    return () => {
      live = false;
    };
  }, [keyList, viewerIndex, photos, loaded]);
  const opened = useMemo(
    () => (viewing ? photos.map(openedPhoto) : []),
    // `metasOpened`: more metas were decrypted since; `loaded`: the same array grew.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [photos, loaded, metasOpened, viewing],
  );

  if (state.status === "loading") return <p className="muted">Opening the album…</p>;
  if (state.status === "failed") {
    return (
      <section className="card notice" role="alert" data-testid="album-error">
        <h1>This album cannot be opened</h1>
        <p>{describeError(state.error, "album")}</p>
        <a href="#/albums">Back to albums</a>
      </section>
    );
  }
  const album = state.value;
  const stopSelecting = () => {
    setSelecting(false);
    setSelected(new Set());
  };
  const canUpload = vault.hasGrant(albumId, session.identity.id, album.detail.epoch);
  const total = pages.done ? photos.length : Math.max(album.detail.photos, photos.length);
  const empty = pages.done && photos.length === 0;
  return (
    <section className="card wide" data-testid="album-page" data-album-id={albumId}>
      <p>
        <a href="#/albums">← Albums</a>
      </p>
      <h1 data-testid="album-heading">{album.title ?? "(title cannot be opened)"}</h1>
      <p className="muted album-facts">
        <span data-testid="album-count">{total > 0 && `${total} ${total === 1 ? "item" : "items"}`}</span>
        {counts.length > 0 && (
          <span data-testid="placement-summary">
            {" · "}
            {albumSummary(counts)}
            {!pages.done && ` (of the ${photos.length} shown)`}
          </span>
        )}
        {(pages.pollError ?? pages.error) !== undefined && (
          <span className="stale" role="status" data-testid="placement-stale">
            {" · "}
            Where the photos are stored could not be refreshed: {describeError(pages.pollError ?? pages.error)}
          </span>
        )}
      </p>
      <AlbumToolbar
        album={album}
        selecting={selecting}
        onSelecting={(on) => (on ? setSelecting(true) : stopSelecting())}
        coverCandidate={chosen.size === 1 ? [...chosen][0] : undefined}
        onChanged={changed}
      />
      {selecting && (
        <SelectionBar
          album={albumId}
          albumTitle={album.title}
          // Read at each render: the grid decrypts names as chunks come near, after `opened` was made.
          selected={photos.filter((p) => chosen.has(p.id)).map(openedPhoto)}
          keys={album.keyList}
          holdsKey={album.keys.has(album.detail.epoch)}
          onClear={stopSelecting}
          onChanged={changed}
        />
      )}
      {canUpload && <Uploader queue={queueFor(session, albumId, pages.refresh)} />}
      {empty ? (
        <EmptyAlbum queue={canUpload ? queueFor(session, albumId, pages.refresh) : undefined} />
      ) : (
        <>
          <GridOptions showNames={showNames} onShowNames={setShowNames} />
          <PagedGrid
            album={albumId}
            photos={photos}
            keys={album.keyList}
            here={here}
            done={pages.done}
            loading={pages.loading}
            onMore={pages.loadMore}
            showNames={showNames}
            selection={selection}
          />
        </>
      )}
      {session.isAdmin && album.keys.has(album.detail.epoch) && (
        <ChangeKey album={albumId} epoch={album.detail.epoch} onChanged={reload} />
      )}
      {photoId !== undefined && (
        <PhotoViewer
          albumId={albumId}
          albumTitle={album.title}
          photos={opened}
          keys={album.keyList}
          photoId={photoId}
          placements={placements}
          here={here}
          hasMore={!pages.done}
          onLoadMore={pages.loadMore}
        />
      )}
    </section>
  );
}

/**
 * For admins holding the current key: start a new epoch. Taking someone's access away does this by
 * itself; this is for when it could not (another admin removed them without holding this key).
 */
function ChangeKey({ album, epoch, onChanged }: { album: string; epoch: number; onChanged: () => void }) {
  const { vault } = useVault();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const change = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await vault.rotate(album);
      onChanged();
    } catch (caught) {
      setError(describeError(caught, "album"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="album-key" data-testid="album-key" data-epoch={epoch}>
      <p className="muted">
        New photos here are encrypted with the album&apos;s key number {epoch + 1}. Changing the key gives a new one to
        everyone who has access now, and to no one else. Taking away someone&apos;s access does this by itself; when it
        could not, the node takes no new photos here until an admin who holds the key changes it.
      </p>
      <button type="button" className="small" data-testid="album-rotate" disabled={busy} onClick={() => void change()}>
        {busy ? "Changing the key…" : "Change the album key"}
      </button>
      {error && (
        <p className="form-error" role="alert" data-testid="album-rotate-error">
          {error}
        </p>
      )}
    </div>
  );
}

function Uploader({ queue }: { queue: UploadQueue }) {
  const [items, setItems] = useState<UploadItem[]>(queue.items);
  useEffect(() => queue.subscribe(setItems), [queue]);
  // Every queue change arrives as a new `items` snapshot, which re-renders and re-reads this.
  const overall = queue.overall;
  const active = items.filter(isActive);
  const failed = items.filter((i) => i.status === "failed");
  const done = items.filter((i) => i.status === "done");

  return (
    <div className="uploader">
      <DropZone
        label="Choose photos and videos"
        hint="Or drop them anywhere on this page. They are encrypted in this browser before they are uploaded."
        testId="upload-drop"
        inputTestId="upload-input"
        onFiles={(files) => queue.add(files)}
      />
      <PageFileDrop label="Drop to add them to this album" onFiles={(files) => queue.add(files)} />

      {items.length > 0 && (
        <div className="upload-status">
          <div className="upload-summary">
            <progress max={1} value={overall.fraction} data-testid="upload-overall" />
            <span data-testid="upload-summary">
              {done.length} of {items.filter((i) => i.status !== "cancelled").length} uploaded
              {failed.length > 0 && `, ${failed.length} failed`}
            </span>
            {active.length > 0 && (
              <button type="button" className="small" data-testid="upload-cancel-all" onClick={() => queue.cancelAll()}>
                Cancel all
              </button>
            )}
            {failed.length > 0 && (
              <button
                type="button"
                className="small"
                data-testid="upload-retry-failed"
                onClick={() => queue.retryFailed()}
              >
                Retry failed
              </button>
            )}
            {done.length > 0 && active.length === 0 && (
              <button type="button" className="small" data-testid="upload-clear" onClick={() => queue.clearDone()}>
                Clear finished
              </button>
            )}
          </div>
          <ul className="upload-list">
            {items.map((item) => (
              <li key={item.key} data-testid="upload-item" data-status={item.status} data-name={item.name}>
                <span className="upload-name">{item.name}</span>
                <span className="muted">{formatBytes(item.size)}</span>
                <progress max={1} value={item.progress} />
                <span className="upload-state">{statusLabel(item)}</span>
                {isActive(item) && (
                  <button
                    type="button"
                    className="small"
                    data-testid="upload-cancel"
                    onClick={() => queue.cancel(item.key)}
                  >
                    Cancel
                  </button>
                )}
                {(item.status === "failed" || item.status === "cancelled") && (
                  <button
                    type="button"
                    className="small"
                    data-testid="upload-retry"
                    onClick={() => queue.retry(item.key)}
                  >
                    Retry
                  </button>
                )}
                {item.error && (
                  <span className="form-error" role="alert">
                    {item.error}
                  </span>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/** No photo shown yet: say why, without "No photos yet" above uploads that are under way. */
function EmptyAlbum({ queue }: { queue: UploadQueue | undefined }) {
  const [items, setItems] = useState<UploadItem[]>(queue?.items ?? []);
  useEffect(() => queue?.subscribe(setItems), [queue]);
  const uploading = items.some((item) => isActive(item) || item.status === "done");
  return (
    <p className="muted empty-state" data-testid="album-empty" data-uploading={uploading ? "true" : "false"}>
      {uploading
        ? "Your photos appear here one by one as they are encrypted and stored."
        : queue
          ? "No photos yet. Choose some above, or drop them anywhere on this page."
          : "No photos yet."}
    </p>
  );
}

/** Above the grid: whether file names show under the photos (off by default, remembered here). */
function GridOptions({ showNames, onShowNames }: { showNames: boolean; onShowNames: (show: boolean) => void }) {
  return (
    <div className="grid-options">
      <label className="switch">
        <input
          type="checkbox"
          data-testid="show-file-names"
          checked={showNames}
          onChange={(event) => onShowNames(event.target.checked)}
        />
        Show file names
      </label>
    </div>
  );
}

const SHOW_NAMES_KEY = "p2pos.grid.showFileNames";

function isActive(item: UploadItem): boolean {
  return (
    item.status === "queued" || item.status === "encrypting" || item.status === "uploading" || item.status === "waiting"
  );
}

function statusLabel(item: UploadItem): string {
  switch (item.status) {
    case "queued":
      return "Waiting";
    case "encrypting":
      return `Encrypting ${Math.round(item.progress * 200)}%`;
    case "uploading":
      return `Uploading ${Math.round((item.progress - 0.5) * 200)}%`;
    case "waiting":
      return "Waiting for the album's new key";
    case "done":
      return "Done";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
  }
}
