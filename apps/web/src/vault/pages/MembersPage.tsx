/** Members: who is in the family; admins add members and grant or revoke album access. */
import { useState } from "react";
import type { MemberView } from "../../lib/apiTypes.ts";
import type { OpenAlbum } from "../../lib/vault.ts";
import { MEMBER_CARD_SCHEME, parseMemberCard } from "../../lib/memberCard.ts";
import { QrScanner } from "../../components/QrScanner.tsx";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { useAsync } from "../useAsync.ts";

export function MembersPage() {
  const { api, vault, isAdmin, identity } = useVault();
  const [state, reload] = useAsync(async () => {
    await vault.refresh();
    const [members, albums] = await Promise.all([api.members(), api.albums()]);
    return { members, albums: await Promise.all(albums.map((a) => vault.openAlbum(a.id))) };
  }, [api, vault]);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();

  const toggle = async (album: OpenAlbum, member: MemberView, granted: boolean) => {
    const label = `${album.detail.id}/${member.identity}`;
    setBusy(label);
    setError(undefined);
    try {
      if (granted) await vault.revoke(album.detail, member);
      else await vault.grant(album.detail, member);
      reload();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section className="card wide" data-testid="members-page">
      <h1>Members</h1>
      {isAdmin && <AddMember onAdded={reload} />}
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
            </tr>
          </thead>
          <tbody>
            {state.value.members.map((member) => (
              <tr key={member.identity} data-testid="member-row" data-member-id={member.identity}>
                <td>
                  <code className="member-id">{member.identity}</code>
                  {member.identity === identity.id && <span className="muted"> (you)</span>}
                </td>
                <td data-testid="member-role">{member.role}</td>
                {isAdmin &&
                  state.value.albums.map((album) => {
                    const granted = vault.hasGrant(album.detail.id, member.identity, album.detail.epoch);
                    const label = `${album.detail.id}/${member.identity}`;
                    return (
                      <td key={album.detail.id}>
                        <label className="grant">
                          <input
                            type="checkbox"
                            data-testid="grant-toggle"
                            data-album-id={album.detail.id}
                            data-member-id={member.identity}
                            data-granted={granted ? "true" : "false"}
                            checked={granted}
                            disabled={busy !== undefined || member.identity === identity.id}
                            onChange={() => void toggle(album, member, granted)}
                          />
                          {busy === label ? "…" : granted ? "Has access" : "No access"}
                        </label>
                      </td>
                    );
                  })}
              </tr>
            ))}
          </tbody>
        </table>
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
      await vault.addMember(id, recipient);
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
