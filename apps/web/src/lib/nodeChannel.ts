/**
 * The vault from anywhere: a WebRTC data channel to a node, set up through the hub, that carries
 * the node's own `/v1` requests (`docs/PROTOCOL.md`, "Client sessions"). Used when the node's HTTP
 * origin is out of reach, e.g. the web app was opened from the hub.
 *
 * Both ends bind their DTLS certificate to their key: this browser signs
 * `p2pos-rtc-v1|<identity>|<node>|<fingerprint>` with its identity, the node answers with its node
 * key's signature over `p2pos-rtc-v1|<node>|<identity>|<fingerprint>`, and each side checks the
 * other's against the SDP. The node then serves every request on the channel as this identity.
 *
 * Frames (`crates/p2pos-net/src/webrtc/carrier.rs`): `kind: u8 | id: u32 BE | body`, kinds head (1),
 * data (2), end (3), abort (4), at most 64 KiB each.
 *
 * The connection itself (setup, candidates, connect timeout, back-pressure, path) is a `PeerLink`
 * (`peerLink.ts`); this file owns the vault's signals, its binding and the carrier on top.
 */
import { ApiError, type ApiTransport, type BlobUploadOptions } from "./api.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import { type HubClient, HubError, type HubSignal } from "./hubClient.ts";
import { P2posError } from "./errors.ts";
import {
  CONNECT_TIMEOUT_MS,
  LinkError,
  type PathKind,
  PeerLink,
  checkSignedFingerprint,
  normalizeFingerprint,
  sdpFingerprint,
  signIdentityBinding,
  verifyIdentityBinding,
} from "./peerLink.ts";
import type { RecordSigner } from "./records.ts";
import { type NodeEnd, watchNode } from "./nodeWatch.ts";

export { normalizeFingerprint, sdpFingerprint, type PathKind };

export const CARRIER_LABEL = "p2pos/http";
const MAX_FRAME = 64 * 1024;
const HEADER = 5;
const KIND = { head: 1, data: 2, end: 3, abort: 4 } as const;

export type ChannelErrorCode =
  | "node_offline"
  | "not_a_member"
  | "refused"
  | "binding"
  | "no_path"
  | "closed"
  | "hub"
  /** The node ended an open session on purpose (e.g. a stranger's, once it asked to join). */
  | "ended";

export class ChannelError extends P2posError<ChannelErrorCode> {}

export interface OpenChannelOptions {
  hub: HubClient;
  signer: RecordSigner;
  /** The node's id (its readable Ed25519 key). */
  node: string;
  /** Give up if no channel is open after this long. Default `CONNECT_TIMEOUT_MS` (25 s). */
  timeoutMs?: number;
  /** Use the relay only (never reveal this browser's addresses to the node). Default false. */
  relayOnly?: boolean;
}

/** What each side signs: its own id, the other's, and its DTLS fingerprint. */
export function bindingMessage(from: string, to: string, fingerprint: string): string {
  return `p2pos-rtc-v1|${from}|${to}|${fingerprint}`;
}

/** One frame as a data channel message. */
export function encodeFrame(kind: number, id: number, body: Uint8Array = new Uint8Array()): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEADER + body.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, id);
  out.set(body, HEADER);
  return out;
}

export function decodeFrame(data: ArrayBuffer): { kind: number; id: number; body: Uint8Array<ArrayBuffer> } {
  if (data.byteLength < HEADER || data.byteLength > MAX_FRAME) throw new ChannelError("closed", "Malformed frame.");
  const view = new DataView(data);
  return { kind: view.getUint8(0), id: view.getUint32(1), body: new Uint8Array(data, HEADER) };
}

/** A WebRTC signal to or from the node (`crates/p2pos-net/src/webrtc/signal.rs`). */
interface RtcPayload {
  p2pos?: string;
  session?: string;
  kind?: string;
  sdp?: string;
  fingerprint?: string;
  sig?: string;
  candidates?: RTCIceCandidateInit[];
  code?: string;
  message?: string;
}

interface Exchange {
  status?: number;
  headers?: [string, string][];
  chunks: Uint8Array<ArrayBuffer>[];
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
}

/** An open channel to a node: a `fetch` for its `/v1` API, and the path it took. */
export class NodeChannel implements ApiTransport {
  readonly node: string;
  private readonly link: PeerLink;
  private nextId = 1;
  private readonly exchanges = new Map<number, Exchange>();
  private closedError: Error | undefined;
  private readonly closeHandlers = new Set<(error: Error) => void>();

  private stopWatching: () => void = () => undefined;
  /** Frames received so far (`nodeWatch.ts` takes any for a sign of life). */
  private framesHeard = 0;

  /** Takes over an open link (`openNodeChannel`). */
  constructor(node: string, link: PeerLink) {
    this.node = node;
    this.link = link;
    const lost = () => this.fail(new ApiError(0, "network", "The connection to the node was lost."));
    link.on({
      // Text is not part of the carrier: ignored, as a malformed frame is.
      message: (data) => {
        this.framesHeard += 1;
        if (typeof data !== "string") this.onFrame(data);
      },
      closed: lost,
    });
    if (link.state === "closed") lost();
  }

  /** `fetch` for `/v1/...` paths over the channel. */
  fetch = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const body = init.body === undefined || init.body === null ? undefined : new Blob([init.body as BlobPart]);
    return this.exchange(url, init.method ?? "GET", headerPairs(init.headers), body, init.signal ?? undefined);
  };

  /** A blob upload, with progress as the bytes leave (`BlobUploadOptions`). */
  upload = async (url: string, body: Blob, options: BlobUploadOptions = {}): Promise<Response> =>
    this.exchange(
      url,
      "PUT",
      [
        ["content-type", "application/octet-stream"],
        ["content-length", String(body.size)],
      ],
      body,
      options.signal,
      options.onProgress,
    );

  /** The path the channel takes (`pathFromStats`: the weaker side of the selected pair). */
  async path(): Promise<PathKind | undefined> {
    return this.link.path();
  }

  /**
   * Ends the channel as soon as the hub says its node ended it (`close`) or is gone (`peer_gone`,
   * then a probe it does not answer): `nodeWatch.ts`.
   */
  watch(hub: OpenChannelOptions["hub"], nodePeer: string, session: string): void {
    this.stopWatching();
    this.stopWatching = watchNode({
      hub,
      node: this.node,
      nodePeer,
      session,
      probe: (signal) => this.fetch("/v1/health", { signal }),
      heard: () => this.framesHeard,
      onEnded: (end) => this.fail(endedError(end)),
    });
  }

  onClosed(handler: (error: Error) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  close(): void {
    this.fail(new ApiError(0, "aborted", "The connection was closed."));
    this.link.close();
  }

  private async exchange(
    url: string,
    method: string,
    headers: [string, string][],
    body: Blob | undefined,
    signal: AbortSignal | undefined,
    onProgress?: (sent: number, total: number) => void,
  ): Promise<Response> {
    if (this.closedError) throw this.closedError;
    if (signal?.aborted) throw new ApiError(0, "aborted", "Cancelled.");
    const id = this.nextId++;
    const response = new Promise<Response>((resolve, reject) => {
      this.exchanges.set(id, { chunks: [], resolve, reject });
    });
    const onAbort = () => {
      const exchange = this.exchanges.get(id);
      if (!exchange) return;
      this.exchanges.delete(id);
      this.sendFrame(KIND.abort, id, utf8Encode("cancelled"));
      exchange.reject(new ApiError(0, "aborted", "Cancelled."));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.sendFrame(KIND.head, id, utf8Encode(JSON.stringify({ method, path: url, headers })));
      if (body) {
        let sent = 0;
        const reader = body.stream().getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (let at = 0; at < value.length; at += MAX_FRAME - HEADER) {
            if (!this.exchanges.has(id)) return await response; // aborted or failed meanwhile
            await this.writable();
            const piece = value.subarray(at, Math.min(value.length, at + MAX_FRAME - HEADER));
            this.sendFrame(KIND.data, id, piece);
            sent += piece.length;
          }
          onProgress?.(sent, body.size);
        }
      }
      this.sendFrame(KIND.end, id);
      return await response;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private async writable(): Promise<void> {
    if (this.closedError) throw this.closedError;
    await this.link.drain().catch(() => undefined); // an ended link: `sendFrame` says so
  }

  private sendFrame(kind: number, id: number, body?: Uint8Array): void {
    if (this.closedError) throw this.closedError;
    if (!this.link.isOpen) throw new ApiError(0, "network", "The connection to the node was lost.");
    this.link.send(encodeFrame(kind, id, body));
  }

  private onFrame(data: ArrayBuffer): void {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(data);
    } catch {
      return;
    }
    const exchange = this.exchanges.get(frame.id);
    if (!exchange) return;
    switch (frame.kind) {
      case KIND.head: {
        const head = JSON.parse(new TextDecoder().decode(frame.body)) as {
          status: number;
          headers: [string, string][];
        };
        exchange.status = head.status;
        exchange.headers = head.headers;
        break;
      }
      case KIND.data:
        exchange.chunks.push(frame.body);
        break;
      case KIND.end: {
        this.exchanges.delete(frame.id);
        const status = exchange.status ?? 502;
        const nullBody = status === 204 || status === 304;
        exchange.resolve(
          new Response(nullBody ? null : new Blob(exchange.chunks), { status, headers: exchange.headers ?? [] }),
        );
        break;
      }
      case KIND.abort:
        this.exchanges.delete(frame.id);
        exchange.reject(
          new ApiError(0, "network", `The node gave up on the request: ${new TextDecoder().decode(frame.body)}`),
        );
        break;
    }
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    this.stopWatching();
    for (const [, exchange] of this.exchanges) exchange.reject(error);
    this.exchanges.clear();
    for (const handler of this.closeHandlers) handler(error);
  }
}

/** Why the node's channel ended, for the page (`nodeWatch.ts`). */
export function endedError(end: NodeEnd): Error {
  if (end.kind === "gone") {
    return new ApiError(0, "network", "The node left the hub and no longer answers on its channel.");
  }
  switch (end.code) {
    case "asked":
      return new ChannelError(
        "ended",
        "Your request to join was passed on, and the node closed this connection until it is approved. This page checks by itself.",
      );
    case "stranger_idle":
      return new ChannelError(
        "ended",
        "The node closes the connection of someone who is not a member yet after 30 s without a request to join.",
      );
    default:
      // `closed`, or anything else: the close comes through the hub, its text is never shown.
      return new ChannelError("ended", "The node closed the connection.");
  }
}

function headerPairs(headers: HeadersInit | undefined): [string, string][] {
  return [...new Headers(headers).entries()];
}

async function verifyNodeBinding(node: string, me: string, sdp: string, fingerprint: string, sig: string) {
  const ok = await verifyIdentityBinding(node, bindingMessage(node, me, fingerprint), decodeBase64(sig));
  if (!ok) throw new ChannelError("binding", "The node's answer is not signed by its key: the connection was refused.");
  try {
    checkSignedFingerprint(fingerprint, sdp);
  } catch (error) {
    throw new ChannelError("binding", "The node's answer carries another certificate than it signed.", {
      cause: error,
    });
  }
}

/** Why a link to the node did not open, in the channel's terms. */
function openingError(error: LinkError, timeoutMs: number): ChannelError {
  switch (error.kind) {
    case "timeout":
      return new ChannelError(
        "no_path",
        `No connection to the node within ${Math.round(timeoutMs / 1000)} s (no network path).`,
      );
    case "failed":
      return new ChannelError(
        "no_path",
        `No network path to the node: direct connection failed and no relay worked${error.relayNote}.`,
        { cause: error },
      );
    case "binding":
      return new ChannelError("binding", error.message, { cause: error });
    default:
      return new ChannelError("closed", "The connection to the node closed before it opened.", { cause: error });
  }
}

/** Opens a channel to `node` through `hub`; rejects with a `ChannelError` that says why not. */
export async function openNodeChannel({
  hub,
  signer,
  node,
  timeoutMs = CONNECT_TIMEOUT_MS,
  relayOnly = false,
}: OpenChannelOptions): Promise<NodeChannel> {
  const iceServers = await hub.iceServers().catch((error: unknown) => {
    throw new ChannelError("hub", `The hub gave no ICE servers: ${String(error)}`, { cause: error });
  });
  const session = encodeBase64(crypto.getRandomValues(new Uint8Array(12))).replace(/[+/=]/g, "");
  const tag = { p2pos: "rtc", app: "vault", session };
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const opened = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const fail = (error: Error) => settle?.reject(error);
  const refused = (error: HubError) =>
    fail(
      error.code === "peer_unavailable"
        ? new ChannelError("node_offline", "The node is not connected to the hub: it is off, or offline.")
        : new ChannelError("hub", `The hub refused to pass the request on: ${error.message}`),
    );
  const link = new PeerLink({
    iceServers,
    relayOnly,
    channel: { label: CARRIER_LABEL },
    connectTimeoutMs: timeoutMs,
    // The offer carries this browser's binding: its identity's signature over its fingerprint.
    signal: async (out) => {
      if (out.kind === "candidates") {
        hub.signal(node, { ...tag, kind: "candidates", candidates: out.candidates }, refused);
        return;
      }
      const { sdp } = out;
      const fingerprint = sdpFingerprint(sdp);
      const sig = encodeBase64(
        await signIdentityBinding(signer.signingKey, bindingMessage(signer.id, node, fingerprint)),
      );
      hub.signal(node, { ...tag, kind: "offer", sdp, fingerprint, sig }, refused);
    },
    on: {
      open: () => settle?.resolve(),
      closed: (error) => fail(openingError(error, timeoutMs)),
    },
  });
  let nodePeer: string | undefined;
  const stopListening = hub.onSignal((signal: HubSignal) => {
    const payload = signal.payload as RtcPayload;
    if (signal.fromId !== node || payload.p2pos !== "rtc" || payload.session !== session) return;
    void (async () => {
      try {
        if (payload.kind === "answer") {
          nodePeer = signal.from;
          const { sdp = "", fingerprint = "", sig = "" } = payload;
          await verifyNodeBinding(node, signer.id, sdp, fingerprint, sig);
          await link.applyAnswer(sdp);
        } else if (payload.kind === "candidates") {
          link.addCandidates(payload.candidates ?? []);
        } else if (payload.kind === "close") {
          const code = payload.code ?? "closed";
          const message = payload.message ?? "";
          fail(
            code === "not_a_member"
              ? new ChannelError("not_a_member", "This identity is not a member of the family on that node.")
              : new ChannelError(
                  "refused",
                  `The node closed the connection (${code}${message ? `: ${message}` : ""}).`,
                ),
          );
        }
      } catch (error) {
        fail(error instanceof Error ? error : new ChannelError("binding", String(error)));
      }
    })();
  });
  try {
    await link.offer();
    await opened;
    const channel = new NodeChannel(node, link);
    if (nodePeer !== undefined) channel.watch(hub, nodePeer, session);
    return channel;
  } catch (error) {
    hub.signal(node, { ...tag, kind: "close", code: "closed", message: "gave up" });
    link.close();
    throw error instanceof LinkError ? openingError(error, timeoutMs) : error;
  } finally {
    stopListening();
  }
}
