/**
 * A client of the hub's native protocol v1 (`docs/PROTOCOL.md`): `hello`, optionally `auth` as
 * this browser's identity (Ed25519 over `p2pos-hub-auth-v2|<hub origin>|<challenge>`), then requests that echo
 * a `rid`, signals to other peers, and the events the hub pushes (signals, presence, room closed).
 */
import { encodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import { P2posError } from "./errors.ts";
import type { RecordSigner } from "./records.ts";

export type HubErrorCode =
  | "unreachable"
  | "closed"
  | "timeout"
  | "auth_failed"
  | "peer_unavailable"
  | "not_allowed"
  | "rate_limited"
  | (string & {});

export class HubError extends P2posError<HubErrorCode> {
  get code(): HubErrorCode {
    return this.kind;
  }
}

/** An ICE server as the hub hands it out (TURN entries carry short-lived REST credentials). */
export interface IceServerInit {
  urls: string[];
  username?: string;
  credential?: string;
}

/** A signal from another peer: `fromId` is the identity the hub proved for it, if any. */
export interface HubSignal {
  from: string;
  fromId?: string;
  payload: Record<string, unknown>;
}

type Message = Record<string, unknown> & { type: string; rid?: number };

/** A field of a hub message as text, or `fallback` when it is not a string. */
const text = (value: unknown, fallback: string): string => (typeof value === "string" ? value : fallback);

export interface HubConnectOptions {
  /** What others see in presence (a small JSON object). */
  profile?: Record<string, unknown>;
  /** Prove this identity to the hub, so peers see `from_id` on this browser's signals. */
  signer?: RecordSigner;
  /** Give up connecting after this long. Default 10 s. */
  timeoutMs?: number;
}

/** The URL of the hub that served this page: `ws(s)://<host>/v1/ws`. */
export function sameOriginHubUrl(location: Pick<Location, "protocol" | "host"> = globalThis.location): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
}

/**
 * The link that opens `node`'s vault from anywhere: the web app as the hub serves it, with
 * `?node=<id>` (`wss://hub.example.org/v1/ws` → `https://hub.example.org/?node=…`). `undefined` for
 * a hub URL that is not ws(s).
 */
export function vaultLinkThroughHub(hubUrl: string, node: string): string | undefined {
  let url: URL;
  try {
    url = new URL(hubUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return undefined;
  const scheme = url.protocol === "wss:" ? "https:" : "http:";
  const base = url.pathname.replace(/\/?v1\/ws\/?$/, "").replace(/\/$/, "");
  return `${scheme}//${url.host}${base}/?node=${encodeURIComponent(node)}`;
}

/**
 * The origin of a hub URL as a login names it: `scheme://host[:port]`, `ws` → `http`, `wss` →
 * `https` (`wss://hub.example.org/v1/ws` → `https://hub.example.org`). Throws a `HubError` for
 * anything but a ws, wss, http or https URL.
 */
export function hubOrigin(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HubError("unexpected", `${url} is not a hub URL.`);
  }
  const scheme = { "ws:": "http:", "wss:": "https:", "http:": "http:", "https:": "https:" }[parsed.protocol];
  if (scheme === undefined || parsed.host === "") throw new HubError("unexpected", `${url} is not a hub URL.`);
  return `${scheme}//${parsed.host}`;
}

/**
 * The exact text signed to log in at the hub reached at `origin` (`hubOrigin`), answering its
 * `challenge` (`crates/p2pos-signal`, native auth). Naming the hub means a rogue hub that passes
 * another hub's challenge on gets a signature that works only at itself.
 */
export function hubAuthMessage(origin: string, challenge: string): string {
  return `p2pos-hub-auth-v2|${origin}|${challenge}`;
}

export class HubClient {
  /** This connection's hub-assigned peer id. */
  readonly peer: string;
  /** The identity proven on this connection, if any. */
  readonly identity: string | undefined;

  private readonly socket: WebSocket;
  private nextRid = 1;
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: HubError) => void }>();
  private readonly signalHandlers = new Set<(signal: HubSignal) => void>();
  private readonly messageHandlers = new Set<(message: Message) => void>();
  private readonly closeHandlers = new Set<(reason: string) => void>();
  private closedReason: string | undefined;

  private constructor(socket: WebSocket, peer: string, identity: string | undefined) {
    this.socket = socket;
    this.peer = peer;
    this.identity = identity;
    socket.addEventListener("message", (event) => this.handleMessage(event));
    socket.addEventListener("close", (event) => this.onClose(event.reason || `closed (${event.code})`));
  }

  /** Connects, says hello and, with a signer, authenticates. */
  static async connect(url: string, options: HubConnectOptions = {}): Promise<HubClient> {
    const socket = new WebSocket(url);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const inbox: Message[] = [];
    let wake: (() => void) | undefined;
    let failure: HubError | undefined;
    const onMessage = (event: MessageEvent) => {
      try {
        inbox.push(JSON.parse(String(event.data)) as Message);
      } catch {
        failure = new HubError("unexpected", "The hub sent something that is not JSON.");
      }
      wake?.();
    };
    const onClose = (event: CloseEvent) => {
      failure ??= new HubError(
        "unreachable",
        `The hub closed the connection: ${event.reason || `code ${event.code}`}.`,
      );
      wake?.();
    };
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", onClose);
    const deadline = Date.now() + timeoutMs;
    const next = async (): Promise<Message> => {
      let message = inbox.shift();
      while (message === undefined) {
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) throw new HubError("timeout", "The hub did not answer in time.");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, left);
        });
        message = inbox.shift();
      }
      if (message.type === "error") {
        throw new HubError(text(message["code"], "error"), text(message["message"], "The hub refused."));
      }
      return message;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("close", () => reject(failure ?? new HubError("unreachable", "No hub there.")), {
          once: true,
        });
        setTimeout(() => reject(new HubError("timeout", "The hub did not answer in time.")), timeoutMs);
      });
      socket.send(JSON.stringify({ type: "hello", v: 1, profile: options.profile ?? {} }));
      const welcome = await next();
      if (welcome.type !== "welcome") throw new HubError("unexpected", `The hub said ${welcome.type} to hello.`);
      let identity: string | undefined;
      if (options.signer) {
        // The URL the socket really opened (a relative one resolved): the hub this browser talks to.
        const message = utf8Encode(hubAuthMessage(hubOrigin(socket.url), String(welcome["challenge"])));
        const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, options.signer.signingKey, message));
        socket.send(JSON.stringify({ type: "auth", rid: 0, id: options.signer.id, sig: encodeBase64(sig) }));
        const authed = await next();
        if (authed.type !== "authed") throw new HubError("unexpected", `The hub said ${authed.type} to auth.`);
        identity = String(authed["id"]);
      }
      socket.removeEventListener("message", onMessage);
      socket.removeEventListener("close", onClose);
      const client = new HubClient(socket, String(welcome["peer"]), identity);
      for (const early of inbox) client.dispatch(early);
      return client;
    } catch (error) {
      socket.close();
      if (error instanceof HubError) throw error;
      throw new HubError("unreachable", "The hub could not be reached.", { cause: error });
    }
  }

  /** Sends a request and resolves with the hub's reply to it (or rejects with its error). */
  request(message: Message, timeoutMs = 10_000): Promise<Message> {
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new HubError("timeout", "The hub did not answer in time."));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.send({ ...message, rid })) {
        this.pending.delete(rid);
        clearTimeout(timer);
        reject(new HubError("closed", this.closedReason ?? "The hub connection is closed."));
      }
    });
  }

  /** ICE servers with fresh TURN credentials. */
  async iceServers(): Promise<IceServerInit[]> {
    const reply = await this.request({ type: "turn" });
    return (reply["ice_servers"] as IceServerInit[] | undefined) ?? [];
  }

  /**
   * Sends a signal. The hub answers only when it refuses one (`peer_unavailable`, `not_allowed`):
   * `onRefused` then gets the error.
   */
  signal(to: string, payload: Record<string, unknown>, onRefused?: (error: HubError) => void): void {
    const rid = this.nextRid++;
    if (onRefused) {
      this.pending.set(rid, { resolve: () => undefined, reject: onRefused });
      // Refusals come at once; forget the rid after a while so the map does not grow.
      setTimeout(() => this.pending.delete(rid), 30_000);
    }
    if (!this.send({ type: "signal", rid, to, payload }) && onRefused) {
      this.pending.delete(rid);
      onRefused(new HubError("closed", this.closedReason ?? "The hub connection is closed."));
    }
  }

  onSignal(handler: (signal: HubSignal) => void): () => void {
    this.signalHandlers.add(handler);
    return () => this.signalHandlers.delete(handler);
  }

  /** Every other message the hub pushes (presence, room_closed, …). */
  onMessage(handler: (message: Message) => void): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  onClosed(handler: (reason: string) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  close(): void {
    this.socket.close(1000, "bye");
  }

  private send(message: Message): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private handleMessage(event: MessageEvent): void {
    let message: Message;
    try {
      message = JSON.parse(String(event.data)) as Message;
    } catch {
      return;
    }
    this.dispatch(message);
  }

  private dispatch(message: Message): void {
    const waiter = typeof message.rid === "number" ? this.pending.get(message.rid) : undefined;
    if (waiter && typeof message.rid === "number") {
      this.pending.delete(message.rid);
      if (message.type === "error") {
        waiter.reject(new HubError(text(message["code"], "error"), text(message["message"], "The hub refused.")));
      } else {
        waiter.resolve(message);
      }
      return;
    }
    if (message.type === "signal") {
      const signal: HubSignal = {
        from: String(message["from"]),
        payload: (message["payload"] ?? {}) as Record<string, unknown>,
        ...(typeof message["from_id"] === "string" ? { fromId: message["from_id"] } : {}),
      };
      for (const handler of this.signalHandlers) handler(signal);
      return;
    }
    for (const handler of this.messageHandlers) handler(message);
  }

  private onClose(reason: string): void {
    this.closedReason = reason;
    for (const [, waiter] of this.pending)
      waiter.reject(new HubError("closed", `The hub connection closed: ${reason}.`));
    this.pending.clear();
    for (const handler of this.closeHandlers) handler(reason);
  }
}
