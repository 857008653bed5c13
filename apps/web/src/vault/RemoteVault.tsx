/**
 * The vault of a family's node reached through the hub (`?node=<id>` or the family link
 * `?nodes=<id>,…` on a page the hub served): connect to the hub as this identity, open a data
 * channel to the node (with several, to whichever answers first, preferring a direct path:
 * `nodeRace.ts`), then the usual vault over it. The node serves the channel as this identity, so
 * there is no separate sign-in. A lost channel is re-opened by itself, to any of the nodes, so
 * when the node in use goes away the page goes on with another; the vault stays as it was
 * meanwhile (the open album, the upload queue, whose uploads retry on the new node).
 */
import { useCallback, useEffect, useState } from "react";
import { HubClient, sameOriginHubUrl } from "../lib/hubClient.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import { LastingChannel } from "../lib/lastingChannel.ts";
import { ChannelError, type NodeChannel, type PathKind, openNodeChannel } from "../lib/nodeChannel.ts";
import { openFirstNode } from "../lib/nodeRace.ts";
import { describeError } from "../errorMessages.ts";
import { VaultApp } from "./VaultApp.tsx";

type State =
  | { status: "connecting" }
  | { status: "open"; link: LastingChannel<NodeChannel>; path: PathKind | undefined; node: Serving }
  /** `ended`: the node closed the session on purpose (its message says why), nothing broke. */
  | { status: "reconnecting"; link: LastingChannel<NodeChannel>; message: string; attempt: number; ended: boolean }
  | { status: "failed"; message: string };

/** The node a channel reached, and its name as it gives it. */
interface Serving {
  id: string;
  name: string | undefined;
}

const PATH_WORDS: Record<PathKind, string> = {
  host: "directly, on the same network",
  srflx: "directly, through NAT",
  // Learned from the other side's checks rather than signalled: direct, not relayed.
  prflx: "directly",
  relay: "through a relay",
};

interface Props {
  identity: StoredIdentity;
  /** The nodes to try: one (the node link) or the family's (the family link). */
  nodes: readonly string[];
  /** Through the relay only (`&via=relay`): the node never learns this browser's addresses. */
  relayOnly?: boolean;
  onForgotten: () => void;
}

export function RemoteVault({ identity, nodes, relayOnly = false, onForgotten }: Props) {
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
    const serving = new WeakMap<NodeChannel, string>();
    // A new channel goes through the same hub connection while it lasts, else through a new one.
    const open = async () => {
      if (!hub || hub.closed) {
        hub = await HubClient.connect(sameOriginHubUrl(), { signer: identity, profile: { kind: "browser" } });
      }
      const through = hub;
      const won = await openFirstNode({
        nodes,
        open: (node) => openNodeChannel({ hub: through, signer: identity, node, relayOnly }),
        isDirect: async (channel) => (await channel.path()) !== "relay",
        close: (channel) => channel.close(),
      });
      serving.set(won.channel, won.node);
      return won.channel;
    };
    const showOpen = async (current: LastingChannel<NodeChannel>, channel: NodeChannel) => {
      const path = await channel.path().catch(() => undefined);
      const node = { id: serving.get(channel) ?? "", name: await nodeName(channel) };
      if (live() && current.channelNow === channel) setState({ status: "open", link: current, path, node });
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
              const ended = change.error instanceof ChannelError && change.error.kind === "ended";
              setState({ status: "reconnecting", link, message, attempt: change.attempt, ended });
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
  }, [identity, nodes, relayOnly, attempt]);

  switch (state.status) {
    case "connecting":
      return (
        <p className="muted" role="status" data-testid="remote-connecting">
          {nodes.length > 1 ? "Reaching your family's nodes through the hub…" : "Reaching your node through the hub…"}
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
            <p className="muted" data-testid="remote-banner" data-path={state.path ?? ""} data-node={state.node.id}>
              Connected to {state.node.name ?? "your node"} {state.path ? PATH_WORDS[state.path] : ""} (through the hub,
              end to end encrypted).
            </p>
          ) : state.ended ? (
            <p className="muted" role="status" data-testid="remote-reconnecting" data-attempt={state.attempt}>
              {state.message}
            </p>
          ) : (
            <p className="notice" role="status" data-testid="remote-reconnecting" data-attempt={state.attempt}>
              The connection to your node was lost; reconnecting
              {nodes.length > 1 ? " to any of the family's nodes" : ""}… ({state.message})
            </p>
          )}
          <VaultApp identity={identity} onForgotten={onForgotten} transport={state.link} />
        </div>
      );
  }
}

/** The node's own name (`GET /v1/nodes`), or `undefined` if it does not say. */
async function nodeName(channel: NodeChannel): Promise<string | undefined> {
  try {
    const response = await channel.fetch("/v1/nodes");
    if (!response.ok) return undefined;
    const body = (await response.json()) as { me?: { name?: unknown } };
    return typeof body.me?.name === "string" && body.me.name !== "" ? body.me.name : undefined;
  } catch {
    return undefined;
  }
}
