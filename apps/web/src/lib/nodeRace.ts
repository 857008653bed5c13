/**
 * Opening the family's vault through whichever of its nodes answers first. Every node named by the
 * family link is tried at once; the first channel on a direct path (LAN or through NAT) wins at
 * once, and a relayed one wins only if no direct one opens within a short grace. Channels that open
 * after the choice are closed. Nothing here trusts the hub: each channel proves its node's key
 * (`nodeChannel.ts`), and only the nodes the link names are tried.
 */
import { ChannelError, type ChannelErrorCode } from "./nodeChannel.ts";

export interface RaceOptions<C> {
  /** The nodes to try, in the link's order (the order breaks no ties: the first to open wins). */
  nodes: readonly string[];
  /** Opens a channel to one node; rejects with why it could not. */
  open: (node: string) => Promise<C>;
  /** Whether an open channel runs directly (not through the relay). */
  isDirect: (channel: C) => Promise<boolean>;
  close: (channel: C) => void;
  /** How long a relayed channel waits for a direct one. Default `DIRECT_GRACE_MS`. */
  graceMs?: number;
}

export interface RaceWinner<C> {
  node: string;
  channel: C;
}

/** How long a relayed channel waits for another node to answer directly. */
export const DIRECT_GRACE_MS = 1500;

/** When every node fails, the reason that tells the person the most comes first. */
const RELEVANCE: readonly ChannelErrorCode[] = ["not_a_member", "binding", "refused", "no_path", "hub", "closed"];

export function openFirstNode<C>(options: RaceOptions<C>): Promise<RaceWinner<C>> {
  const { nodes, open, isDirect, close, graceMs = DIRECT_GRACE_MS } = options;
  if (nodes.length === 0) return Promise.reject(new ChannelError("node_offline", "The link names no node."));
  return new Promise((resolve, reject) => {
    let settled = false;
    let relayed: RaceWinner<C> | undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;
    let pending = nodes.length;
    const errors: unknown[] = [];
    const win = (winner: RaceWinner<C>) => {
      settled = true;
      clearTimeout(grace);
      if (relayed && relayed !== winner) close(relayed.channel);
      resolve(winner);
    };
    const finishIfDone = () => {
      if (settled || pending > 0) return;
      if (relayed) win(relayed);
      else {
        settled = true;
        reject(mostRelevant(errors, nodes.length));
      }
    };
    for (const node of nodes) {
      void open(node)
        .then(async (channel) => {
          const direct = await isDirect(channel).catch(() => false);
          pending--;
          if (settled) close(channel);
          else if (direct) win({ node, channel });
          else if (relayed) close(channel);
          else {
            relayed = { node, channel };
            grace = setTimeout(() => {
              if (!settled && relayed) win(relayed);
            }, graceMs);
            finishIfDone();
          }
        })
        .catch((error: unknown) => {
          pending--;
          errors.push(error);
          finishIfDone();
        });
    }
  });
}

function mostRelevant(errors: readonly unknown[], tried: number): Error {
  const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));
  if (errors.length === 1) return asError(errors[0]);
  const rank = (error: unknown) => {
    const index = error instanceof ChannelError ? RELEVANCE.indexOf(error.kind) : -1;
    return index < 0 ? RELEVANCE.length : index;
  };
  const best = [...errors].sort((a, b) => rank(a) - rank(b))[0];
  if (best instanceof ChannelError) {
    return new ChannelError(best.kind, `None of the family's ${tried} nodes could be reached. ${best.message}`, {
      cause: best,
    });
  }
  return asError(best);
}
