/**
 * The trash: deleted photos of albums shared with you and deleted albums, each with the days left
 * before the nodes release its files. Restore is offered to whoever may do it (the node checks
 * again): for a photo its author (holding the album's key) or an admin, for an album an admin.
 */
import { useState } from "react";
import type { TrashedAlbum, TrashedPhoto } from "../../lib/apiTypes.ts";
import { openMeta, type AlbumMeta } from "../../lib/albumKeys.ts";
import { daysLeft, mayChangeAlbums, mayEditPhoto, openKeys, setPhotoDeleted, writeAlbum } from "../../lib/organise.ts";
import { openPhotoMeta, type OpenPhoto } from "../../lib/photos.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { useAsync } from "../useAsync.ts";
import { Thumb } from "./Thumb.tsx";

interface OpenTrashedPhoto {
  trashed: TrashedPhoto;
  photo: OpenPhoto;
  keys: CryptoKey[];
  albumTitle: string | undefined;
}

interface OpenTrashedAlbum {
  trashed: TrashedAlbum;
  title: string | undefined;
}

export function TrashPage() {
  const session = useVault();
  const { api, vault, identity, isAdmin } = session;
  const [state, reload] = useAsync(async () => {
    const trash = await api.trash();
    // Each album's keys once, for its photos' thumbnails, metas and title.
    const albums = new Map<string, { keys: CryptoKey[]; title: string | undefined }>();
    for (const id of new Set(trash.photos.map((p) => p.album))) {
      try {
        const open = await vault.openAlbum(id);
        albums.set(id, { keys: open.keyList, title: open.title });
      } catch {
        albums.set(id, { keys: [], title: undefined });
      }
    }
    const photos: OpenTrashedPhoto[] = await Promise.all(
      trash.photos.map(async (trashed) => {
        const album = albums.get(trashed.album) ?? { keys: [], title: undefined };
        const meta = await openPhotoMeta(trashed, album.keys).catch(() => undefined);
        return { trashed, photo: { view: trashed, meta }, keys: album.keys, albumTitle: album.title };
      }),
    );
    const deletedAlbums: OpenTrashedAlbum[] = await Promise.all(
      trash.albums.map(async (trashed) => {
        const keys = await openKeys(trashed.keys, vault.keys.ageKey);
        const title = await openMeta<AlbumMeta>(trashed.meta, keys).then(
          (m) => m.title,
          () => undefined,
        );
        return { trashed, title };
      }),
    );
    return { photos, albums: deletedAlbums, now: Date.now() };
  }, [api, vault, identity]);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const actor = { id: identity.id, isAdmin };

  const run = async (key: string, action: () => Promise<unknown>) => {
    setBusy(key);
    setError(undefined);
    try {
      await action();
      reload();
    } catch (caught) {
      setError(describeError(caught, "album"));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section className="card wide" data-testid="trash-page">
      <h1>Trash</h1>
      <p className="muted">
        Deleted photos and albums stay here for 30 days and can be restored. After that every node of the family deletes
        their files for good.
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="trash-error">
          {error}
        </p>
      )}
      {state.status === "loading" && <p className="muted">Opening the trash…</p>}
      {state.status === "failed" && (
        <p className="form-error" role="alert">
          {describeError(state.error)}
        </p>
      )}
      {state.status === "ready" && state.value.photos.length === 0 && state.value.albums.length === 0 && (
        <p className="muted" data-testid="trash-empty">
          The trash is empty.
        </p>
      )}
      {state.status === "ready" && state.value.albums.length > 0 && (
        <>
          <h2>Albums</h2>
          <ul className="trash-albums">
            {state.value.albums.map(({ trashed, title }) => (
              <li key={trashed.id} data-testid="trash-album" data-album-id={trashed.id}>
                <span className="album-title">{title ?? "(title cannot be opened)"}</span>
                <span className="muted">
                  {trashed.photos} {trashed.photos === 1 ? "photo" : "photos"} · deleted{" "}
                  {new Date(trashed.deleted_ms).toLocaleDateString()} · {daysLeft(trashed.expires_ms, state.value.now)}{" "}
                  days left
                </span>
                {mayChangeAlbums(actor) && (
                  <button
                    type="button"
                    className="small"
                    data-testid="trash-album-restore"
                    disabled={busy !== undefined}
                    onClick={() =>
                      void run(`album/${trashed.id}`, () => writeAlbum(api, vault.context(), trashed, false))
                    }
                  >
                    {busy === `album/${trashed.id}` ? "Restoring…" : "Restore"}
                  </button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      {state.status === "ready" && state.value.photos.length > 0 && (
        <>
          <h2>Photos</h2>
          <ul className="grid trash-grid" data-testid="trash-grid">
            {state.value.photos.map(({ trashed, photo, keys, albumTitle }) => {
              const holdsKey = vault.hasGrant(trashed.album, identity.id, trashed.epoch);
              return (
                <li key={trashed.id} className="trash-item" data-testid="trash-photo" data-photo-id={trashed.id}>
                  <ul className="plain">
                    <Thumb album={trashed.album} photo={photo} keys={keys} linked={false} showName />
                  </ul>
                  <span className="muted trash-facts">
                    {albumTitle ?? "album"} · {daysLeft(trashed.expires_ms, state.value.now)} days left
                  </span>
                  {mayEditPhoto(actor, trashed, holdsKey) && (
                    <button
                      type="button"
                      className="small"
                      data-testid="trash-restore"
                      disabled={busy !== undefined}
                      onClick={() =>
                        void run(`photo/${trashed.id}`, () =>
                          setPhotoDeleted(api, vault.context(), trashed.album, trashed, false),
                        )
                      }
                    >
                      {busy === `photo/${trashed.id}` ? "Restoring…" : "Restore"}
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}
