/**
 * Everything after the identity screen: sign in (automatically), claim a fresh node, then the vault
 * pages. The node signs in members only (`not_a_member` otherwise): on a node no family has claimed
 * yet that means the claim form; on a claimed one, the identity to give an admin and "check again".
 */
import { useCallback, useEffect, useMemo, useState } from "react";
import { type ApiTransport, createApi } from "../lib/api.ts";
import type { Me } from "../lib/apiTypes.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { ensureSignedIn, isNotAMember, signIn, withAutoSignIn } from "../lib/session.ts";
import { Vault, claimNode } from "../lib/vault.ts";
import { IdentityView } from "../components/IdentityView.tsx";
import { describeError } from "../errorMessages.ts";
import { VaultContext, type VaultSession } from "./context.ts";
import { Shell } from "./Shell.tsx";
import { JoinFamily } from "./JoinFamily.tsx";
import { adoptNames } from "./names.ts";
import { pendingInvitation } from "../lib/invite.ts";

type State =
  | { status: "signing-in" }
  | { status: "failed"; message: string }
  | { status: "signed-out" }
  /** Not a member of the family that claimed this node. */
  | { status: "outsider" }
  /** No family has claimed this node yet. */
  | { status: "unclaimed" }
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
        return (await api.health()).claimed ? { status: "outsider" } : { status: "unclaimed" };
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
            onClaim={async (code) => {
              setState(await enter(await claimNode(api, identity, code)));
            }}
          />
          <IdentityView identity={identity} onForgotten={forget} />
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
            <h2>Not a member of this family yet</h2>
            <p className="muted">
              This node belongs to a family you are not a member of. Send an admin of the family your id and encryption
              address below (or let them scan the QR code); once they have added you, check again.
            </p>
            <button type="button" className="primary" data-testid="check-again" onClick={() => void start(true)}>
              Check again
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

function ClaimNode({ onClaim }: { onClaim: (code: string) => Promise<void> }) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onClaim(code);
    } catch (caught) {
      setError(describeError(caught, "claim"));
      setBusy(false);
    }
  };

  return (
    <section className="card" data-testid="claim-node">
      <h2>This node has no family yet</h2>
      <form
        className="claim-form"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <h3>Is this your new node?</h3>
        <p className="muted">
          Enter the setup code <code>p2pos node</code> printed when it started. You will found the family and become its
          first admin.
        </p>
        <label htmlFor="claim-code">Setup code</label>
        <input
          id="claim-code"
          data-testid="claim-code"
          value={code}
          autoComplete="off"
          spellCheck={false}
          placeholder="ABCDE-FGHJK"
          onChange={(event) => setCode(event.target.value)}
        />
        <button type="submit" className="primary" data-testid="claim-submit" disabled={busy || code.trim() === ""}>
          {busy ? "Founding the family…" : "Claim this node"}
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
