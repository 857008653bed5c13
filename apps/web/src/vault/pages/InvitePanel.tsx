/**
 * An admin invites someone by link: the link (and its QR code) carries a one-time secret in its
 * fragment; the node learns only an id derived from it. When the invitee asks to join, this panel
 * checks the request against the secret, shows the name they typed and the four verification
 * words, and approving signs their member record, gives them the family key and the albums
 * ticked here.
 */
import { useEffect, useState } from "react";
import type { JoinRequest } from "../../lib/apiTypes.ts";
import {
  invitationLink,
  newInvitation,
  openName,
  verificationWords,
  verifyJoin,
  type Invitation,
} from "../../lib/invite.ts";
import { ensureFamilyKey, grantFamilyKey } from "../../lib/names.ts";
import type { OpenAlbum } from "../../lib/vault.ts";
import { Avatar } from "../../components/Avatar.tsx";
import { CopyButton } from "../../components/CopyButton.tsx";
import { QrCode } from "../../components/QrCode.tsx";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";

/** How long a link stays valid. */
const TTL_SECS = 24 * 3600;
const POLL_MS = 2_000;

interface Props {
  albums: OpenAlbum[];
  /** A member was added: reload the page's data. */
  onApproved: () => void;
}

/** A request as checked here: untouched (with the name and words) or changed on the way. */
type Checked = { ok: true; request: JoinRequest; name: string; words: string[] } | { ok: false; request: JoinRequest };

export function InvitePanel({ albums, onApproved }: Props) {
  const { api, vault } = useVault();
  const [invitation, setInvitation] = useState<Invitation>();
  const [expiresMs, setExpiresMs] = useState<number>();
  const [checked, setChecked] = useState<Checked>();
  const [share, setShare] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const [approvedName, setApprovedName] = useState<string>();

  // Wait for the invitee's request.
  useEffect(() => {
    if (!invitation || checked) return;
    let live = true;
    const look = async () => {
      const open = (await api.invites()).find((invite) => invite.id === invitation.id);
      if (!live) return;
      if (!open) {
        setError("This invitation is no longer open (it expired, or the node restarted). Make a new one.");
        setInvitation(undefined);
        return;
      }
      const request = open.request;
      if (!request) return;
      if (!verifyJoin(invitation, request)) {
        setChecked({ ok: false, request });
        return;
      }
      let name: string;
      try {
        name = openName(invitation, request.sealed);
      } catch {
        setChecked({ ok: false, request });
        return;
      }
      setChecked({
        ok: true,
        request,
        name,
        words: verificationWords(invitation, request.identity, request.recipient),
      });
    };
    const timer = setInterval(() => void look().catch((caught: unknown) => setError(describeError(caught))), POLL_MS);
    void look().catch((caught: unknown) => setError(describeError(caught)));
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, invitation, checked]);

  const start = async () => {
    setBusy("invite");
    setError(undefined);
    setApprovedName(undefined);
    setChecked(undefined);
    try {
      const next = newInvitation();
      const opened = await api.openInvite(next.id, TTL_SECS);
      setInvitation(next);
      setExpiresMs(opened.expires_ms);
      setShare(new Set());
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  const close = async () => {
    if (invitation) await api.closeInvite(invitation.id).catch(() => undefined);
    setInvitation(undefined);
    setChecked(undefined);
  };

  const approve = async (request: JoinRequest, name: string) => {
    setBusy("approve");
    setError(undefined);
    try {
      // The family key first, so the new member can read names from the start.
      await ensureFamilyKey(vault);
      await vault.addMember(request.identity, request.recipient);
      const member = { identity: request.identity, recipient: request.recipient, role: "member" as const };
      await grantFamilyKey(vault, member);
      for (const album of albums) if (share.has(album.detail.id)) await vault.grant(album.detail, member);
      await close();
      setApprovedName(name);
      onApproved();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  const link = invitation ? invitationLink(`${location.origin}${location.pathname}${location.search}`, invitation) : "";

  return (
    <section className="invite" data-testid="invite-panel" aria-labelledby="invite-title">
      <h2 id="invite-title">Invite someone</h2>
      {!invitation && (
        <>
          <p className="muted">
            Make a link for them to open. They choose their name, then you both see four words: check they match (in
            person or on the phone) before you let them in.
          </p>
          <button
            type="button"
            className="primary"
            data-testid="invite-start"
            disabled={busy !== undefined}
            onClick={() => void start()}
          >
            {busy === "invite" ? "Making a link…" : "Invite"}
          </button>
          {approvedName && (
            <p role="status" data-testid="invite-approved">
              {approvedName} is now a member of the family.
            </p>
          )}
        </>
      )}
      {invitation && !checked && (
        <div className="stack" data-testid="invite-link-box">
          <p>
            Send this link to the person you invite, or let them scan the code. It works once
            {expiresMs !== undefined && <>, until {new Date(expiresMs).toLocaleString()}</>}. Anyone who has it can ask
            to join, so send it only to them.
          </p>
          <input
            className="invite-link"
            readOnly
            value={link}
            aria-label="Invitation link"
            data-testid="invite-link"
            onFocus={(event) => event.target.select()}
          />
          <div className="buttons">
            <CopyButton text={link} label="Copy the link" testId="invite-copy" />
            <button type="button" className="quiet" data-testid="invite-cancel" onClick={() => void close()}>
              Cancel the invitation
            </button>
          </div>
          <QrCode text={link} label="QR code of the invitation link" testId="invite-qr" size={224} />
          <p className="muted" role="status">
            Waiting for them to open the link…
          </p>
        </div>
      )}
      {invitation && checked && !checked.ok && (
        <div className="danger-zone" role="alert" data-testid="invite-tampered">
          <p>
            Someone asked to join with this invitation, but the request was changed on the way (it does not match the
            link). Do not let it in: cancel the invitation and make a new one.
          </p>
          <button type="button" className="danger" onClick={() => void close()}>
            Cancel the invitation
          </button>
        </div>
      )}
      {invitation && checked?.ok && (
        <div className="stack" data-testid="invite-request">
          <p className="invite-request-who">
            <Avatar id={checked.request.identity} name={checked.name} size={40} decorative />
            <span>
              <strong data-testid="invite-request-name">{checked.name}</strong> asks to join. Ask them which words their
              screen shows: they must be exactly these.
            </span>
          </p>
          <p className="verification-words" data-testid="invite-words" aria-label="Verification words">
            {checked.words.join(" ")}
          </p>
          <details>
            <summary>Their id</summary>
            <code className="member-id">{checked.request.identity}</code>
          </details>
          {albums.length > 0 && (
            <fieldset className="invite-albums">
              <legend>Share these albums with them</legend>
              {albums.map((album) => (
                <label key={album.detail.id} className="grant">
                  <input
                    type="checkbox"
                    data-testid="invite-share"
                    data-album-id={album.detail.id}
                    checked={share.has(album.detail.id)}
                    onChange={(event) => {
                      const next = new Set(share);
                      if (event.target.checked) next.add(album.detail.id);
                      else next.delete(album.detail.id);
                      setShare(next);
                    }}
                  />
                  {album.title ?? "(untitled)"}
                </label>
              ))}
            </fieldset>
          )}
          <div className="buttons">
            <button
              type="button"
              className="primary"
              data-testid="invite-approve"
              disabled={busy !== undefined}
              onClick={() => void approve(checked.request, checked.name)}
            >
              {busy === "approve" ? "Adding…" : "The words match: let them in"}
            </button>
            <button type="button" className="danger quiet" data-testid="invite-decline" onClick={() => void close()}>
              They do not match: refuse
            </button>
          </div>
        </div>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="invite-error">
          {error}
        </p>
      )}
    </section>
  );
}
