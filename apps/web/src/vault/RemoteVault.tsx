/**
 * The vault of a node reached through the hub (`?node=<node id>` on a page the hub served): connect
 * to the hub as this identity, open a data channel to the node, then the usual vault over it. The
 * node serves the channel as this identity, so there is no separate sign-in. A lost channel is
 * re-opened by itself (the vault stays as it was meanwhile).
 */
import { useCallback, useEffect, useState } from "react";
import { HubClient, sameOriginHubUrl } from "../lib/hubClient.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { LastingChannel } from "../lib/lastingChannel.ts";
import { type NodeChannel, type PathKind, openNodeChannel } from "../lib/nodeChannel.ts";
import { describeError } from "../errorMessages.ts";
import { VaultApp } from "./VaultApp.tsx";

type State =
  | { status: "connecting" }
  | { status: "open"; link: LastingChannel<NodeChannel>; path: PathKind | undefined }
  | { status: "reconnecting"; link: LastingChannel<NodeChannel>; message: string; attempt: number }
  | { status: "failed"; message: string };

const PATH_WORDS: Record<PathKind, string> = {
  host: "directly, on the same network",
  srflx: "directly, through NAT",
  // Learned from the other side's checks rather than signalled: direct, not relayed.
  prflx: "directly",
  relay: "through a relay",
};

interface Props {
  identity: StoredIdentity;
  node: string;
  /** Through the relay only (`&via=relay`): the node never learns this browser's addresses. */
  relayOnly?: boolean;
  onForgotten: () => void;
}

export function RemoteVault({ identity, node, relayOnly = false, onForgotten }: Props) {
  const [state, setState] = useState<State>({ status: "connecting" });
  const [attempt, setAttempt] = useState(0);
  const retry = useCallback(() => {
    setState({ status: "connecting" });
    setAttempt((n) => n + 1);
  }, []);

  useEffect(() => {
    const mounted = new AbortController();
    const live = () => !mounted.signal.aborted;
    let hub: HubClient | undefined;
    let link: LastingChannel<NodeChannel> | undefined;
    // A new channel goes through the same hub connection while it lasts, else through a new one.
    const open = async () => {
      if (!hub || hub.closed) {
        hub = await HubClient.connect(sameOriginHubUrl(), { signer: identity, profile: { kind: "browser" } });
      }
      return openNodeChannel({ hub, signer: identity, node, relayOnly });
    };
    const showOpen = async (current: LastingChannel<NodeChannel>, channel: NodeChannel) => {
      const path = await channel.path().catch(() => undefined);
      if (live()) setState({ status: "open", link: current, path });
    };
    void (async () => {
      try {
        const started = await LastingChannel.start({
          open,
          onState: (change) => {
            if (!live() || !link) return;
            if (change.status === "open") void showOpen(link, change.channel);
            else {
              const message = describeError(change.error);
              setState({ status: "reconnecting", link, message, attempt: change.attempt });
            }
          },
        });
        link = started;
        if (!live()) {
          started.close();
          return;
        }
        const channel = started.channelNow;
        if (channel) await showOpen(started, channel);
      } catch (error) {
        if (live()) setState({ status: "failed", message: describeError(error) });
      }
    })();
    return () => {
      mounted.abort();
      link?.close();
      hub?.close();
    };
  }, [identity, node, relayOnly, attempt]);

  switch (state.status) {
    case "connecting":
      return (
        <p className="muted" role="status" data-testid="remote-connecting">
          Reaching your node through the hub…
        </p>
      );
    case "failed":
      return (
        <section className="card notice" role="alert" data-testid="remote-failed">
          <h2>Could not reach the node</h2>
          <p data-testid="remote-error">{state.message}</p>
          <button type="button" className="primary" data-testid="remote-retry" onClick={retry}>
            Try again
          </button>
        </section>
      );
    case "open":
    case "reconnecting":
      return (
        <div className="stack">
          {state.status === "open" ? (
            <p className="muted" data-testid="remote-banner" data-path={state.path ?? ""}>
              Connected to your node {state.path ? PATH_WORDS[state.path] : ""} (through the hub, end to end encrypted).
            </p>
          ) : (
            <p className="notice" role="status" data-testid="remote-reconnecting" data-attempt={state.attempt}>
              The connection to your node was lost; reconnecting… ({state.message})
            </p>
          )}
          <VaultApp identity={identity} onForgotten={onForgotten} transport={state.link} />
        </div>
      );
  }
}
