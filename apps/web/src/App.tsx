/**
 * The first screen: who am I on this browser? Without an identity, create or restore one; with
 * one, sign in to the node and open the vault (src/vault). All the work happens in src/lib; this
 * only sequences it.
 */
import { useEffect, useState } from "react";
import { loadIdentity, type StoredIdentity } from "./lib/identity.ts";
import { checkWebCryptoSupport } from "./lib/keys.ts";
import { vaultEntry } from "./lib/vaultEntry.ts";
import { Welcome } from "./components/Welcome.tsx";
import { BackupStep } from "./components/BackupStep.tsx";
import { useBackupState } from "./components/useBackupState.ts";
import { describeError } from "./errorMessages.ts";
import { RemoteVault } from "./vault/RemoteVault.tsx";
import { VaultApp } from "./vault/VaultApp.tsx";
import { GalleryApp } from "./gallery/GalleryApp.tsx";
import { DropApp } from "./drop/DropApp.tsx";
import { isDropPath } from "./drop/protocol.ts";
import { ChatApp } from "./chat/ChatApp.tsx";

type State =
  | { status: "loading" }
  | { status: "unsupported"; reason: string }
  | { status: "failed"; message: string }
  | { status: "none" }
  | { status: "ready"; identity: StoredIdentity };

export function App() {
  // The gallery needs no family identity or vault: route it before any of that.
  if (location.pathname.startsWith("/gallery")) return <GalleryApp />;
  // Drop needs no identity and no vault either.
  if (isDropPath(location.pathname)) return <DropApp />;
  // Chat uses the vault's identity if there is one (or makes one), but no vault: route it here too.
  if (location.pathname === "/chat" || location.pathname.startsWith("/chat/")) return <ChatApp />;
  return <FamilyApp />;
}

function FamilyApp() {
  const [state, setState] = useState<State>({ status: "loading" });

  useEffect(() => {
    // StrictMode mounts twice in development; only the surviving effect may set state.
    const mounted = new AbortController();
    const settle = (next: State) => {
      if (!mounted.signal.aborted) setState(next);
    };
    void (async () => {
      const support = await checkWebCryptoSupport();
      if (!support.ok) {
        settle({ status: "unsupported", reason: support.reason });
        return;
      }
      try {
        const identity = await loadIdentity();
        settle(identity ? { status: "ready", identity } : { status: "none" });
      } catch (error) {
        settle({ status: "failed", message: describeError(error) });
      }
    })();
    return () => mounted.abort();
  }, []);

  return (
    <div className="page">
      <header className="masthead">
        <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={32} height={32} />
        <div>
          <p className="brand">P2POS</p>
          <p className="tagline">Your family's photos, on machines you own.</p>
        </div>
      </header>
      <main>{renderState(state, setState)}</main>
    </div>
  );
}

function renderState(state: State, setState: (state: State) => void) {
  switch (state.status) {
    case "loading":
      return (
        <p className="muted" role="status">
          Opening your keys…
        </p>
      );
    case "unsupported":
      return (
        <section className="card notice" role="alert">
          <h1>This browser cannot hold your keys</h1>
          <p>{state.reason}</p>
          <p>Use a current Chrome, Chromium, Edge, Firefox or Safari.</p>
        </section>
      );
    case "failed":
      return (
        <section className="card notice" role="alert">
          <h1>Your identity could not be opened</h1>
          <p>{state.message}</p>
        </section>
      );
    case "none":
      return <Welcome onReady={(identity) => setState({ status: "ready", identity })} />;
    case "ready":
      return (
        <Ready key={state.identity.id} identity={state.identity} onForgotten={() => setState({ status: "none" })} />
      );
  }
}

/** An identity is here: first its backup, if it has none yet; then the vault. */
function Ready({ identity, onForgotten }: { identity: StoredIdentity; onForgotten: () => void }) {
  const backup = useBackupState(identity);
  // Asked once per visit: "Check it later" goes on, and the banner stays on every vault page.
  const [stepDone, setStepDone] = useState(backup !== "none");
  if (!stepDone) return <BackupStep identity={identity} onDone={() => setStepDone(true)} />;
  // `?node=<id>` or `?nodes=<id>,…`: the page came from the hub; the vault is that node's, or the
  // family's through whichever node answers, over a data channel.
  const entry = vaultEntry(location.search);
  switch (entry.kind) {
    case "local":
      return <VaultApp identity={identity} onForgotten={onForgotten} />;
    case "remote":
      return (
        <RemoteVault identity={identity} nodes={entry.nodes} relayOnly={entry.relayOnly} onForgotten={onForgotten} />
      );
    case "invalid":
      return (
        <section className="card notice" role="alert" data-testid="link-invalid">
          <h1>This link does not work</h1>
          <p>{entry.message}</p>
          <p>Ask whoever sent it for the link again, or open it from the Nodes page of your vault.</p>
        </section>
      );
  }
}
