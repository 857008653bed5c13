/**
 * Everything after the identity screen: sign in (automatically), claim a fresh node, then the vault
 * pages. The node signs in members only (`not_a_member` otherwise): on a node no family has claimed
 * yet that means the claim form, first and alone; on a node that gets its family from another one
 * (`joining`), a wait; on a claimed one, what to send an admin to be added.
 */
import { useCallback, useEffect, useMemo, useState } from "react";
import { type ApiTransport, createApi } from "../lib/api.ts";
import type { Me } from "../lib/apiTypes.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { ensureSignedIn, isNotAMember, signIn, withAutoSignIn } from "../lib/session.ts";
import { Vault, claimNode } from "../lib/vault.ts";
import { BackupBanner } from "../components/BackupBanner.tsx";
import { IdentityView } from "../components/IdentityView.tsx";
import { describeError } from "../errorMessages.ts";
import { VaultContext, type VaultSession } from "./context.ts";
import { Shell } from "./Shell.tsx";
import { forgetPhotoIndexes } from "./usePhotoIndex.ts";
import { JoinFamily } from "./JoinFamily.tsx";
import { adoptNames, nameTheFamily } from "./names.ts";
import { pendingInvitation } from "../lib/invite.ts";

type State =
  | { status: "signing-in" }
  | { status: "failed"; message: string }
  | { status: "signed-out" }
  /** Not a member of the family that claimed this node. */
  | { status: "outsider" }
  /** No family has claimed this node yet. */
  | { status: "unclaimed" }
  /** No family here yet: it comes from another node of the family (enrolled, or about to be). */
  | { status: "joining" }
  | { status: "member"; me: Me; vault: Vault };

interface Props {
  identity: StoredIdentity;
  onForgotten: () => void;
  /** How to reach the node: HTTP to this page's origin by default, or a data channel to it. */
  transport?: ApiTransport;
}

export function VaultApp({ identity, onForgotten, transport }: Props) {
  const api = useMemo(() => withAutoSignIn(createApi("", transport), identity), [identity, transport]);
  const [state, setState] = useState<State>({ status: "signing-in" });
  // Forgetting the identity also ends its session with the node.
  const forget = useCallback(() => {
    void api.logout().catch(() => undefined);
    void forgetPhotoIndexes();
    onForgotten();
  }, [api, onForgotten]);

  const enter = useCallback(
    async (me: Me): Promise<State> => {
      if (!me.role) return { status: "outsider" };
      const vault = new Vault(api, identity);
      await vault.refresh();
      // Names (issue 15): write the name typed when joining, keep ours sealed to the current key.
      await adoptNames(vault);
      return { status: "member", me, vault };
    },
    [api, identity],
  );

  /** Sign in and enter; refused as not a member, whether a family has claimed the node decides. */
  const signInState = useCallback(
    async (fresh: boolean): Promise<State> => {
      let me: Me;
      try {
        me = fresh ? await signIn(api, identity) : await ensureSignedIn(api, identity);
      } catch (error) {
        if (!isNotAMember(error)) throw error;
        const health = await api.health();
        if (health.claimed) return { status: "outsider" };
        return health.joining ? { status: "joining" } : { status: "unclaimed" };
      }
      return enter(me);
    },
    [api, identity, enter],
  );

  const start = useCallback(
    async (fresh: boolean) => {
      setState({ status: "signing-in" });
      try {
        setState(await signInState(fresh));
      } catch (error) {
        setState({ status: "failed", message: describeError(error) });
      }
    },
    [signInState],
  );

  useEffect(() => {
    let live = true;
    signInState(false).then(
      (next) => {
        if (live) setState(next);
      },
      (error: unknown) => {
        if (live) setState({ status: "failed", message: describeError(error) });
      },
    );
    return () => {
      live = false;
    };
  }, [signInState]);

  return (
    <>
      <BackupBanner identity={identity} />
      {view()}
    </>
  );

  function view() {
    switch (state.status) {
      case "signing-in":
        return (
          <p className="muted" role="status" data-testid="signing-in">
            Signing in to this node…
          </p>
        );
      case "failed":
        return (
          <section className="card notice" role="alert" data-testid="sign-in-failed">
            <h2>Could not sign in</h2>
            <p>{state.message}</p>
            <button type="button" className="primary" data-testid="sign-in-retry" onClick={() => void start(true)}>
              Try again
            </button>
          </section>
        );
      case "signed-out":
        return (
          <section className="card" data-testid="signed-out">
            <h2>You are signed out</h2>
            <p className="muted">Your keys stay in this browser. Sign in again whenever you like.</p>
            <button type="button" className="primary" data-testid="sign-in" onClick={() => void start(true)}>
              Sign in
            </button>
          </section>
        );
      case "unclaimed":
        return (
          <div className="stack" data-testid="vault-entry">
            <ClaimNode
              onClaim={async (code, familyName) => {
                const next = await enter(await claimNode(api, identity, code));
                if (next.status === "member" && familyName !== "") {
                  await nameTheFamily(next.vault, familyName, identity.name);
                }
                setState(next);
              }}
            />
            <details className="card disclosure">
              <summary>Your identity (id, QR code and backup)</summary>
              <IdentityView identity={identity} onForgotten={forget} />
            </details>
          </div>
        );
      case "joining":
        return (
          <div className="stack" data-testid="vault-entry">
            <section className="card" data-testid="joining">
              <h1>This node is joining its family</h1>
              <p>
                It gets the family from another of the family&apos;s nodes, with everything in it, as soon as an admin
                has enrolled it (with <code>make run</code>, that happens by itself once you have claimed Oak). Nothing
                to do here meanwhile.
              </p>
              <p className="muted">
                Then sign in here with the identity you use on that node: restore its backup in this browser if it is
                not this one.
              </p>
              <button type="button" className="primary" data-testid="check-again" onClick={() => void start(true)}>
                Check again
              </button>
            </section>
            <details className="card disclosure">
              <summary>Your identity (id, QR code and backup)</summary>
              <IdentityView identity={identity} onForgotten={forget} />
            </details>
          </div>
        );
      case "outsider": {
        // Opened with an invitation link: ask to join with it instead.
        const invitation = pendingInvitation();
        if (invitation) {
          return (
            <div className="stack" data-testid="vault-entry">
              <JoinFamily
                api={api}
                identity={identity}
                invitation={invitation}
                onJoined={(me) =>
                  void enter(me).then(setState, (error: unknown) =>
                    setState({ status: "failed", message: describeError(error) }),
                  )
                }
              />
              <IdentityView identity={identity} onForgotten={forget} />
            </div>
          );
        }
        return (
          <div className="stack" data-testid="vault-entry">
            <section className="card" data-testid="outsider">
              <h1>Ask an admin to add you</h1>
              <p>
                This node belongs to a family, and you are not a member of it yet. Ask one of its admins for an
                invitation link (<strong>Members → Invite</strong>) and open it in this browser. An admin can also add
                you by hand: they scan the QR code below from your screen, or paste your member card (send it with the{" "}
                <strong>Copy</strong> button beside the QR code). It holds your id and encryption address, nothing
                secret.
              </p>
              <p className="muted">Once they have added you, open the vault:</p>
              <button type="button" className="primary" data-testid="check-again" onClick={() => void start(true)}>
                I have been added: open the vault
              </button>
            </section>
            <IdentityView identity={identity} onForgotten={forget} />
          </div>
        );
      }
      case "member": {
        const session: VaultSession = {
          api,
          vault: state.vault,
          me: state.me,
          identity,
          isAdmin: state.me.role === "admin",
          signOut: async () => {
            await api.logout().catch(() => undefined);
            // The local photo index (sealed) goes with the session.
            await forgetPhotoIndexes();
            setState({ status: "signed-out" });
          },
          forget,
        };
        return (
          <VaultContext.Provider value={session}>
            <Shell />
          </VaultContext.Provider>
        );
      }
    }
  }
}

function ClaimNode({ onClaim }: { onClaim: (code: string, familyName: string) => Promise<void> }) {
  const [code, setCode] = useState("");
  const [familyName, setFamilyName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onClaim(code, familyName.trim());
    } catch (caught) {
      setError(describeError(caught, "claim"));
      setBusy(false);
    }
  };

  return (
    <section className="card claim" data-testid="claim-node" aria-labelledby="claim-title">
      <h1 id="claim-title">Set up your family&apos;s vault</h1>
      <p>
        This node is new: no family has claimed it yet. Claim it with its setup code to found your family. You become
        its first admin, and then you add the others.
      </p>
      <form
        className="claim-form"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <label htmlFor="claim-code">Setup code</label>
        <p className="hint" id="claim-code-hint">
          Printed in the terminal where this node was started, on a line like <code>Setup code: ABCDE-FGHJK</code> (with{" "}
          <code>make run</code>: &ldquo;Oak&apos;s setup code&rdquo;). It works once.
        </p>
        <input
          id="claim-code"
          data-testid="claim-code"
          value={code}
          autoComplete="off"
          spellCheck={false}
          autoCapitalize="characters"
          placeholder="ABCDE-FGHJK"
          aria-describedby="claim-code-hint"
          onChange={(event) => setCode(event.target.value)}
        />
        <label htmlFor="claim-family-name">Your family&apos;s name (you can change it later)</label>
        <input
          id="claim-family-name"
          data-testid="claim-family-name"
          value={familyName}
          maxLength={100}
          placeholder="The Rivers"
          onChange={(event) => setFamilyName(event.target.value)}
        />
        <button type="submit" className="primary" data-testid="claim-submit" disabled={busy || code.trim() === ""}>
          {busy ? "Founding the family…" : "Found the family"}
        </button>
        {error && (
          <p className="form-error" role="alert" data-testid="claim-error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
