/**
 * What can be done with the photos selected in an album: download them as one zip (decrypted here
 * and streamed into the archive), move or copy them to another album (encrypted again to its
 * key), or move them to the trash. Only what the vault lets this member do is offered; the node
 * checks again.
 */
import { useEffect, useState } from "react";
import { downloadBlob } from "../download.ts";
import { describeError } from "../errorMessages.ts";
import {
  copyPhoto,
  eachOf,
  mayEditPhoto,
  movePhoto,
  saveStream,
  setPhotoDeleted,
  zipFileName,
  zipStream,
  type BulkResult,
} from "../lib/organise.ts";
import type { OpenPhoto } from "../lib/photos.ts";
import { useVault } from "./context.ts";
import { href } from "./router.ts";

interface Props {
  album: string;
  albumTitle: string | undefined;
  /** The selected photos, in grid order. */
  selected: readonly OpenPhoto[];
  keys: CryptoKey[];
  /** Whether we hold the album's current key (authors may delete only then). */
  holdsKey: boolean;
  onClear: () => void;
  /** Something changed in the album: reload it (and drop what left the selection). */
  onChanged: () => void;
}

interface Target {
  id: string;
  title: string;
}

/** Albums we may add photos to (we hold their current key), other than `except`. */
function useTargets(except: string): Target[] {
  const { api, vault, identity } = useVault();
  const [targets, setTargets] = useState<Target[]>([]);
  useEffect(() => {
    const gone = new AbortController();
    void (async () => {
      const albums = await api.albums().catch(() => []);
      const found: Target[] = [];
      for (const album of albums) {
        if (album.id === except || !vault.hasGrant(album.id, identity.id, album.epoch)) continue;
        const open = await vault.openAlbum(album.id).catch(() => undefined);
        found.push({ id: album.id, title: open?.title ?? "(title cannot be opened)" });
      }
      found.sort((a, b) => a.title.localeCompare(b.title));
      if (!gone.signal.aborted) setTargets(found);
    })();
    return () => gone.abort();
  }, [api, vault, identity, except]);
  return targets;
}

export function SelectionBar({ album, albumTitle, selected, keys, holdsKey, onClear, onChanged }: Props) {
  const { api, vault, identity, isAdmin } = useVault();
  const targets = useTargets(album);
  const [target, setTarget] = useState("");
  const [busy, setBusy] = useState<string>();
  const [message, setMessage] = useState<{ text: string; trash?: boolean; error?: boolean }>();
  const actor = { id: identity.id, isAdmin };
  const editable = selected.filter((p) => mayEditPhoto(actor, p.view, holdsKey));
  const count = selected.length;
  const noun = (n: number) => `${n} ${n === 1 ? "photo" : "photos"}`;

  const report = (verb: string, result: BulkResult, trash = false) => {
    const first = result.failed[0];
    if (first) {
      setMessage({
        text: `${noun(result.done.length)} ${verb}; ${result.failed.length} failed: ${describeError(first.error, "album")}`,
        error: true,
      });
    } else {
      setMessage({ text: `${noun(result.done.length)} ${verb}.`, trash });
    }
  };

  const run = async (label: string, action: () => Promise<void>) => {
    setBusy(label);
    setMessage(undefined);
    try {
      await action();
    } catch (caught) {
      setMessage({ text: describeError(caught, "album"), error: true });
    } finally {
      setBusy(undefined);
    }
  };

  const download = () =>
    run("download", async () => {
      const items = selected.map((p) => ({ view: p.view, meta: p.meta, keys }));
      const stream = zipStream(api, items, (started, total) => setBusy(`download ${started}/${total}`));
      const saved = await saveStream(stream, zipFileName(albumTitle, items.length), downloadBlob);
      if (saved) setMessage({ text: `${noun(items.length)} saved as a zip.` });
    });

  const remove = () =>
    run("delete", async () => {
      const result = await eachOf(
        editable.map((p) => p.view),
        (view) => setPhotoDeleted(api, vault.context(), album, view, true),
      );
      report("moved to the trash", result, true);
      onChanged();
    });

  const transfer = (kind: "move" | "copy") =>
    run(kind, async () => {
      const chosen = targets.find((t) => t.id === target);
      if (!chosen) return;
      const photos = kind === "move" ? editable : selected;
      const result = await eachOf(
        photos.map((p) => p.view),
        (view) =>
          kind === "move"
            ? movePhoto(vault, { album, view, keys }, chosen.id)
            : copyPhoto(vault, { view, keys }, chosen.id),
        (done, total) => setBusy(`${kind} ${done}/${total}`),
      );
      report(kind === "move" ? `moved to ${chosen.title}` : `copied to ${chosen.title}`, result);
      onChanged();
    });

  return (
    <div className="selection-bar" role="toolbar" aria-label="Selected photos" data-testid="selection-bar">
      <span className="selection-count" data-testid="selection-count">
        {count === 0 ? "Select photos" : `${noun(count)} selected`}
      </span>
      <button
        type="button"
        className="small"
        data-testid="selection-download"
        disabled={count === 0 || busy !== undefined}
        onClick={() => void download()}
      >
        {busy?.startsWith("download") ? `Zipping ${busy.slice(9)}…` : "Download zip"}
      </button>
      {targets.length > 0 && (
        <span className="selection-target">
          <label htmlFor="selection-target" className="sr-only">
            Album to move or copy to
          </label>
          <select
            id="selection-target"
            data-testid="selection-target"
            value={target}
            onChange={(event) => setTarget(event.target.value)}
          >
            <option value="">To album…</option>
            {targets.map((t) => (
              <option key={t.id} value={t.id}>
                {t.title}
              </option>
            ))}
          </select>
          {editable.length > 0 && (
            <button
              type="button"
              className="small"
              data-testid="selection-move"
              disabled={target === "" || busy !== undefined}
              onClick={() => void transfer("move")}
            >
              {busy?.startsWith("move") ? `Moving ${busy.slice(5)}…` : "Move"}
            </button>
          )}
          <button
            type="button"
            className="small"
            data-testid="selection-copy"
            disabled={target === "" || count === 0 || busy !== undefined}
            onClick={() => void transfer("copy")}
          >
            {busy?.startsWith("copy") ? `Copying ${busy.slice(5)}…` : "Copy"}
          </button>
        </span>
      )}
      {editable.length > 0 && (
        <button
          type="button"
          className="small danger"
          data-testid="selection-delete"
          disabled={busy !== undefined}
          onClick={() => void remove()}
        >
          {busy === "delete"
            ? "Deleting…"
            : editable.length === count
              ? "Delete"
              : `Delete the ${editable.length} you may`}
        </button>
      )}
      <button type="button" className="small" data-testid="selection-done" onClick={onClear}>
        Done
      </button>
      {message && (
        <p className={message.error ? "form-error" : "muted"} role="status" data-testid="selection-message">
          {message.text}
          {message.trash && (
            <>
              {" "}
              <a href={href({ page: "trash" })}>Open the trash</a>
            </>
          )}
        </p>
      )}
    </div>
  );
}
