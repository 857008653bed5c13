/**
 * The invitee's side of an invitation link: type your name, ask to join, then read the four
 * verification words to the person who invited you. Once they approve, the vault opens.
 */
import { useEffect, useState } from "react";
import { ApiError, type ApiClient } from "../lib/api.ts";
import type { Me } from "../lib/apiTypes.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { joinRequest, keepPendingName, verificationWords, type Invitation } from "../lib/invite.ts";
import { cleanName } from "../lib/names.ts";
import { isNotAMember, signIn } from "../lib/session.ts";
import { describeError } from "../errorMessages.ts";

interface Props {
  api: ApiClient;
  identity: StoredIdentity;
  invitation: Invitation;
  /** We are a member now: open the vault. */
  onJoined: (me: Me) => void;
}

/**
 * Whether we are a member now. Over a data channel the channel is the session, so `me` says;
 * over HTTP a refused sign-in is not retried by itself (`withAutoSignIn`), so we sign in on
 * purpose. Undefined while we are not a member yet.
 */
async function joined(api: ApiClient, identity: StoredIdentity): Promise<Me | undefined> {
  try {
    const me = await api.me();
    if (me.role) return me;
  } catch (caught) {
    if (!isNotAMember(caught) && !(caught instanceof ApiError && caught.status === 401)) throw caught;
  }
  try {
    const me = await signIn(api, identity);
    return me.role ? me : undefined;
  } catch {
    // Not a member yet (or, over a channel, no sign-in to make): ask again later.
    return undefined;
  }
}

/** How often the page checks whether the admin approved. */
const CHECK_MS = 2_000;

export function JoinFamily({ api, identity, invitation, onJoined }: Props) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [words, setWords] = useState<string[]>();

  useEffect(() => {
    if (!words) return;
    let live = true;
    const timer = setInterval(() => {
      joined(api, identity).then(
        (me) => {
          if (live && me) {
            live = false;
            onJoined(me);
          }
        },
        (caught: unknown) => {
          if (live) setError(describeError(caught));
        },
      );
    }, CHECK_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, identity, onJoined, words]);

  const ask = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const clean = cleanName(name);
      await api.join(invitation.id, joinRequest(invitation, identity, clean));
      keepPendingName(clean);
      setWords(verificationWords(invitation, identity.id, identity.recipient));
    } catch (caught) {
      setError(describeError(caught, "invite"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" data-testid="join-family">
      <h2>You are invited to a family vault</h2>
      {words === undefined ? (
        <form
          className="stack"
          onSubmit={(event) => {
            event.preventDefault();
            void ask();
          }}
        >
          <p className="muted">
            Tell the family who you are. Your name is encrypted so that only the family&apos;s members can read it.
          </p>
          <label htmlFor="join-name">Your name</label>
          <input
            id="join-name"
            data-testid="join-name"
            value={name}
            autoComplete="name"
            maxLength={64}
            onChange={(event) => setName(event.target.value)}
          />
          <button type="submit" className="primary" data-testid="join-ask" disabled={busy || name.trim() === ""}>
            {busy ? "Asking…" : "Ask to join"}
          </button>
        </form>
      ) : (
        <div className="stack" data-testid="join-waiting">
          <p>
            Read these words to the person who invited you. They see the same four words if nobody tampered with the
            invitation:
          </p>
          <p className="verification-words" data-testid="join-words" aria-label="Verification words">
            {words.join(" ")}
          </p>
          <p className="muted" role="status">
            Waiting for them to approve… This page opens the vault by itself once they have.
          </p>
        </div>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="join-error">
          {error}
        </p>
      )}
    </section>
  );
}
