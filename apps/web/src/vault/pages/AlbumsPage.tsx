/**
 * Albums shared with you, with their decrypted titles and covers (the chosen one, else the newest
 * photo's thumbnail), in the order you pick; admins create new ones.
 */
import { useState } from "react";
import { describeError } from "../../errorMessages.ts";
import { openMeta, type AlbumMeta } from "../../lib/albumKeys.ts";
import { ALBUM_ORDERS, coverOf, sortAlbums, type AlbumOrder } from "../../lib/organise.ts";
import { openPhotos } from "../../lib/photos.ts";
import type { OpenAlbum } from "../../lib/vault.ts";
import { useVault } from "../context.ts";
import { href, navigate } from "../router.ts";
import { useAsync } from "../useAsync.ts";
import { Thumb } from "./Thumb.tsx";

export function AlbumsPage() {
  const { api, vault, isAdmin } = useVault();
  const [order, setOrder] = useState<AlbumOrder>("name");
  const [state] = useAsync(async () => {
    const albums = await api.albums();
    return Promise.all(
      albums.map(async (view) => {
        const album = await vault.openAlbum(view.id);
        const meta = await openMeta<AlbumMeta>(album.detail.meta, album.keyList).catch(() => undefined);
        return {
          album,
          id: view.id,
          title: album.title,
          created_ms: meta?.created_ms,
          photos: album.detail.photos,
          chosenCover: meta?.cover,
        };
      }),
    );
  }, [api, vault]);

  return (
    <section className="card" data-testid="albums-page">
      <h1>Albums</h1>
      {isAdmin && <CreateAlbum onCreated={(id) => navigate({ page: "album", album: id })} />}
      {state.status === "loading" && <p className="muted">Opening albums…</p>}
      {state.status === "failed" && (
        <p className="form-error" role="alert">
          {describeError(state.error, "album")}
        </p>
      )}
      {state.status === "ready" && state.value.length === 0 && (
        <p className="muted" data-testid="albums-empty">
          {isAdmin ? "No albums yet. Create the first one above." : "No album is shared with you yet."}
        </p>
      )}
      {state.status === "ready" && state.value.length > 1 && (
        <p className="toolbar-row">
          <select
            aria-label="Order of the albums"
            data-testid="album-order"
            value={order}
            onChange={(event) => setOrder(event.target.value as AlbumOrder)}
          >
            {ALBUM_ORDERS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </p>
      )}
      {state.status === "ready" && state.value.length > 0 && (
        <ul className="album-list">
          {sortAlbums(state.value, order).map(({ album, chosenCover }) => (
            <li key={album.detail.id} data-testid="album-card" data-album-id={album.detail.id}>
              <a href={href({ page: "album", album: album.detail.id })}>
                <AlbumCover album={album} chosen={chosenCover} />
                <span className="album-title" data-testid="album-title">
                  {album.title ?? "(title cannot be opened)"}
                </span>
                <span className="muted">
                  {album.detail.photos} {album.detail.photos === 1 ? "photo" : "photos"}
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * The cover, chosen after the list shows (its photos' metas are opened to find the newest one), so
 * a large album does not hold the list back.
 */
function AlbumCover({ album, chosen }: { album: OpenAlbum; chosen: string | undefined }) {
  const { api } = useVault();
  const [cover] = useAsync(
    // From the newest page: the chosen cover when it is there, else the newest photo with a thumbnail.
    async () =>
      coverOf(
        await openPhotos((await api.albumPhotos(album.detail.id, { limit: COVER_PAGE })).photos, album.keyList),
        chosen,
      ),
    [api, album, chosen],
  );
  return (
    <span className="album-cover" data-testid="album-cover" aria-hidden="true">
      {cover.status === "ready" && cover.value && (
        <ul className="plain">
          <Thumb album={album.detail.id} photo={cover.value} keys={album.keyList} linked={false} />
        </ul>
      )}
    </span>
  );
}

function CreateAlbum({ onCreated }: { onCreated: (id: string) => void }) {
  const { vault } = useVault();
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onCreated(await vault.createAlbum(title.trim()));
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  };
  return (
    <form
      className="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <label htmlFor="album-title">New album</label>
      <input
        id="album-title"
        data-testid="album-title-input"
        value={title}
        maxLength={200}
        placeholder="Summer 2026"
        onChange={(event) => setTitle(event.target.value)}
      />
      <button type="submit" className="primary" data-testid="album-create" disabled={busy || title.trim() === ""}>
        {busy ? "Creating…" : "Create album"}
      </button>
      {error && (
        <p className="form-error" role="alert" data-testid="album-create-error">
          {error}
        </p>
      )}
    </form>
  );
}

/** Photos an album's cover is chosen from: its newest page. */
const COVER_PAGE = 100;
