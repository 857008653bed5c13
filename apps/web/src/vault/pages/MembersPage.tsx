/**
 * Members: who is in the family, by name (each member's own signed profile, readable by members
 * only); admins invite people by link, remove members and grant or revoke album access. The id
 * stays the trust anchor, one click away.
 * Revoking or removing says what it does: the album gets a new key for new photos, and what the
 * person could open before they may have kept.
 */
import { useState } from "react";
import type { MemberView } from "../../lib/apiTypes.ts";
import type { OpenAlbum, Rotation } from "../../lib/vault.ts";
import { MEMBER_CARD_SCHEME, parseMemberCard } from "../../lib/memberCard.ts";
import { QrScanner } from "../../components/QrScanner.tsx";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { useAsync } from "../useAsync.ts";
import { displayName, ensureFamilyKey, grantFamilyKey, rotateFamilyKey } from "../../lib/names.ts";
import { Avatar } from "../../components/Avatar.tsx";
import { announceNamesChanged, useNames } from "../names.ts";
import { InvitePanel } from "./InvitePanel.tsx";
import { FamilyNameForm, MyNameForm } from "./NameForms.tsx";
import { ProfilePhoto } from "./ProfilePhoto.tsx";

/** What revoking or removing does, said next to the controls and in the confirmations. */
const NEW_KEY =
  "New photos are encrypted with a new album key that they will not get. Photos they could already open, they may have downloaded: that cannot be undone.";

type Confirming = { kind: "revoke"; album: OpenAlbum; member: MemberView } | { kind: "remove"; member: MemberView };

export function MembersPage() {
  const { api, vault, isAdmin, identity } = useVault();
  const [state, reload] = useAsync(async () => {
    await vault.refresh();
    // An admin's visit makes the family key, so that names can be written.
    if (isAdmin && !vault.state.familyMeta) await ensureFamilyKey(vault);
    const [members, albums] = await Promise.all([api.members(), api.albums()]);
    return { members, albums: await Promise.all(albums.map((a) => vault.openAlbum(a.id))) };
  }, [api, vault, isAdmin]);
  const names = useNames(vault, state);
  const nameOf = (id: string) => displayName(names, id);
  const avatarOf = (id: string) => names?.members.get(id)?.avatar;
  const mine = names?.members.get(identity.id);
  // Our name or photo changed: this page's data, and the header's.
  const namesSaved = () => {
    reload();
    announceNamesChanged();
  };
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const [confirming, setConfirming] = useState<Confirming>();
  /** Albums whose key could not be changed here, after a revocation or a removal. */
  const [pending, setPending] = useState<Rotation[]>([]);

  const albumName = (id: string) => {
    const album = state.status === "ready" ? state.value.albums.find((a) => a.detail.id === id) : undefined;
    return album ? (album.title ?? "(untitled)") : "An album you cannot open";
  };

  const run = async (label: string, work: () => Promise<Rotation[]>) => {
    setBusy(label);
    setError(undefined);
    setConfirming(undefined);
    try {
      setPending((await work()).filter((rotation) => !rotation.rotated));
      reload();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  const toggle = (album: OpenAlbum, member: MemberView, granted: boolean) => {
    if (granted) {
      setConfirming({ kind: "revoke", album, member });
      return;
    }
    void run(`${album.detail.id}/${member.identity}`, async () => {
      await vault.grant(album.detail, member);
      return [];
    });
  };

  return (
    <section className="card wide" data-testid="members-page">
      <h1>{names?.family ? `Members of ${names.family}` : "Members"}</h1>
      <div className="name-forms">
        {isAdmin && <FamilyNameForm current={names?.family} onSaved={namesSaved} />}
        <MyNameForm current={mine?.name} onSaved={namesSaved} />
        <ProfilePhoto name={mine?.name} avatar={mine?.avatar} onSaved={namesSaved} />
      </div>
      {isAdmin && <InvitePanel albums={state.status === "ready" ? state.value.albums : []} onApproved={reload} />}
      {isAdmin && (
        <details className="advanced" data-testid="add-member-advanced">
          <summary>Add someone by their member card (advanced)</summary>
          <AddMember onAdded={reload} />
        </details>
      )}
      {isAdmin && (
        <p className="muted" data-testid="revoke-explain">
          Taking away someone&apos;s access to an album, or removing them from the family, changes the album&apos;s key.{" "}
          {NEW_KEY}
        </p>
      )}
      {confirming && (
        <div
          className="danger-zone confirm"
          role="alertdialog"
          aria-labelledby="members-confirm-title"
          aria-describedby="members-confirm-text"
          data-testid={confirming.kind === "revoke" ? "revoke-dialog" : "remove-dialog"}
        >
          <h2 id="members-confirm-title" className="label">
            {confirming.kind === "revoke"
              ? `Take away their access to “${confirming.album.title ?? "(untitled)"}”?`
              : "Remove this member from the family?"}
          </h2>
          <p>
            <span className="with-avatar">
              <Avatar
                id={confirming.member.identity}
                name={nameOf(confirming.member.identity)}
                avatar={avatarOf(confirming.member.identity)}
                decorative
              />
              <strong>{nameOf(confirming.member.identity)}</strong>
            </span>{" "}
            <code className="member-id">{confirming.member.identity}</code>
          </p>
          <p id="members-confirm-text">
            {confirming.kind === "revoke"
              ? "They will no longer be able to open this album on the family's nodes. "
              : "They will no longer be able to sign in, and every album they had access to gets a new key. "}
            {NEW_KEY}
          </p>
          <div className="buttons">
            {confirming.kind === "revoke" ? (
              <button
                type="button"
                className="danger"
                data-testid="revoke-confirm"
                onClick={() => {
                  const { album, member } = confirming;
                  void run(`${album.detail.id}/${member.identity}`, async () => [
                    await vault.revoke(album.detail, member),
                  ]);
                }}
              >
                Take away access
              </button>
            ) : (
              <button
                type="button"
                className="danger"
                data-testid="remove-confirm"
                onClick={() => {
                  const { member } = confirming;
                  void run(`remove/${member.identity}`, async () => {
                    const rotations = await vault.removeMember(member);
                    // They could read the names: new names go to a new family key.
                    await rotateFamilyKey(vault);
                    return rotations;
                  });
                }}
              >
                Remove from the family
              </button>
            )}
            <button type="button" data-testid="confirm-cancel" onClick={() => setConfirming(undefined)} autoFocus>
              Cancel
            </button>
          </div>
        </div>
      )}
      {pending.length > 0 && (
        <div className="caution" role="alert" data-testid="rotation-pending">
          <p>
            Done, but {pending.length === 1 ? "this album still has its" : "these albums still have their"} old key.
            Until {pending.length === 1 ? "it is" : "they are"} changed, no new photos can be added to{" "}
            {pending.length === 1 ? "it" : "them"}.
          </p>
          <ul>
            {pending.map((rotation) => (
              <li key={rotation.album} data-testid="rotation-pending-album" data-album-id={rotation.album}>
                <strong>{albumName(rotation.album)}</strong>
                {": "}
                {rotation.rotated ? null : rotation.error !== undefined ? (
                  <>changing its key failed ({describeError(rotation.error, "member")}) Open the album to try again.</>
                ) : (
                  <>
                    you do not hold its current key. Ask{" "}
                    {rotation.holders.length === 0
                      ? "an admin who holds it"
                      : rotation.holders.length === 1
                        ? "the admin who holds it"
                        : "one of the admins who hold it"}{" "}
                    to open the album and choose “Change the album key”
                    {rotation.holders.length > 0 && ": "}
                    {rotation.holders.map((holder) => (
                      <span key={holder} title={holder}>
                        {nameOf(holder)}{" "}
                      </span>
                    ))}
                  </>
                )}
              </li>
            ))}
          </ul>
          <button type="button" className="small" onClick={() => setPending([])}>
            OK
          </button>
        </div>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="members-error">
          {error}
        </p>
      )}
      {state.status === "loading" && <p className="muted">Loading members…</p>}
      {state.status === "failed" && (
        <p className="form-error" role="alert">
          {describeError(state.error, "member")}
        </p>
      )}
      {state.status === "ready" && (
        <div className="table-scroll">
          <table className="members">
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Role</th>
                {isAdmin &&
                  state.value.albums.map((album) => (
                    <th scope="col" key={album.detail.id}>
                      {album.title ?? "(untitled)"}
                    </th>
                  ))}
                {isAdmin && (
                  <th scope="col">
                    <span className="sr-only">Remove</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {state.value.members.map((member) => (
                <tr key={member.identity} data-testid="member-row" data-member-id={member.identity}>
                  <td>
                    <div className="member-cell">
                      <Avatar
                        id={member.identity}
                        name={nameOf(member.identity)}
                        avatar={avatarOf(member.identity)}
                        size={40}
                        decorative
                        testId="member-avatar"
                      />
                      <div>
                        <span className="member-name" data-testid="member-name" title={member.identity}>
                          {nameOf(member.identity)}
                        </span>
                        {member.identity === identity.id && <span className="muted"> (you)</span>}
                        <details className="member-id-details">
                          <summary>id</summary>
                          <code className="member-id">{member.identity}</code>
                        </details>
                      </div>
                    </div>
                  </td>
                  <td data-testid="member-role">{member.role}</td>
                  {isAdmin &&
                    state.value.albums.map((album) => {
                      const granted = vault.hasGrant(album.detail.id, member.identity, album.detail.epoch);
                      const label = `${album.detail.id}/${member.identity}`;
                      return (
                        <td key={album.detail.id}>
                          <label
                            className="grant"
                            title={
                              granted
                                ? `Take away ${nameOf(member.identity)}'s access. ${NEW_KEY}`
                                : `Share this album with ${nameOf(member.identity)}, older photos included.`
                            }
                          >
                            <input
                              type="checkbox"
                              data-testid="grant-toggle"
                              data-album-id={album.detail.id}
                              data-member-id={member.identity}
                              data-granted={granted ? "true" : "false"}
                              checked={granted}
                              disabled={busy !== undefined || member.identity === identity.id}
                              onChange={() => toggle(album, member, granted)}
                            />
                            {busy === label ? "…" : granted ? "Has access" : "No access"}
                          </label>
                        </td>
                      );
                    })}
                  {isAdmin && (
                    <td>
                      {member.identity !== identity.id && (
                        <button
                          type="button"
                          className="danger quiet small"
                          data-testid="member-remove"
                          disabled={busy !== undefined}
                          title={`Remove from the family. ${NEW_KEY}`}
                          onClick={() => setConfirming({ kind: "remove", member })}
                        >
                          {busy === `remove/${member.identity}` ? "Removing…" : "Remove"}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function AddMember({ onAdded }: { onAdded: () => void }) {
  const { vault } = useVault();
  const [id, setId] = useState("");
  const [recipient, setRecipient] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const applyCard = (text: string) => {
    try {
      const card = parseMemberCard(text);
      setId(card.id);
      setRecipient(card.recipient);
      setError(undefined);
    } catch (caught) {
      setError(describeError(caught, "member"));
    }
  };

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const member = await vault.addMember(id, recipient);
      // The family key too, so they read the family's names.
      await ensureFamilyKey(vault);
      await grantFamilyKey(vault, { identity: member, recipient: recipient.trim() });
      setId("");
      setRecipient("");
      onAdded();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="add-member"
      data-testid="add-member"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <h2>Add a member</h2>
      <p className="muted">
        Scan the QR code on their identity screen, or ask them for their id and encryption address (also shown by{" "}
        <code>p2pos id show</code>). The id says who they are; the encryption address is what album keys are encrypted
        to.
      </p>
      <QrScanner onText={applyCard} />
      <label htmlFor="member-id">Their id</label>
      <input
        id="member-id"
        data-testid="member-id-input"
        value={id}
        spellCheck={false}
        autoComplete="off"
        placeholder="XXXXXXX-XXXXXXX-… (or paste their member card)"
        onChange={(event) => {
          const value = event.target.value;
          if (value.trim().toLowerCase().startsWith(MEMBER_CARD_SCHEME)) applyCard(value);
          else setId(value);
        }}
      />
      <label htmlFor="member-recipient">Their encryption address</label>
      <input
        id="member-recipient"
        data-testid="member-recipient-input"
        value={recipient}
        spellCheck={false}
        autoComplete="off"
        placeholder="age1…"
        onChange={(event) => setRecipient(event.target.value)}
      />
      <button
        type="submit"
        className="primary"
        data-testid="member-add"
        disabled={busy || id.trim() === "" || recipient.trim() === ""}
      >
        {busy ? "Adding…" : "Add member"}
      </button>
      {error && (
        <p className="form-error" role="alert" data-testid="add-member-error">
          {error}
        </p>
      )}
    </form>
  );
}
