/** Albums shared with you, with their decrypted titles; admins create new ones. */
import { useState } from "react";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { href, navigate } from "../router.ts";
import { useAsync } from "../useAsync.ts";

export function AlbumsPage() {
  const { api, vault, isAdmin } = useVault();
  const [state] = useAsync(async () => {
    const albums = await api.albums();
    return Promise.all(albums.map((album) => vault.openAlbum(album.id)));
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
      {state.status === "ready" && state.value.length > 0 && (
        <ul className="album-list">
          {state.value.map((album) => (
            <li key={album.detail.id} data-testid="album-card" data-album-id={album.detail.id}>
              <a href={href({ page: "album", album: album.detail.id })}>
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
