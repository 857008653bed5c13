/**
 * The browser's one WebRTC peer link: every `RTCPeerConnection` the web app makes (Drop, Gallery,
 * the vault from anywhere, Chat) goes through `PeerLink`, so they share one connection setup, one
 * connect timeout, one candidate batching, one pair of back-pressure thresholds, one path report
 * and one way to close.
 *
 * What it owns: the peer connection (ICE servers from the hub, relay-only on request), the
 * offer/answer, this side's ICE candidates (batched, never before this side's description, and
 * held back entirely while the app says so), the peer's candidates (kept until they can apply),
 * one data channel (created, or adopted from the offerer by label), its buffered-amount thresholds,
 * the connect deadline, and the path the packets took. What it does not own: the signalling wire.
 * The app passes `signal`, which wraps each `LinkSignal` in the app's own payload (its tags, its
 * binding) and sends it through the hub; the app reads the peer's payloads and calls `answer`,
 * `applyAnswer` and `addCandidates`. Nor the protocol on the channel: `message` hands up what
 * arrives, `send` and `drain` move bytes out.
 *
 * Identity binding: each app signs or MACs the DTLS fingerprint of its SDP in its own binding
 * text; `sdpFingerprint`, `localFingerprint`/`remoteFingerprint` and the Ed25519 helpers
 * `signIdentityBinding`/`verifyIdentityBinding` are the shared parts.
 *
 * ```ts
 * const link = new PeerLink({
 *   iceServers: await hub.iceServers(),
 *   channel: { label: "p2pos/chat" },
 *   signal: (out) => hub.signal(peer, { p2pos: "chat", ...out }),
 *   on: { open: () => link.send("hello"), message: (data) => show(data), closed: (error) => done(error) },
 * });
 * await link.offer(); // the peer's answer: link.applyAnswer(sdp); its candidates: link.addCandidates(list)
 * ```
 *
 * The timing and queueing rules are sans-IO (`IceFlow`, `pathFromStats`, `hasRoom`) and tested in
 * Vitest; `PeerLink` is the thin browser driver around them, tested by the browser e2e suites.
 */
import { utf8Encode } from "./bytes.ts";
import { P2posError } from "./errors.ts";
import type { IceServerInit } from "./hubClient.ts";
import { parseReadableId } from "./readableId.ts";

/**
 * Give up on a link whose channel has not opened after this long. 25 s: enough for a relayed
 * path (TURN allocation, then checks through the relay) behind a paced hub, and shorter than the
 * node's own wait (its `connect_timeout` of 20 s plus 5 s, counted from its answer), so the
 * browser gives the verdict and says why.
 */
export const CONNECT_TIMEOUT_MS = 25_000;
/**
 * Local candidates go out in batches gathered over this long (or at once when gathering is
 * complete): one signal carries the host and server-reflexive candidates together, which counts
 * when a gallery connects to many peers through the hub's rate limit (10 messages/s).
 */
export const CANDIDATE_BATCH_MS = 100;
/** Sending pauses while a channel buffers more than this… */
export const BUFFERED_HIGH = 1024 * 1024;
/** …and resumes once the buffer fell to this (`bufferedAmountLowThreshold`). */
export const BUFFERED_LOW = 256 * 1024;
/** The peer's candidates kept while they cannot apply yet; more are dropped (a flood, not ICE). */
export const MAX_WAITING_CANDIDATES = 64;
/** `bufferedamountlow` may never come (the channel closed meanwhile): look again this often. */
const DRAIN_POLL_MS = 250;

/** How the link's packets travel: the selected candidate pair's type, the weaker side. */
export type PathKind = "host" | "srflx" | "prflx" | "relay";

/**
 * Why a link ended: `timeout` (no channel within the connect deadline), `failed` (ICE or DTLS
 * failed: no path), `lost` (the channel closed under it: the peer or the network), `closed` (this
 * side closed it), `binding` (a DTLS fingerprint that is malformed or not the one signed).
 */
export type LinkErrorKind = "timeout" | "failed" | "lost" | "closed" | "binding";

export class LinkError extends P2posError<LinkErrorKind> {
  /** On "failed": what this side knows of the relay, e.g. " (the relay refused: 401 Unauthorized)". */
  relayNote = "";
}

// ---- DTLS fingerprints and identity binding ----

/** Normalises an SDP fingerprint to `sha-256 AB:CD:…`, the form every binding signs. */
export function normalizeFingerprint(text: string): string {
  const [algorithm, value, extra] = text.trim().split(/\s+/);
  if (!algorithm || !value || extra !== undefined) throw new LinkError("binding", "Malformed DTLS fingerprint.");
  if (algorithm.toLowerCase() !== "sha-256") throw new LinkError("binding", `Unsupported fingerprint ${algorithm}.`);
  const bytes = value.toUpperCase().split(":");
  if (bytes.length !== 32 || !bytes.every((b) => /^[0-9A-F]{2}$/.test(b))) {
    throw new LinkError("binding", "Malformed sha-256 fingerprint.");
  }
  return `sha-256 ${bytes.join(":")}`;
}

/** The distinct DTLS fingerprints of an SDP, normalised, in order; throws on a malformed one. */
export function sdpFingerprints(sdp: string): string[] {
  const found = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("a=fingerprint:")) found.add(normalizeFingerprint(line.slice("a=fingerprint:".length)));
  }
  return [...found];
}

/** The one DTLS fingerprint of an SDP, normalised; throws when there is not exactly one. */
export function sdpFingerprint(sdp: string): string {
  const found = sdpFingerprints(sdp);
  const [only] = found;
  if (found.length !== 1 || only === undefined) {
    throw new LinkError("binding", `The SDP carries ${found.length} DTLS fingerprints, not one.`);
  }
  return only;
}

/** Checks that the fingerprint a peer signed is the one in the SDP it sent. */
export function checkSignedFingerprint(signed: string, sdp: string): void {
  if (normalizeFingerprint(signed) !== sdpFingerprint(sdp)) {
    throw new LinkError("binding", "The peer signed another certificate than the one in its SDP.");
  }
}

/** An identity's Ed25519 signature over a binding text (which names the DTLS fingerprints). */
export async function signIdentityBinding(signingKey: CryptoKey, text: string): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signingKey, utf8Encode(text)));
}

/** Whether `sig` is the signature of identity `id` (its readable id) over a binding text. */
export async function verifyIdentityBinding(id: string, text: string, sig: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", parseReadableId(id) as BufferSource, { name: "Ed25519" }, false, [
    "verify",
  ]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, sig as BufferSource, utf8Encode(text));
}

// ---- SDP candidates ----

/**
 * Takes the candidates out of an SDP: the SDP without its `a=candidate` and `a=end-of-candidates`
 * lines, and those candidates as `RTCIceCandidateInit`s. Used while ICE is held back, so that no
 * address leaves (or is checked against) inside a description either.
 */
export function splitCandidates(sdp: string): { sdp: string; candidates: RTCIceCandidateInit[] } {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  // A media section's `a=mid` may follow its candidates: find every section's mid first.
  const mids: (string | null)[] = [];
  for (const line of lines) {
    if (line.startsWith("m=")) mids.push(null);
    else if (line.startsWith("a=mid:") && mids.length > 0) mids[mids.length - 1] = line.slice("a=mid:".length);
  }
  const kept: string[] = [];
  const candidates: RTCIceCandidateInit[] = [];
  let section = -1;
  for (const line of lines) {
    if (line.startsWith("m=")) section += 1;
    if (line.startsWith("a=candidate:") && section >= 0) {
      candidates.push({ candidate: line.slice(2), sdpMid: mids[section] ?? null, sdpMLineIndex: section });
    } else if (!line.startsWith("a=end-of-candidates") && !line.startsWith("a=candidate:")) {
      kept.push(line);
    }
  }
  return { sdp: kept.join(eol), candidates };
}

// ---- ICE candidate flow (sans-IO) ----

export interface IceFlowOptions {
  /** Batch window for this side's candidates, ms. Default `CANDIDATE_BATCH_MS`. */
  batchMs?: number;
  /** Hold back all ICE, both ways, until `release()`. Default false. */
  hold?: boolean;
}

/**
 * Which ICE candidates may move, and when, with time passed in. This side's candidates wait for
 * this side's description to have gone out, then leave in batches (`pollBatch` once `pollTimeout`
 * is reached); the peer's wait until the remote description is set. While held, nothing moves
 * either way. The driver feeds it events and carries out what it returns.
 */
export class IceFlow {
  private readonly batchMs: number;
  private held: boolean;
  private described = false;
  private remoteSet = false;
  private local: RTCIceCandidateInit[] = [];
  private dueAt: number | undefined;
  private remote: RTCIceCandidateInit[] = [];
  private droppedCount = 0;

  constructor(options: IceFlowOptions = {}) {
    this.batchMs = options.batchMs ?? CANDIDATE_BATCH_MS;
    this.held = options.hold ?? false;
  }

  /** ICE is held back (until `release`). */
  get holding(): boolean {
    return this.held;
  }

  /** Peer candidates dropped because too many waited (a misbehaving peer). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** This side gathered a candidate at `now`: a batch window opens if none is open. */
  gathered(candidate: RTCIceCandidateInit, now: number): void {
    this.local.push(candidate);
    this.dueAt ??= now + this.batchMs;
  }

  /** Gathering is complete: no more candidates are coming, so what waits may go at once. */
  gatheringComplete(now: number): void {
    if (this.local.length > 0) this.dueAt = Math.min(this.dueAt ?? now, now);
  }

  /** This side's offer or answer went out: its candidates may follow. */
  describedLocal(): void {
    this.described = true;
  }

  /** The time the next batch is due (maybe past), or `undefined` while none can go. */
  pollTimeout(): number | undefined {
    return this.described && !this.held && this.local.length > 0 ? this.dueAt : undefined;
  }

  /** The batch to signal now, if one is due. */
  pollBatch(now: number): RTCIceCandidateInit[] | undefined {
    const due = this.pollTimeout();
    if (due === undefined || now < due) return undefined;
    const batch = this.local;
    this.local = [];
    this.dueAt = undefined;
    return batch;
  }

  /** The peer's candidates arrived: returns those to apply now; the others wait (bounded). */
  received(candidates: readonly RTCIceCandidateInit[]): RTCIceCandidateInit[] {
    if (this.remoteSet && !this.held) return [...candidates];
    for (const candidate of candidates) {
      if (this.remote.length < MAX_WAITING_CANDIDATES) this.remote.push(candidate);
      else this.droppedCount += 1;
    }
    return [];
  }

  /** The remote description is set: returns the peer's candidates that waited for it. */
  remoteDescribed(): RTCIceCandidateInit[] {
    this.remoteSet = true;
    return this.takeRemote();
  }

  /** The app lets ICE through: returns the peer's candidates to apply now. */
  release(): RTCIceCandidateInit[] {
    this.held = false;
    return this.takeRemote();
  }

  private takeRemote(): RTCIceCandidateInit[] {
    if (!this.remoteSet || this.held) return [];
    const ready = this.remote;
    this.remote = [];
    return ready;
  }
}

// ---- back-pressure and path (pure) ----

/** Whether a channel with this many buffered bytes takes another message now. */
export function hasRoom(bufferedAmount: number): boolean {
  return bufferedAmount < BUFFERED_HIGH;
}

/** The parts of a stats report the path needs (`RTCStatsReport` entries). */
interface PathStats {
  id: string;
  type: string;
  selectedCandidatePairId?: string;
  selected?: boolean;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
  address?: string;
  port?: number;
}

/**
 * The selected candidate pair's type, the weaker side: relay if either end is relayed, then
 * srflx, prflx, host. A peer-reflexive candidate at the address and port of one of that side's
 * host candidates (its check simply arrived before the candidate did) counts as host, as on the
 * node. The pair is the transport's `selectedCandidatePairId`, else one marked `selected`.
 */
export function pathFromStats(stats: Iterable<PathStats>): PathKind | undefined {
  const byId = new Map<string, PathStats>();
  for (const report of stats) byId.set(report.id, report);
  let pair: PathStats | undefined;
  for (const report of byId.values()) {
    if (report.type === "transport" && report.selectedCandidatePairId) {
      pair = byId.get(report.selectedCandidatePairId);
    }
  }
  pair ??= [...byId.values()].find((report) => report.type === "candidate-pair" && report.selected === true);
  if (!pair) return undefined;
  const candidates = [...byId.values()].filter((r) => r.type === "local-candidate" || r.type === "remote-candidate");
  const types = [pair.localCandidateId, pair.remoteCandidateId].map((id) => {
    const candidate = id === undefined ? undefined : byId.get(id);
    if (!candidate) return undefined;
    const seenAsHost = candidates.some(
      (other) =>
        other.type === candidate.type &&
        other.candidateType === "host" &&
        other.address === candidate.address &&
        other.port === candidate.port,
    );
    return candidate.candidateType === "prflx" && seenAsHost ? "host" : candidate.candidateType;
  });
  for (const kind of ["relay", "srflx", "prflx", "host"] as const) if (types.includes(kind)) return kind;
  return undefined;
}

// ---- the link ----

/** What the link asks the app to send to the peer, wrapped in the app's own payload. */
export type LinkSignal =
  { kind: "offer" | "answer"; sdp: string } | { kind: "candidates"; candidates: RTCIceCandidateInit[] };

export interface PeerLinkHandlers {
  /** The data channel opened (once). */
  open(): void;
  /** A message on the channel: binary as an `ArrayBuffer`, text as a string. */
  message(data: ArrayBuffer | string): void;
  /** The link ended (once), and why; after `close()` too, with kind `closed`. */
  closed(error: LinkError): void;
  /** The channel's buffer fell to the low threshold: room to send again. */
  drained(): void;
}

export interface PeerLinkOptions {
  /** From the hub (`turn`). */
  iceServers: IceServerInit[];
  /** Use relay candidates only, so the peer never learns this browser's addresses. Default false. */
  relayOnly?: boolean;
  /**
   * The data channel: its label; `id` when both sides create it negotiated (no `datachannel`
   * event). Otherwise the offerer creates it and the answerer adopts the first with this label.
   */
  channel: { label: string; id?: number };
  /**
   * Sends a signal to the peer. For an offer or answer, candidates wait until the returned
   * promise settles (so an app can sign the SDP first); a throw there fails `offer`/`answer`.
   */
  signal: (signal: LinkSignal) => void | Promise<void>;
  /** The connect deadline, ms; `null` when the app keeps its own. Default `CONNECT_TIMEOUT_MS`. */
  connectTimeoutMs?: number | null;
  /** Batch window for this side's candidates, ms. Default `CANDIDATE_BATCH_MS`. */
  candidateBatchMs?: number;
  /** Hold back all ICE (no candidate sent, received or checked) until `releaseIce()`. */
  holdIce?: boolean;
  on?: Partial<PeerLinkHandlers>;
}

export type PeerLinkState = "connecting" | "open" | "closed";

/** One peer connection with one data channel; see the module doc. */
export class PeerLink {
  /** The connect deadline in force, ms (`undefined`: the app keeps its own). */
  readonly connectTimeoutMs: number | undefined;
  private readonly pc: RTCPeerConnection;
  private readonly label: string;
  private readonly sendSignal: (signal: LinkSignal) => void | Promise<void>;
  private readonly ice: IceFlow;
  private handlers: Partial<PeerLinkHandlers>;
  private dc: RTCDataChannel | undefined;
  private stateValue: PeerLinkState = "connecting";
  private everOpen = false;
  private endError: LinkError | undefined;
  private readonly connectTimer: ReturnType<typeof setTimeout> | undefined;
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly drainWaiters = new Set<() => void>();
  /** What the relay said when it refused us, and how many relay candidates it gave: said on failure. */
  private readonly relayErrors = new Set<string>();
  private relayCandidates = 0;

  constructor(options: PeerLinkOptions) {
    this.label = options.channel.label;
    this.sendSignal = options.signal;
    this.handlers = { ...options.on };
    this.ice = new IceFlow({
      ...(options.candidateBatchMs === undefined ? {} : { batchMs: options.candidateBatchMs }),
      hold: options.holdIce ?? false,
    });
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers,
      iceTransportPolicy: options.relayOnly ? "relay" : "all",
    });
    const { id } = options.channel;
    if (id !== undefined) {
      this.adopt(this.pc.createDataChannel(this.label, { negotiated: true, id, ordered: true }));
    }
    this.pc.ondatachannel = (event) => {
      if (id === undefined && !this.dc && event.channel.label === this.label) this.adopt(event.channel);
      else event.channel.close();
    };
    this.pc.onicecandidate = (event) => {
      if (this.stateValue === "closed") return;
      // A null candidate (or an empty one, the older form) ends gathering.
      if (!event.candidate || event.candidate.candidate === "") this.ice.gatheringComplete(Date.now());
      else {
        if (event.candidate.type === "relay") this.relayCandidates += 1;
        this.ice.gathered(event.candidate.toJSON(), Date.now());
      }
      this.flushCandidates();
    };
    this.pc.onicecandidateerror = (event) => {
      if (/^turns?:/.test(event.url)) this.relayErrors.add(`${event.errorCode} ${event.errorText}`.trim());
    };
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === "failed") {
        const note = relayNote(this.relayCandidates, [...this.relayErrors]);
        const error = new LinkError(
          "failed",
          `No network path to the peer: a direct connection failed and no relay worked${note}.`,
        );
        error.relayNote = note;
        this.end(error);
      }
    };
    const timeout = options.connectTimeoutMs === undefined ? CONNECT_TIMEOUT_MS : options.connectTimeoutMs;
    this.connectTimeoutMs = timeout ?? undefined;
    if (timeout !== null) {
      this.connectTimer = setTimeout(
        () => this.end(new LinkError("timeout", `No connection within ${Math.round(timeout / 1000)} s.`)),
        timeout,
      );
    }
  }

  get state(): PeerLinkState {
    return this.stateValue;
  }

  /** The channel is open now. */
  get isOpen(): boolean {
    return this.stateValue === "open" && this.dc?.readyState === "open";
  }

  /** The channel opened at some point. */
  get wasOpen(): boolean {
    return this.everOpen;
  }

  /** Why the link ended, once it did. */
  get error(): LinkError | undefined {
    return this.endError;
  }

  /** Replaces some of the handlers (e.g. once the app's session object exists). */
  on(handlers: Partial<PeerLinkHandlers>): void {
    this.handlers = { ...this.handlers, ...handlers };
  }

  /** Makes the offer and signals it; resolves once it went out. */
  async offer(): Promise<void> {
    this.throwIfClosed();
    if (!this.dc) this.adopt(this.pc.createDataChannel(this.label, { ordered: true }));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.describe("offer");
  }

  /** Takes the peer's offer, then makes the answer and signals it. */
  async answer(sdp: string): Promise<void> {
    this.throwIfClosed();
    await this.setRemote("offer", sdp);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.describe("answer");
  }

  /** Takes the peer's answer (a second one, or one after the end, is ignored). */
  async applyAnswer(sdp: string): Promise<void> {
    if (this.pc.remoteDescription || this.stateValue === "closed") return;
    await this.setRemote("answer", sdp);
  }

  /** The peer's trickled candidates; kept until they can apply. */
  addCandidates(candidates: readonly RTCIceCandidateInit[]): void {
    if (this.stateValue === "closed") return;
    this.apply(this.ice.received(candidates));
  }

  /** Lets ICE through after `holdIce`: both sides' candidates start to move. */
  releaseIce(): void {
    if (this.stateValue === "closed") return;
    this.apply(this.ice.release());
    this.flushCandidates();
  }

  /** ICE is held back (`holdIce`, until `releaseIce`). */
  get holdingIce(): boolean {
    return this.ice.holding;
  }

  /** This side's DTLS fingerprint (`sha-256 AB:…`), once its description is set. */
  localFingerprint(): string {
    return sdpFingerprint(this.pc.localDescription?.sdp ?? "");
  }

  /** The peer's DTLS fingerprint, once its description is set. */
  remoteFingerprint(): string {
    return sdpFingerprint(this.pc.remoteDescription?.sdp ?? "");
  }

  /** The path the packets take now (`pathFromStats`), or `undefined` before there is one. */
  async path(): Promise<PathKind | undefined> {
    const stats = await this.pc.getStats();
    return pathFromStats(stats.values() as Iterable<PathStats>);
  }

  /** Whether the channel takes another message now without going over the high threshold. */
  hasRoom(): boolean {
    return hasRoom(this.dc?.bufferedAmount ?? 0);
  }

  /**
   * Resolves once the channel has room (`hasRoom`); rejects with the link's error if it ends
   * first. `await link.drain(); link.send(frame)` is the back-pressured send.
   */
  async drain(): Promise<void> {
    while (!this.hasRoom()) {
      this.throwIfClosed();
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.drainWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, DRAIN_POLL_MS);
        this.drainWaiters.add(wake);
      });
    }
    this.throwIfClosed();
  }

  /** Sends one message now; throws a `LinkError` if the channel is not open. */
  send(data: Uint8Array<ArrayBuffer> | string): void {
    this.throwIfClosed();
    const dc = this.dc;
    if (dc?.readyState !== "open") throw new LinkError("lost", "The data channel is not open.");
    if (typeof data === "string") dc.send(data);
    else dc.send(data);
  }

  /** Closes the channel and the connection; `closed` is called with kind `closed`. */
  close(reason = "Closed by this side."): void {
    this.end(new LinkError("closed", reason));
  }

  private adopt(dc: RTCDataChannel): void {
    this.dc = dc;
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = BUFFERED_LOW;
    dc.onopen = () => this.opened();
    dc.onmessage = (event: MessageEvent<unknown>) => {
      if (this.stateValue !== "open") return;
      const { data } = event;
      if (data instanceof ArrayBuffer || typeof data === "string") this.handlers.message?.(data);
    };
    dc.onclose = () => this.end(new LinkError("lost", "The connection closed."));
    dc.onbufferedamountlow = () => {
      this.wakeDrainers();
      this.handlers.drained?.();
    };
    if (dc.readyState === "open") this.opened();
  }

  private opened(): void {
    if (this.stateValue !== "connecting") return;
    this.stateValue = "open";
    this.everOpen = true;
    clearTimeout(this.connectTimer);
    this.handlers.open?.();
  }

  private async setRemote(type: "offer" | "answer", sdp: string): Promise<void> {
    let description = sdp;
    if (this.ice.holding) {
      // Candidates inside the SDP would start checks (and show this side's address): hold them too.
      const split = splitCandidates(sdp);
      description = split.sdp;
      this.ice.received(split.candidates);
    }
    await this.pc.setRemoteDescription({ type, sdp: description });
    this.apply(this.ice.remoteDescribed());
  }

  private async describe(kind: "offer" | "answer"): Promise<void> {
    const sdp = this.pc.localDescription?.sdp ?? "";
    if (this.stateValue === "closed") return;
    await this.sendSignal({ kind, sdp: this.ice.holding ? splitCandidates(sdp).sdp : sdp });
    this.ice.describedLocal();
    this.flushCandidates();
  }

  private apply(candidates: RTCIceCandidateInit[]): void {
    // A candidate the browser cannot use (another family, a malformed one) is simply skipped.
    for (const candidate of candidates) void this.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  /** Signals a due batch, and sets the timer for the next one. */
  private flushCandidates(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.stateValue === "closed") return;
    const now = Date.now();
    const batch = this.ice.pollBatch(now);
    if (batch) {
      // The app's own refusal handling reports undeliverable signals; a failed batch is not fatal.
      try {
        void Promise.resolve(this.sendSignal({ kind: "candidates", candidates: batch })).catch(() => undefined);
      } catch {
        // as above
      }
    }
    const at = this.ice.pollTimeout();
    if (at !== undefined) this.batchTimer = setTimeout(() => this.flushCandidates(), Math.max(0, at - now));
  }

  private throwIfClosed(): void {
    if (this.endError) throw this.endError;
  }

  private wakeDrainers(): void {
    for (const wake of [...this.drainWaiters]) wake();
  }

  private end(error: LinkError): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.endError = error;
    clearTimeout(this.connectTimer);
    clearTimeout(this.batchTimer);
    this.wakeDrainers();
    this.dc?.close();
    this.pc.close();
    this.handlers.closed?.(error);
  }
}

/**
 * Why ICE failed, as far as this side knows: whether the relay gave us an address, and what it
 * said when it refused (an expired credential, its quota, no free port). Empty when it said nothing.
 */
export function relayNote(relayCandidates: number, relayErrors: readonly string[]): string {
  if (relayCandidates > 0) return " (the relay gave an address, but no check through it succeeded)";
  if (relayErrors.length > 0) return ` (the relay refused: ${relayErrors.join("; ")})`;
  return "";
}
