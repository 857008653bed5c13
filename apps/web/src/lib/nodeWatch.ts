/**
 * Noticing quickly that an open channel's node is gone, from what the hub says, instead of waiting
 * out the connection's own timeouts (ICE and SCTP take 10–30 s to give up on a peer that vanished).
 *
 * - The node's `close` signal for the session: the node ended it, and says why (a stranger's
 *   session closes once its join request is answered, `asked`).
 * - The hub's `peer_gone` for the node's hub connection (`docs/PROTOCOL.md`): the node's socket
 *   closed, as it does at once when the node's process dies. The node may also just have lost its
 *   hub connection while the channel is fine, so the channel is probed: if it does not answer
 *   within `probeMs` *and nothing at all arrived on the channel meanwhile*, it is taken for gone
 *   (a large transfer may keep the probe's answer waiting; its frames show the node is there).
 *
 * Both come through the hub, unsigned: a hostile hub can send them. So a close only ever ends the
 * session with a known code (`CLOSE_CODES`), and its free text is never kept for the page; and a
 * `peer_gone` alone never drops a channel that is still receiving.
 */
import type { HubSignal } from "./hubClient.ts";

/** How long a probe of the channel may take after the hub said the node's connection is gone. */
export const PROBE_MS = 2_000;

/** The close codes the node sends for an open session; any other is taken as `closed`. */
export const CLOSE_CODES = ["asked", "stranger_idle", "closed"] as const;
export type CloseCode = (typeof CLOSE_CODES)[number];

function closeCode(value: unknown): CloseCode {
  return CLOSE_CODES.find((code) => code === value) ?? "closed";
}

/** What the watch needs of the hub connection (`HubClient` has it). */
export interface WatchedHub {
  onSignal(handler: (signal: HubSignal) => void): () => void;
  onMessage(handler: (message: Record<string, unknown>) => void): () => void;
}

/** Why the watch gave up on the channel. */
export type NodeEnd =
  /** The node closed the session, with a known `code` (its text is not kept: see above). */
  | { kind: "closed"; code: CloseCode }
  /** The node left the hub and the channel did not answer the probe. */
  | { kind: "gone" };

export interface WatchOptions {
  hub: WatchedHub;
  /** The node's id, and its hub peer id (the `from` of its answer). */
  node: string;
  nodePeer: string;
  /** The session id of the channel's signals. */
  session: string;
  /** Asks the node something over the channel; resolves if it answered (any status). */
  probe: (signal: AbortSignal) => Promise<unknown>;
  /** How many frames have arrived on the channel so far (any frame shows the node is there). */
  heard: () => number;
  probeMs?: number;
  /** Called once, when the channel should be taken for ended. */
  onEnded: (end: NodeEnd) => void;
}

/** Starts watching; returns the function that stops it. */
export function watchNode(options: WatchOptions): () => void {
  const { hub, node, nodePeer, session, probe, heard, probeMs = PROBE_MS, onEnded } = options;
  let done = false;
  let probing = false;
  const end = (why: NodeEnd) => {
    if (done) return;
    done = true;
    stop();
    onEnded(why);
  };
  const stopSignals = hub.onSignal((signal) => {
    const payload = signal.payload;
    if (signal.fromId !== node || payload["p2pos"] !== "rtc" || payload["session"] !== session) return;
    if (payload["kind"] !== "close") return;
    end({ kind: "closed", code: closeCode(payload["code"]) });
  });
  const stopMessages = hub.onMessage((message) => {
    if (message["type"] !== "peer_gone" || message["peer"] !== nodePeer || probing || done) return;
    probing = true;
    const before = heard();
    let alive = false;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      // Frames arrived meanwhile (the probe's answer may wait behind a transfer): it is there.
      alive = heard() > before;
      abort.abort();
    }, probeMs);
    probe(abort.signal).then(
      () => {
        clearTimeout(timer);
        probing = false; // it answered: only its hub connection went
      },
      () => {
        clearTimeout(timer);
        if (alive) probing = false;
        else end({ kind: "gone" });
      },
    );
  });
  const stop = () => {
    stopSignals();
    stopMessages();
  };
  return () => {
    done = true;
    stop();
  };
}
