/**
 * A client of the hub's native protocol v1 (`docs/PROTOCOL.md`): `hello`, optionally `auth` as
 * this browser's identity (Ed25519 over `p2pos-hub-auth-v2|<hub origin>|<challenge>`), then requests that echo
 * a `rid`, signals to other peers, and the events the hub pushes (signals, presence, room closed).
 *
 * Joining `network` or an `rv:` name needs a beacon token from the hub that served the page
 * (`GET /v1/beacon`); this client fetches one, keeps it while it is valid and adds it to such a
 * `join` (also one sent through `request`), so callers never handle tokens. A socket the hub closes
 * for a bad token (4012) fails its pending requests with the `beacon` error code.
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
  | "beacon"
  | "bad_proof"
  | "already_joined"
  | "too_many_contacts"
  | (string & {});

/** The WebSocket close code of a refused beacon token (missing, stale, forged, another origin). */
export const BEACON_CLOSE_CODE = 4012;

/**
 * Who may signal this connection by its identity: peers sharing a namespace (`shared`, the
 * default), anyone (`anyone`, nodes), or only the identities of its `contacts` list (`contacts`).
 */
export type HubAllow = "shared" | "anyone" | "contacts";

/** What `GET /v1/beacon` hands a page of the hub. */
export interface BeaconGrant {
  /** `b1.<slot>.<mac>`, for `join` of `network` and `rv:` names. */
  token: string;
  slotSecs: number;
  /** Seconds from the fetch until the hub stops taking the token (600–1,200). */
  expiresInSecs: number;
  /** The hub's other origins (e.g. its IPv6 address beside its IPv4 one), for network proofs. */
  altOrigins: string[];
}

/** The optional fields of a `join` (`network` only, except `beacon`). */
export interface JoinOptions {
  /** A beacon token; fetched from the hub when a namespace needs one and none is given. */
  beacon?: string;
  /** Network proofs (`GET /v1/network-proof` on the hub's other origins), at most 2. */
  also?: string[];
  /** Watch `network` without being listed to others. */
  hidden?: boolean;
}

/** A peer in `joined` and `presence`; `id` is never there in `network`. */
export interface HubPeer {
  peer: string;
  id?: string;
  profile?: Record<string, unknown>;
}

/** Whether a `join` of `ns` needs a beacon token (`network` and every `rv:` name). */
export function needsBeacon(ns: string): boolean {
  return ns === "network" || ns.startsWith("rv:");
}

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
  /** With a signer: who may signal this browser by its identity. Default `shared` (not sent). */
  allow?: HubAllow;
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
  const page = hubPage(hubUrl);
  return page && `${page}?node=${encodeURIComponent(node)}`;
}

/**
 * The family's one link: the hub's page with every node of the family (`?nodes=<id>,<id>`). It
 * opens the vault through whichever of them answers first, and moves to another when that one goes
 * away (`vaultEntry.ts`, `nodeRace.ts`).
 */
export function familyLinkThroughHub(hubUrl: string, nodes: readonly string[]): string | undefined {
  const page = hubPage(hubUrl);
  return page && `${page}?nodes=${nodes.map(encodeURIComponent).join(",")}`;
}

/** `wss://hub.example.org/v1/ws` → `https://hub.example.org/`; `undefined` for anything but ws(s). */
function hubPage(hubUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(hubUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return undefined;
  const scheme = url.protocol === "wss:" ? "https:" : "http:";
  const base = url.pathname.replace(/\/?v1\/ws\/?$/, "").replace(/\/$/, "");
  return `${scheme}//${url.host}${base}/`;
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

/** The http(s) origin of a hub URL, where its HTTP endpoints are (`ws://h:1/v1/ws` → `http://h:1`). */
export function hubHttpBase(hubUrl: string): string {
  return hubOrigin(hubUrl);
}

/** A field of a JSON object as a string array, or `undefined` when it is not one. */
const strings = (value: unknown): string[] | undefined =>
  Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;

/**
 * Fetches a beacon token for this page from the hub at `hubUrl` (which must have served the page:
 * the hub sends no CORS headers here). The page names its origin, since a same-origin GET carries
 * no `Origin` and the app sends no `Referer`. Throws a `HubError` `beacon` when the hub refuses.
 */
export async function fetchBeacon(
  hubUrl: string,
  pageOrigin: string | undefined = (globalThis as { location?: Pick<Location, "origin"> }).location?.origin,
): Promise<BeaconGrant> {
  const query = pageOrigin === undefined ? "" : `?origin=${encodeURIComponent(pageOrigin)}`;
  let response: Response;
  try {
    response = await fetch(`${hubHttpBase(hubUrl)}/v1/beacon${query}`, { cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new HubError("beacon", "The hub's beacon could not be fetched (is this page served by the hub?).", {
      cause: error,
    });
  }
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  const token = body["token"];
  if (!response.ok || typeof token !== "string") {
    throw new HubError("beacon", text(body["message"], `The hub refused a beacon token (HTTP ${response.status}).`));
  }
  return {
    token,
    slotSecs: typeof body["slot_secs"] === "number" ? body["slot_secs"] : 600,
    expiresInSecs: typeof body["expires_in_secs"] === "number" ? body["expires_in_secs"] : 0,
    altOrigins: strings(body["alt_origins"]) ?? [],
  };
}

/**
 * A proof of this browser's address as the hub at `origin` sees it (one of the hub's other
 * origins, e.g. its IPv6 one), for `join` of `network` with `also`. Valid for 60 s.
 */
export async function fetchNetworkProof(origin: string): Promise<string> {
  let body: Record<string, unknown>;
  try {
    const response = await fetch(`${hubHttpBase(origin)}/v1/network-proof`, { cache: "no-store", credentials: "omit" });
    body = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw new HubError("unreachable", `No network proof from ${origin}.`, { cause: error });
  }
  if (typeof body["proof"] !== "string") throw new HubError("unexpected", `${origin} sent no network proof.`);
  return body["proof"];
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
  private closedCode: number | undefined;
  /** The beacon token in use and when it stops being good (ms since the epoch). */
  private beacon: { token: string; until: number } | undefined;
  private beaconFetch: Promise<string> | undefined;

  private constructor(socket: WebSocket, peer: string, identity: string | undefined) {
    this.socket = socket;
    this.peer = peer;
    this.identity = identity;
    socket.addEventListener("message", (event) => this.handleMessage(event));
    socket.addEventListener("close", (event) => this.onClose(event.code, event.reason || `closed (${event.code})`));
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
        const allow = options.allow === undefined || options.allow === "shared" ? {} : { allow: options.allow };
        socket.send(JSON.stringify({ type: "auth", rid: 0, id: options.signer.id, sig: encodeBase64(sig), ...allow }));
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

  /**
   * Sends a request and resolves with the hub's reply to it (or rejects with its error). A `join`
   * of `network` or an `rv:` name without a `beacon` gets this page's token first.
   */
  request(message: Message, timeoutMs = 10_000): Promise<Message> {
    const ns = message["ns"];
    if (message.type === "join" && typeof ns === "string" && needsBeacon(ns) && message["beacon"] === undefined) {
      return this.beaconToken().then((beacon) => this.send1({ ...message, beacon }, timeoutMs));
    }
    return this.send1(message, timeoutMs);
  }

  /**
   * Joins `ns` and resolves with the peers there (in `network`: without identities, and a peer
   * present in two network namespaces once, deduplicated by `peer`).
   */
  async join(ns: string, options: JoinOptions = {}): Promise<HubPeer[]> {
    const message: Message = { type: "join", ns };
    if (options.beacon !== undefined) message["beacon"] = options.beacon;
    if (options.also !== undefined && options.also.length > 0) message["also"] = options.also;
    if (options.hidden === true) message["hidden"] = true;
    const joined = await this.request(message);
    const peers = Array.isArray(joined["peers"]) ? (joined["peers"] as HubPeer[]) : [];
    const seen = new Set<string>();
    return peers.filter((p) => typeof p.peer === "string" && !seen.has(p.peer) && seen.add(p.peer));
  }

  /**
   * Replaces this connection's contacts (identity ids, at most 1,024): with `allow: "contacts"`,
   * only they may signal it by its identity. Resolves with how many different ids the hub holds.
   */
  async setContacts(ids: readonly string[]): Promise<number> {
    const reply = await this.request({ type: "contacts", ids: [...ids] });
    return typeof reply["count"] === "number" ? reply["count"] : 0;
  }

  /**
   * This page's beacon token: the one in hand while it has more than a minute left, else a fresh
   * one from the hub (one fetch at a time).
   */
  async beaconToken(): Promise<string> {
    if (this.beacon && this.beacon.until - Date.now() > 60_000) return this.beacon.token;
    this.beaconFetch ??= fetchBeacon(this.socket.url)
      .then((grant) => {
        this.beacon = { token: grant.token, until: Date.now() + grant.expiresInSecs * 1000 };
        return grant.token;
      })
      .finally(() => {
        this.beaconFetch = undefined;
      });
    return this.beaconFetch;
  }

  private send1(message: Message, timeoutMs: number): Promise<Message> {
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

  /** The WebSocket close code, once closed (`BEACON_CLOSE_CODE` for a refused beacon token). */
  get closeCode(): number | undefined {
    return this.closedCode;
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

  private onClose(code: number, reason: string): void {
    this.closedReason = reason;
    this.closedCode = code;
    const kind = code === BEACON_CLOSE_CODE ? "beacon" : "closed";
    for (const [, waiter] of this.pending) waiter.reject(new HubError(kind, `The hub connection closed: ${reason}.`));
    this.pending.clear();
    for (const handler of this.closeHandlers) handler(reason);
  }
}
