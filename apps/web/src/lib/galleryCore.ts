/**
 * The gallery's protocol state machine, sans-IO: it is told what happened (a channel opened or
 * closed, a frame arrived, the user added, pulled or burned an image, time passed) and answers
 * with outputs to carry out (frames to send, a channel to close, an image to stream, events for the
 * UI). Time is a parameter (`now`, milliseconds), so tests drive it with a virtual clock.
 *
 * What it guarantees (`docs/APPS.md`, Gallery):
 * - **Pull only.** Image bytes are accepted only for a request this side made, from the peer it
 *   asked, up to the size announced; anything else (an unrequested `head` or `data`, more bytes
 *   than announced, bytes whose BLAKE3 is not the id) closes that peer's channel and is dropped.
 * - **Any holder serves.** A pull goes to the holder with the fewest of our pulls in flight; when
 *   the holder stalls (`stallMs` without progress), denies, leaves or lies, the pull moves on to
 *   another holder; when none is left it fails with the reason.
 * - **Throttled.** A peer's `want`s are rate limited (denied `throttled`, and a peer that keeps
 *   flooding is closed), transfers per peer and in all are capped (denied `busy`), and its other
 *   control frames are rate limited too (closed when exceeded).
 * - **Burn is local.** It drops this side's copy and hides the id from this side's view; others
 *   are only told "gone".
 *
 * ```ts
 * const core = new GalleryCore({ nick: "Oak", tag: "x1", hash });
 * core.channelOpened("p2", now);            // → send hello + a have per held image
 * core.receive("p2", bytes, now);           // → outputs
 * for (const output of core.drain()) carryOut(output);
 * ```
 */
import {
  type Announced,
  CHUNK_BYTES,
  DEFAULT_LIMITS,
  type DenyReason,
  decodeFrame,
  encodeFrame,
  type Frame,
  type GalleryLimits,
  GalleryWireError,
} from "./galleryWire.ts";
import { TokenBucket } from "./galleryThrottle.ts";

export type PullFailure = "stalled" | "no_holder" | "busy" | "throttled" | "not_held" | "corrupt";

export type GalleryEvent =
  | { type: "pulled"; id: string; from: string }
  | { type: "pull_failed"; id: string; reason: PullFailure }
  | { type: "violation"; peer: string; nick: string | undefined; reason: string };

export type CoreOutput =
  | { kind: "send"; peer: string; frame: Uint8Array<ArrayBuffer> }
  /** Close this peer's channel for good: it broke the protocol. */
  | { kind: "close"; peer: string; reason: string }
  /** Stream `bytes` to `peer` as `data` frames of request `req` (the `head` was sent). */
  | { kind: "serve"; peer: string; req: number; bytes: Uint8Array }
  /** Stop streaming request `req` to `peer`. */
  | { kind: "unserve"; peer: string; req: number }
  | { kind: "event"; event: GalleryEvent };

export interface HeldImage {
  id: string;
  bytes: Uint8Array;
  type: string;
  thumb: Uint8Array;
  /** Added here ("yours") or pulled from a peer. */
  origin: "yours" | "pulled";
}

/** One image of the gallery as this browser sees it: the union of what the peers hold. */
export interface GalleryItem {
  id: string;
  size: number;
  type: string;
  thumb: Uint8Array;
  /** This browser holds it: added here, or pulled. */
  held: "yours" | "pulled" | undefined;
  /** Connected peers (not counting this browser) that hold it. */
  holders: number;
  holderNames: string[];
  /** A pull under way. */
  pull: { from: string; fromNick: string | undefined; received: number; size: number; attempt: number } | undefined;
  /** Why the last pull failed, until the next one. */
  error: PullFailure | undefined;
}

export interface GalleryPeerView {
  peer: string;
  nick: string | undefined;
  tag: string | undefined;
  /** Images it announced. */
  holds: number;
}

export interface CoreOptions {
  nick: string;
  tag: string;
  /** BLAKE3-256 of bytes as lower-case hex (synchronous: hash-wasm once created, or a test double). */
  hash: (bytes: Uint8Array) => string;
  limits?: Partial<GalleryLimits>;
}

interface PeerState {
  hello: { nick: string; tag: string } | undefined;
  have: Map<string, Announced>;
  /** The next request number for our pulls from it. */
  nextReq: number;
  /** Our requests to it that we gave up on: bytes still in flight for them are dropped quietly. */
  cancelled: Set<number>;
  /** Its requests we serve: request number → image id. */
  serving: Map<number, string>;
  wants: TokenBucket;
  control: TokenBucket;
  denialsInARow: number;
}

interface Pull {
  id: string;
  size: number;
  type: string;
  thumb: Uint8Array;
  from: string | undefined;
  req: number;
  buffer: Uint8Array | undefined;
  received: number;
  lastProgress: number;
  attempt: number;
  tried: Set<string>;
  lastReason: PullFailure | undefined;
}

const MAX_CANCELLED_REMEMBERED = 256;

export class GalleryCore {
  readonly limits: GalleryLimits;
  private readonly self: { nick: string; tag: string };
  private readonly hash: (bytes: Uint8Array) => string;
  private readonly peers = new Map<string, PeerState>();
  private readonly held = new Map<string, HeldImage>();
  private readonly pulls = new Map<string, Pull>();
  private readonly errors = new Map<string, PullFailure>();
  private readonly burned = new Set<string>();
  private readonly order = new Map<string, number>();
  private nextOrder = 0;
  private out: CoreOutput[] = [];

  constructor(options: CoreOptions) {
    this.self = { nick: options.nick, tag: options.tag };
    this.hash = options.hash;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
  }

  /** The outputs produced since the last call, oldest first. */
  drain(): CoreOutput[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** A data channel to `peer` opened: greet it and announce everything held. */
  channelOpened(peer: string, now: number): void {
    if (this.peers.has(peer)) return;
    this.peers.set(peer, {
      hello: undefined,
      have: new Map(),
      nextReq: 1,
      cancelled: new Set(),
      serving: new Map(),
      wants: new TokenBucket(this.limits.wantRate, this.limits.wantBurst, now),
      control: new TokenBucket(this.limits.controlRate, this.limits.controlBurst, now),
      denialsInARow: 0,
    });
    this.send(peer, { kind: "hello", nick: this.self.nick, tag: this.self.tag });
    for (const image of this.held.values()) this.send(peer, this.haveFrame(image));
  }

  /** The channel to `peer` closed (it left, the connection failed, or we closed it). */
  channelClosed(peer: string, now: number): void {
    if (!this.peers.delete(peer)) return;
    for (const pull of [...this.pulls.values()]) {
      if (pull.from !== peer) continue;
      pull.tried.add(peer);
      pull.from = undefined;
      this.startPull(pull, now);
    }
  }

  /** A frame from `peer`'s data channel. */
  receive(peer: string, data: Uint8Array, now: number): void {
    const state = this.peers.get(peer);
    if (!state) return; // closed meanwhile: whatever it sent is dropped
    let frame: Frame;
    try {
      frame = decodeFrame(data, this.limits);
    } catch (error) {
      const detail = error instanceof GalleryWireError ? error.message : "unreadable";
      this.violate(peer, `sent a malformed frame (${detail})`, now);
      return;
    }
    if (frame.kind !== "data" && frame.kind !== "want" && !state.control.take(now)) {
      this.violate(peer, "flooded the channel with messages", now);
      return;
    }
    if (frame.kind !== "hello" && !state.hello) {
      this.violate(peer, "spoke before saying hello", now);
      return;
    }
    switch (frame.kind) {
      case "hello":
        if (state.hello) {
          this.violate(peer, "said hello twice", now);
          return;
        }
        state.hello = { nick: frame.nick, tag: frame.tag };
        return;
      case "have":
        if (!state.have.has(frame.id) && state.have.size >= this.limits.maxAnnouncedPerPeer) return;
        state.have.set(frame.id, { id: frame.id, size: frame.size, type: frame.type, thumb: frame.thumb });
        this.see(frame.id);
        return;
      case "gone":
        state.have.delete(frame.id);
        return;
      case "want":
        this.onWant(peer, state, frame.req, frame.id, now);
        return;
      case "cancel":
        if (state.serving.delete(frame.req)) this.out.push({ kind: "unserve", peer, req: frame.req });
        return;
      case "head":
      case "data":
      case "deny":
        this.onAnswer(peer, state, frame, now);
        return;
    }
  }

  /** This browser adds an image; false when it already holds it. */
  add(image: Omit<HeldImage, "origin">, now: number): boolean {
    if (this.held.has(image.id)) return false;
    const pull = this.pulls.get(image.id);
    if (pull) this.abandon(pull, undefined, now);
    this.pulls.delete(image.id);
    this.burned.delete(image.id);
    this.errors.delete(image.id);
    const held: HeldImage = { ...image, origin: "yours" };
    this.held.set(image.id, held);
    this.see(image.id);
    this.broadcast(this.haveFrame(held));
    return true;
  }

  /** Ask a holder for the image. No-op when held or already being pulled. */
  pull(id: string, now: number): void {
    if (this.held.has(id) || this.pulls.has(id) || this.burned.has(id)) return;
    this.errors.delete(id);
    const announced = this.announcementsOf(id)[0];
    if (!announced) {
      this.fail(id, "no_holder");
      return;
    }
    const pull: Pull = {
      id,
      size: announced.size,
      type: announced.type,
      thumb: announced.thumb,
      from: undefined,
      req: 0,
      buffer: undefined,
      received: 0,
      lastProgress: now,
      attempt: 0,
      tried: new Set(),
      lastReason: undefined,
    };
    this.pulls.set(id, pull);
    this.startPull(pull, now);
  }

  /** Burn: forget this browser's copy (or pull) and hide the image from this browser's view. */
  burn(id: string, now: number): void {
    this.burned.add(id);
    this.errors.delete(id);
    const pull = this.pulls.get(id);
    if (pull) {
      this.abandon(pull, undefined, now);
      this.pulls.delete(id);
    }
    if (!this.held.delete(id)) return;
    for (const [peer, state] of this.peers) {
      this.send(peer, { kind: "gone", id });
      for (const [req, servedId] of [...state.serving]) {
        if (servedId !== id) continue;
        state.serving.delete(req);
        this.out.push({ kind: "unserve", peer, req });
        this.send(peer, { kind: "deny", req, reason: "not_held" });
      }
    }
  }

  /** Time passed: pulls without progress for `stallMs` move on to another holder. */
  tick(now: number): void {
    for (const pull of [...this.pulls.values()]) {
      if (pull.from !== undefined && now - pull.lastProgress >= this.limits.stallMs) {
        this.abandon(pull, "stalled", now);
        this.startPull(pull, now);
      }
    }
  }

  /** The driver streamed the whole of request `req` to `peer`. */
  serveFinished(peer: string, req: number): void {
    this.peers.get(peer)?.serving.delete(req);
  }

  /** Replace the thumbnail of an image this browser holds (e.g. one made from the verified bytes). */
  replaceThumbnail(id: string, thumb: Uint8Array): void {
    const image = this.held.get(id);
    if (!image || thumb.length === 0 || thumb.length > this.limits.maxThumbBytes) return;
    image.thumb = thumb;
    this.broadcast(this.haveFrame(image));
  }

  // ---- queries ------------------------------------------------------------------------------

  /** The union of what this browser and the connected peers hold, minus what it burned. */
  items(): GalleryItem[] {
    const ids = new Set<string>(this.held.keys());
    for (const state of this.peers.values()) if (state.hello) for (const id of state.have.keys()) ids.add(id);
    for (const id of this.pulls.keys()) ids.add(id);
    const items: GalleryItem[] = [];
    for (const id of ids) {
      if (this.burned.has(id)) continue;
      const mine = this.held.get(id);
      const announced = this.announcementsOf(id);
      const holders = this.holdersOf(id);
      const pull = this.pulls.get(id);
      const first = mine ?? announced[0] ?? pull;
      if (!first) continue;
      items.push({
        id,
        size: mine ? mine.bytes.length : (announced[0]?.size ?? pull?.size ?? 0),
        type: first.type,
        thumb: first.thumb,
        held: mine?.origin,
        holders: holders.length,
        holderNames: holders.map((peer) => this.peers.get(peer)?.hello?.nick ?? "someone"),
        pull:
          pull?.from === undefined
            ? undefined
            : {
                from: pull.from,
                fromNick: this.peers.get(pull.from)?.hello?.nick,
                received: pull.received,
                size: pull.size,
                attempt: pull.attempt,
              },
        error: this.errors.get(id),
      });
    }
    return items.sort((a, b) => (this.order.get(a.id) ?? 0) - (this.order.get(b.id) ?? 0));
  }

  /** Connected peers that said hello, and what they announced. */
  peerViews(): GalleryPeerView[] {
    return [...this.peers].map(([peer, state]) => ({
      peer,
      nick: state.hello?.nick,
      tag: state.hello?.tag,
      holds: state.have.size,
    }));
  }

  /** An image this browser holds. */
  image(id: string): HeldImage | undefined {
    return this.held.get(id);
  }

  /** The image id of `bytes`: BLAKE3-256, hex. */
  hashOf(bytes: Uint8Array): string {
    return this.hash(bytes);
  }

  /** Leaving: drop every image, pull, peer and memory of the gallery. */
  forgetEverything(): void {
    this.peers.clear();
    this.held.clear();
    this.pulls.clear();
    this.errors.clear();
    this.burned.clear();
    this.order.clear();
    this.out = [];
  }

  /** Images held, and bytes held in all (for the UI). */
  heldSummary(): { count: number; bytes: number } {
    let bytes = 0;
    for (const image of this.held.values()) bytes += image.bytes.length;
    return { count: this.held.size, bytes };
  }

  // ---- internals ----------------------------------------------------------------------------

  private onWant(peer: string, state: PeerState, req: number, id: string, now: number): void {
    if (state.serving.has(req)) {
      this.violate(peer, "reused a request number", now);
      return;
    }
    if (!state.wants.take(now)) {
      state.denialsInARow += 1;
      if (state.denialsInARow >= this.limits.maxDenialsInARow) {
        this.violate(peer, "flooded this browser with requests", now);
        return;
      }
      this.send(peer, { kind: "deny", req, reason: "throttled" });
      return;
    }
    state.denialsInARow = 0;
    const image = this.held.get(id);
    let reason: DenyReason | undefined;
    if (!image) reason = "not_held";
    else if (state.serving.size >= this.limits.maxServesPerPeer || this.servingCount() >= this.limits.maxServes) {
      reason = "busy";
    }
    if (reason || !image) {
      this.send(peer, { kind: "deny", req, reason: reason ?? "not_held" });
      return;
    }
    state.serving.set(req, id);
    this.send(peer, { kind: "head", req, size: image.bytes.length });
    this.out.push({ kind: "serve", peer, req, bytes: image.bytes });
  }

  private onAnswer(
    peer: string,
    state: PeerState,
    frame: Extract<Frame, { kind: "head" | "data" | "deny" }>,
    now: number,
  ): void {
    const pull = this.pullFor(peer, frame.req);
    if (!pull) {
      // A late answer to a request we gave up on is expected; anything else was never asked for.
      if (state.cancelled.has(frame.req) || frame.kind === "deny") return;
      this.violate(peer, frame.kind === "data" ? "sent data nobody asked for" : "answered a request nobody made", now);
      return;
    }
    switch (frame.kind) {
      case "deny":
        pull.tried.add(peer);
        pull.lastReason = frame.reason;
        pull.from = undefined;
        this.startPull(pull, now);
        return;
      case "head":
        if (pull.buffer) {
          this.violate(peer, "answered a request twice", now);
          return;
        }
        if (frame.size !== pull.size) {
          this.violate(peer, `announced ${pull.size} bytes but sent ${frame.size}`, now);
          return;
        }
        pull.buffer = new Uint8Array(frame.size);
        pull.lastProgress = now;
        return;
      case "data": {
        if (!pull.buffer) {
          this.violate(peer, "sent data before accepting the request", now);
          return;
        }
        if (pull.received + frame.bytes.length > pull.size) {
          this.violate(peer, "sent more bytes than the image has", now);
          return;
        }
        pull.buffer.set(frame.bytes, pull.received);
        pull.received += frame.bytes.length;
        pull.lastProgress = now;
        if (pull.received === pull.size) this.complete(peer, pull, pull.buffer, now);
        return;
      }
    }
  }

  private complete(peer: string, pull: Pull, bytes: Uint8Array, now: number): void {
    if (this.hash(bytes) !== pull.id) {
      pull.lastReason = "corrupt";
      this.violate(peer, "sent bytes that do not match the image id", now);
      return;
    }
    this.pulls.delete(pull.id);
    const thumb = this.peers.get(peer)?.have.get(pull.id)?.thumb ?? pull.thumb;
    const image: HeldImage = { id: pull.id, bytes, type: pull.type, thumb, origin: "pulled" };
    this.held.set(pull.id, image);
    this.broadcast(this.haveFrame(image));
    this.out.push({ kind: "event", event: { type: "pulled", id: pull.id, from: peer } });
  }

  /** Sends the next request of `pull` to a holder not tried yet, or fails it. */
  private startPull(pull: Pull, now: number): void {
    const holders = this.holdersOf(pull.id);
    const candidates = holders.filter(
      (peer) => !pull.tried.has(peer) && this.peers.get(peer)?.have.get(pull.id)?.size === pull.size,
    );
    if (candidates.length === 0) {
      this.pulls.delete(pull.id);
      this.fail(pull.id, holders.length === 0 ? "no_holder" : (pull.lastReason ?? "no_holder"));
      return;
    }
    const load = (peer: string) => [...this.pulls.values()].filter((p) => p.from === peer).length;
    const [from] = [...candidates].sort((a, b) => load(a) - load(b));
    const state = from === undefined ? undefined : this.peers.get(from);
    if (from === undefined || !state) return;
    pull.from = from;
    pull.req = state.nextReq++;
    pull.buffer = undefined;
    pull.received = 0;
    pull.lastProgress = now;
    pull.attempt += 1;
    this.send(from, { kind: "want", req: pull.req, id: pull.id });
  }

  /** Gives up the current request of `pull` (telling its holder), remembering why. */
  private abandon(pull: Pull, reason: PullFailure | undefined, now: number): void {
    const from = pull.from;
    if (from === undefined) return;
    const state = this.peers.get(from);
    if (state) {
      this.send(from, { kind: "cancel", req: pull.req });
      state.cancelled.add(pull.req);
      if (state.cancelled.size > MAX_CANCELLED_REMEMBERED) {
        const [oldest] = state.cancelled;
        if (oldest !== undefined) state.cancelled.delete(oldest);
      }
    }
    if (reason) {
      pull.tried.add(from);
      pull.lastReason = reason;
    }
    pull.from = undefined;
    pull.buffer = undefined;
    pull.received = 0;
    pull.lastProgress = now;
  }

  private fail(id: string, reason: PullFailure): void {
    this.errors.set(id, reason);
    this.out.push({ kind: "event", event: { type: "pull_failed", id, reason } });
  }

  private violate(peer: string, reason: string, now: number): void {
    const nick = this.peers.get(peer)?.hello?.nick;
    this.out.push({ kind: "close", peer, reason });
    this.out.push({ kind: "event", event: { type: "violation", peer, nick, reason } });
    this.channelClosed(peer, now);
  }

  private pullFor(peer: string, req: number): Pull | undefined {
    for (const pull of this.pulls.values()) if (pull.from === peer && pull.req === req) return pull;
    return undefined;
  }

  private holdersOf(id: string): string[] {
    return [...this.peers].filter(([, state]) => state.hello && state.have.has(id)).map(([peer]) => peer);
  }

  private announcementsOf(id: string): Announced[] {
    const out: Announced[] = [];
    for (const state of this.peers.values()) {
      const announced = state.hello ? state.have.get(id) : undefined;
      if (announced) out.push(announced);
    }
    return out;
  }

  private servingCount(): number {
    let count = 0;
    for (const state of this.peers.values()) count += state.serving.size;
    return count;
  }

  private see(id: string): void {
    if (!this.order.has(id)) this.order.set(id, this.nextOrder++);
  }

  private haveFrame(image: HeldImage): Frame {
    return { kind: "have", id: image.id, size: image.bytes.length, type: image.type, thumb: image.thumb };
  }

  private send(peer: string, frame: Frame): void {
    this.out.push({ kind: "send", peer, frame: encodeFrame(frame) });
  }

  private broadcast(frame: Frame): void {
    for (const peer of this.peers.keys()) this.send(peer, frame);
  }
}

/** Splits an image into the `data` frames of request `req`. */
export function* dataFrames(req: number, bytes: Uint8Array, from = 0): Generator<Uint8Array<ArrayBuffer>> {
  for (let at = from; at < bytes.length; at += CHUNK_BYTES) {
    yield encodeFrame({ kind: "data", req, bytes: bytes.subarray(at, Math.min(bytes.length, at + CHUNK_BYTES)) });
  }
}
