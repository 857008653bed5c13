/**
 * Photos shared into P2POS from another app (the installed web app is a share target): choose the
 * album, and they join its upload queue, encrypted like any other upload. The files wait in this
 * browser's storage until then (`src/lib/sharedFiles.ts`) and are deleted once queued or declined.
 */
import { useState } from "react";
import { describeError } from "../../errorMessages.ts";
import { forgetSharedFiles, sharedFiles } from "../../lib/sharedFiles.ts";
import { useVault } from "../context.ts";
import { formatBytes } from "../format.ts";
import { navigate } from "../router.ts";
import { useAsync } from "../useAsync.ts";
import { queueFor } from "./AlbumPage.tsx";

export function SharePage() {
  const session = useVault();
  const { api, vault } = session;
  const [state] = useAsync(async () => {
    const [files, listed] = await Promise.all([sharedFiles(), api.albums()]);
    const albums = await Promise.all(listed.map((album) => vault.openAlbum(album.id)));
    return { files, albums: albums.map((album) => ({ id: album.detail.id, title: album.title ?? "(untitled)" })) };
  }, [api, vault]);
  const [chosen, setChosen] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  if (state.status === "loading") {
    return (
      <p className="muted" role="status">
        Opening what was shared…
      </p>
    );
  }
  if (state.status === "failed") {
    return (
      <p className="form-error" role="alert">
        {describeError(state.error)}
      </p>
    );
  }
  const { files, albums } = state.value;
  const album = chosen ?? albums[0]?.id;
  const keys = files.map((shared) => shared.key);
  const add = async () => {
    if (!album) return;
    setBusy(true);
    setError(undefined);
    try {
      queueFor(session, album, () => undefined).add(files.map((shared) => shared.file));
      await forgetSharedFiles(keys);
      navigate({ page: "album", album });
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  };
  const discard = async () => {
    await forgetSharedFiles(keys);
    navigate({ page: "dashboard" });
  };

  return (
    <section className="card" data-testid="share-page">
      <h1>Add shared photos</h1>
      {files.length === 0 ? (
        <p className="muted" data-testid="share-empty">
          Nothing is waiting here. Share photos to P2POS from your phone&apos;s gallery and they appear on this page.
        </p>
      ) : (
        <>
          <p data-testid="share-summary">
            {files.length} {files.length === 1 ? "file" : "files"} (
            {formatBytes(files.reduce((sum, shared) => sum + shared.file.size, 0))}) from another app. They are
            encrypted on this device before they leave it.
          </p>
          <ul className="share-files">
            {files.map((shared) => (
              <li key={shared.key} data-testid="share-file">
                {shared.file.name}
              </li>
            ))}
          </ul>
          {albums.length === 0 ? (
            <p className="muted">No album is shared with you yet: create one first, then share again.</p>
          ) : (
            <form
              className="inline-form"
              onSubmit={(event) => {
                event.preventDefault();
                void add();
              }}
            >
              <label htmlFor="share-album">Album</label>
              <select
                id="share-album"
                data-testid="share-album"
                value={album}
                onChange={(event) => setChosen(event.target.value)}
              >
                {albums.map((option) => (
                  <option key={option.id} value={option.id}>
                    {option.title}
                  </option>
                ))}
              </select>
              <button type="submit" className="primary" data-testid="share-add" disabled={busy}>
                Add to album
              </button>
            </form>
          )}
          <button type="button" data-testid="share-discard" onClick={() => void discard()} disabled={busy}>
            Discard
          </button>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
        </>
      )}
    </section>
  );
}
