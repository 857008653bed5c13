/**
 * The album's own actions above its grid: select, and for admins rename, delete and the
 * cover; "Share" shows who has the album's key (and lets admins share it or take it back).
 * Members see only what they may do; the node checks again.
 */
import { useState } from "react";
import type { MemberView } from "../lib/apiTypes.ts";
import { describeError } from "../errorMessages.ts";
import { mayChangeAlbums, memberLabel, updateAlbumMeta, writeAlbum } from "../lib/organise.ts";
import type { OpenAlbum } from "../lib/vault.ts";
import { liveGrants } from "../lib/vaultState.ts";
import { useVault } from "./context.ts";
import { useNames } from "./names.ts";
import { Avatar } from "../components/Avatar.tsx";
import { displayName } from "../lib/names.ts";
import { navigate } from "./router.ts";
import { useAsync } from "./useAsync.ts";

interface Props {
  album: OpenAlbum;
  selecting: boolean;
  onSelecting: (selecting: boolean) => void;
  /** The one selected photo, when exactly one is: an admin may make it the cover. */
  coverCandidate: string | undefined;
  onChanged: () => void;
}

export function AlbumToolbar({ album, selecting, onSelecting, coverCandidate, onChanged }: Props) {
  const { vault, identity, isAdmin } = useVault();
  const [panel, setPanel] = useState<"rename" | "share" | "delete">();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const admin = mayChangeAlbums({ id: identity.id, isAdmin });
  const holdsCurrent = album.keys.has(album.detail.epoch);
  const fields = {
    id: album.detail.id,
    epoch: album.detail.epoch,
    recipient: album.detail.recipient,
    meta: album.detail.meta,
  };

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (caught) {
      setError(describeError(caught, "album"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="album-toolbar" data-testid="album-toolbar">
      <div className="toolbar-row">
        <button
          type="button"
          className="small"
          aria-pressed={selecting}
          data-testid="album-select"
          onClick={() => onSelecting(!selecting)}
        >
          {selecting ? "Cancel selection" : "Select"}
        </button>
        <button
          type="button"
          className="small"
          aria-expanded={panel === "share"}
          data-testid="album-share"
          onClick={() => setPanel(panel === "share" ? undefined : "share")}
        >
          Share
        </button>
        {admin && holdsCurrent && (
          <button
            type="button"
            className="small"
            aria-expanded={panel === "rename"}
            data-testid="album-rename"
            onClick={() => setPanel(panel === "rename" ? undefined : "rename")}
          >
            Rename
          </button>
        )}
        {admin && holdsCurrent && coverCandidate !== undefined && (
          <button
            type="button"
            className="small"
            data-testid="album-cover"
            disabled={busy}
            onClick={() =>
              void run(async () => {
                await updateAlbumMeta(vault, fields, album.keyList, { cover: coverCandidate });
                onChanged();
              })
            }
          >
            Use as cover
          </button>
        )}
        {admin && (
          <button
            type="button"
            className="small danger"
            aria-expanded={panel === "delete"}
            data-testid="album-delete"
            onClick={() => setPanel(panel === "delete" ? undefined : "delete")}
          >
            Delete album
          </button>
        )}
      </div>
      {panel === "rename" && (
        <RenameForm
          initial={album.title ?? ""}
          busy={busy}
          onRename={(title) =>
            void run(async () => {
              await updateAlbumMeta(vault, fields, album.keyList, { title });
              setPanel(undefined);
              onChanged();
            })
          }
        />
      )}
      {panel === "delete" && (
        <div className="confirm" role="group" aria-label="Delete the album" data-testid="album-delete-confirm">
          <p>
            Delete “{album.title ?? "this album"}” and its {album.detail.photos}{" "}
            {album.detail.photos === 1 ? "photo" : "photos"}? They stay in the trash for 30 days, where an admin can
            restore the album.
          </p>
          <button
            type="button"
            className="small danger"
            data-testid="album-delete-yes"
            disabled={busy}
            onClick={() =>
              void run(async () => {
                await writeAlbum(vault.api, vault.context(), fields, true);
                navigate({ page: "albums" });
              })
            }
          >
            {busy ? "Deleting…" : "Delete album"}
          </button>
          <button type="button" className="small" onClick={() => setPanel(undefined)}>
            Keep it
          </button>
        </div>
      )}
      {panel === "share" && <SharePanel album={album} />}
      {error && (
        <p className="form-error" role="alert" data-testid="album-toolbar-error">
          {error}
        </p>
      )}
    </div>
  );
}

function RenameForm({
  initial,
  busy,
  onRename,
}: {
  initial: string;
  busy: boolean;
  onRename: (title: string) => void;
}) {
  const [title, setTitle] = useState(initial);
  return (
    <form
      className="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        onRename(title);
      }}
    >
      <label htmlFor="album-rename-input">New title</label>
      <input
        id="album-rename-input"
        data-testid="album-rename-input"
        value={title}
        maxLength={200}
        onChange={(event) => setTitle(event.target.value)}
      />
      <button type="submit" className="primary" data-testid="album-rename-save" disabled={busy || title.trim() === ""}>
        {busy ? "Saving…" : "Save"}
      </button>
    </form>
  );
}

/** Who holds the album's key; admins share it with more members or take it back. */
function SharePanel({ album }: { album: OpenAlbum }) {
  const { api, vault, identity, isAdmin } = useVault();
  const [members, reload] = useAsync(() => api.members(), [api]);
  const names = useNames(vault);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const id = album.detail.id;
  const holders = new Set(liveGrants(vault.state, id).map((g) => g.member));
  const canShare = isAdmin && album.keys.has(album.detail.epoch);

  const change = async (member: MemberView, share: boolean) => {
    setBusy(member.identity);
    setError(undefined);
    try {
      if (share) await vault.grant(album.detail, member);
      else await vault.revoke(album.detail, member);
      reload();
    } catch (caught) {
      setError(describeError(caught, "album"));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <div className="share-panel" data-testid="share-panel">
      <h2>Who can see this album</h2>
      {members.status === "loading" && <p className="muted">Loading the members…</p>}
      {members.status === "failed" && <p className="form-error">{describeError(members.error)}</p>}
      {members.status === "ready" && (
        <ul className="share-list">
          {members.value.map((member) => {
            const has = holders.has(member.identity);
            return (
              <li
                key={member.identity}
                data-testid="share-member"
                data-member-id={member.identity}
                data-has={String(has)}
              >
                <span className="share-name with-avatar">
                  <Avatar
                    id={member.identity}
                    name={displayName(names, member.identity)}
                    avatar={names?.members.get(member.identity)?.avatar}
                    size={28}
                    decorative
                    testId="share-avatar"
                  />
                  {memberLabel(member.identity, identity.id, names)}
                </span>
                <span className="muted">
                  {member.role} · {has ? "can see it" : "cannot see it"}
                </span>
                {canShare && member.identity !== identity.id && (
                  <button
                    type="button"
                    className="small"
                    data-testid={has ? "share-revoke" : "share-grant"}
                    disabled={busy !== undefined}
                    onClick={() => void change(member, !has)}
                  >
                    {busy === member.identity ? "…" : has ? "Stop sharing" : "Share"}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
