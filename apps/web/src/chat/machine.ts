/**
 * Chat's sans-IO state machines (`docs/PROTOCOL.md`, "Chat"; the Rust twin is
 * `crates/p2pos-core/src/chat/{session,rendezvous}.rs`, with the same phases, rules and timers):
 *
 * - `ChatSession`, one conversation: the request and its answer, WebRTC set-up through signals,
 *   the identity proof over the channel, then messages, images and receipts. Before `accept` (or
 *   for a `call`) no `sdp`/`ice` is sent or processed; nothing but a verified `hello` opens the
 *   chat; a peer that fails the proof, or proves another identity than the contact the session
 *   was for, is a squatter.
 * - `Rendezvous`, one special contact's recovery states and the `rv:` names to be in.
 *
 * A driver feeds a machine what happened, with `now` (unix ms) where it matters, then takes
 * `pollOutput()` until `undefined`, and calls `handleTimeout(now)` once `pollTimeout()` has passed.
 * Inputs that need WebCrypto are async and run one after another in the order they were given, so
 * a frame never overtakes the hello being verified. Machines never touch the network, a timer or
 * storage.
 */
import { canonicalReadableId } from "../lib/readableId.ts";
import {
  binding,
  deriveSecret,
  knownProof,
  rvNamesAt,
  sdpFingerprint,
  signBinding,
  SLOT_MS,
  slotOf,
  verifyBinding,
  verifyKnown,
} from "./crypto.ts";
import {
  ChatError,
  decodeB64u,
  encodeB64u,
  encodeBinary,
  frameText,
  MAX_CANDIDATES,
  MAX_CHUNK,
  parseBinary,
  parseFrame,
  VERSION,
  type AckKind,
  type Frame,
  type Hello,
  type Img,
  type Parsed,
  type Signal,
  type SignalKind,
} from "./protocol.ts";

/** Candidates kept while the remote description is not applied yet. */
const MAX_BUFFERED_CANDIDATES = 256;
/** Message ids remembered for dedupe. */
const MAX_SEEN = 10_000;

/** This side: its identity (a non-extractable signing key) and the name it shows. */
export interface Me {
  id: string;
  name: string;
  signingKey: CryptoKey;
}

/** A saved contact, as the session needs it. */
export interface Contact {
  id: string;
  name: string;
  secret: Uint8Array;
}

/** The timers of a session, in ms. `DEFAULT_TIMING` is the protocol's. */
export interface Timing {
  /** A request unanswered (or a prompt not acted on) this long ends. */
  requestMs: number;
  /** The channel must open this long after accept/call. */
  connectingMs: number;
  /** The other `hello` must verify this long after the channel opened. */
  provingMs: number;
}

export const DEFAULT_TIMING: Readonly<Timing> = { requestMs: 60_000, connectingMs: 30_000, provingMs: 10_000 };

export type Phase = "requesting" | "asked" | "declined" | "connecting" | "proving" | "open" | "closed" | "squatter";

/** How the other side broke the protocol. */
export type Violation =
  | "frame_before_hello"
  | "duplicate_hello"
  | "malformed"
  | "description"
  | "channel_before_descriptions"
  | "no_key"
  | "same_identity"
  | "unexpected_binary"
  | "image_interrupted"
  | "image_too_big"
  | "image_incomplete";

export type CloseReason =
  /** This side cancelled the request or the connection. */
  | { kind: "cancelled" }
  | { kind: "peer_cancelled" }
  /** This side said `bye`. */
  | { kind: "left" }
  | { kind: "peer_left" }
  /** Nothing happened in time, in the phase named. */
  | { kind: "timeout"; phase: Phase }
  | { kind: "channel_closed"; reason: string }
  | { kind: "violation"; violation: Violation; detail: string };

export type SquatterReason =
  /** Its hello's signature does not verify for the id it claims and this channel. */
  | { kind: "bad_signature" }
  /** It proved an identity, but not the contact's the session was for. */
  | { kind: "wrong_identity"; expected: string; claimed: string }
  /** It claims the contact's identity but did not prove the shared secret (`known`). */
  | { kind: "bad_known_proof" };

export type ChatEvent =
  | { type: "asked"; name: string }
  | { type: "accepted" }
  | { type: "declined" }
  /** The chat is open with `id`; `secret` is set for a new contact (save it). */
  | { type: "open"; id: string; name: string; secret: Uint8Array | undefined }
  | { type: "message"; id: string; at: number; text: string; re: string | undefined }
  | { type: "image"; img: Img; bytes: Uint8Array<ArrayBuffer> }
  | { type: "receipt"; id: string; kind: AckKind }
  | { type: "typing" }
  | { type: "squatter"; claimed: string; reason: SquatterReason }
  | { type: "closed"; reason: CloseReason };

/** WebRTC work only the driver can do. */
export type RtcStep =
  /** Create the peer connection with the `p2pos/chat` channel and offer; hand the SDP to `localDescription`. */
  | { kind: "offer" }
  /** Create the peer connection and answer `offer`; hand the answer to `localDescription`. */
  | { kind: "answer"; offer: string }
  | { kind: "apply_answer"; answer: string }
  | { kind: "add_candidates"; candidates: Record<string, unknown>[] }
  | { kind: "close" };

export type ChatOutput =
  | { type: "signal"; to: string; signal: Signal }
  | { type: "text"; text: string }
  | { type: "binary"; frame: Uint8Array<ArrayBuffer> }
  | { type: "rtc"; step: RtcStep }
  | { type: "event"; event: ChatEvent };

type Role = "requester" | "asked" | "caller" | "called";

interface Incoming {
  img: Img;
  parts: Uint8Array[];
  received: number;
  duplicate: boolean;
}

/** One conversation. */
export class ChatSession {
  private phaseNow: Phase;
  private reasonNow: CloseReason | SquatterReason | undefined;
  private deadline: number | undefined;
  private myFp: string | undefined;
  private theirFp: string | undefined;
  private remoteSet = false;
  private buffered: Record<string, unknown>[] = [];
  private theirIdNow: string | undefined;
  private readonly seen = new Set<string>();
  private readonly sent = new Set<string>();
  private incoming: Incoming | undefined;
  private refused = 0;
  /**
   * This side's hello waits until the other side's has verified: a call the hub did not prove
   * (`calledByTag`), so an impostor learns nothing of this side.
   */
  private helloAfterTheirs = false;
  private readonly outputs: ChatOutput[] = [];
  private chain: Promise<void> = Promise.resolve();

  private readonly me: Me;
  private readonly role: Role;
  /** The other side's hub peer id. */
  readonly peer: string;
  readonly rq: string;
  /** The contact this session is for (`call`/`called`); `undefined` for a stranger. */
  private readonly contact: Contact | undefined;
  /** This side's `k` for a new contact. */
  private k: Uint8Array;
  private readonly timing: Timing;

  private constructor(
    me: Me,
    role: Role,
    peer: string,
    rq: string,
    contact: Contact | undefined,
    k: Uint8Array,
    timing: Timing,
  ) {
    this.me = me;
    this.role = role;
    this.peer = peer;
    this.rq = rq;
    this.contact = contact;
    this.k = k;
    this.timing = timing;
    this.phaseNow = role === "asked" ? "asked" : "requesting";
  }

  /** Ask nearby stranger `peer` (hub peer id) to connect; `rq` and `k` are fresh random values. */
  static request(me: Me, peer: string, rq: string, k: Uint8Array, timing: Timing, now: number): ChatSession {
    const s = new ChatSession(me, "requester", peer, rq, undefined, k, timing);
    s.signal({ t: "request", name: me.name });
    s.deadline = now + timing.requestMs;
    return s;
  }

  /** A `request` signal from `peer` arrived: the person is asked. */
  static asked(
    me: Me,
    peer: string,
    rq: string,
    name: string,
    k: Uint8Array,
    timing: Timing,
    now: number,
  ): ChatSession {
    const s = new ChatSession(me, "asked", peer, rq, undefined, k, timing);
    s.event({ type: "asked", name });
    s.deadline = now + timing.requestMs;
    return s;
  }

  /** Ring `contact` at hub peer `peer` (through the hub by identity, or met in `rv:`). */
  static call(me: Me, peer: string, rq: string, contact: Contact, timing: Timing, now: number): ChatSession {
    const s = new ChatSession(me, "caller", peer, rq, contact, new Uint8Array(32), timing);
    s.signal({ t: "call" });
    s.connecting(now);
    s.rtc({ kind: "offer" });
    return s;
  }

  /** `contact`'s `call` arrived from hub peer `peer`: wait for its offer. */
  static called(me: Me, peer: string, rq: string, contact: Contact, timing: Timing, now: number): ChatSession {
    const s = new ChatSession(me, "called", peer, rq, contact, new Uint8Array(32), timing);
    s.connecting(now);
    return s;
  }

  /**
   * A `call` from a nearby peer whose only claim to be `contact` is its nearby tag (no hub-proven
   * `fromId`: tags are public and can be replayed). Like `called`, except that this side's hello
   * goes out only after the caller's has verified as `contact`'s, so an impostor gets neither this
   * side's identity nor a signature from it.
   */
  static calledByTag(me: Me, peer: string, rq: string, contact: Contact, timing: Timing, now: number): ChatSession {
    const s = ChatSession.called(me, peer, rq, contact, timing, now);
    s.helloAfterTheirs = true;
    return s;
  }

  get phase(): Phase {
    return this.phaseNow;
  }

  /** Why a closed session closed, or why a squatter is one. */
  get reason(): CloseReason | SquatterReason | undefined {
    return this.reasonNow;
  }

  /** The identity the other side proved (canonical), once the chat is open. */
  get theirId(): string | undefined {
    return this.theirIdNow;
  }

  /** How many `sdp`/`ice` signals were refused because they came before acceptance. */
  get refusedSignals(): number {
    return this.refused;
  }

  get isFinal(): boolean {
    return this.phaseNow === "declined" || this.phaseNow === "closed" || this.phaseNow === "squatter";
  }

  /** A chat signal from hub peer `from`. Signals of other peers or requests are ignored. */
  handleSignal(from: string, signal: Signal, now: number): Promise<void> {
    return this.serial(() => {
      this.onSignal(from, signal, now);
    });
  }

  /** The person accepts the request. */
  accept(now: number): Promise<void> {
    return this.serial(() => {
      this.expect("asked", "accept");
      this.signal({ t: "accept" });
      this.connecting(now);
    });
  }

  /** The person declines the request. */
  decline(): Promise<void> {
    return this.serial(() => {
      this.expect("asked", "decline");
      this.signal({ t: "decline" });
      this.finish("declined", undefined);
    });
  }

  /** The person gives up: a request or connection is cancelled by signal, a channel left with `bye`. */
  cancel(): Promise<void> {
    return this.serial(() => {
      this.onCancel();
    });
  }

  /** The person closes the chat: `bye`, then the connection closes. */
  leave(): Promise<void> {
    return this.serial(() => {
      if (this.phaseNow === "proving" || this.phaseNow === "open") {
        this.text({ t: "bye" });
        this.close({ kind: "left" });
      } else {
        this.onCancel();
      }
    });
  }

  /** This side's SDP (after the `offer` or `answer` step). */
  localDescription(sdp: string): Promise<void> {
    return this.serial(() => {
      if (this.phaseNow !== "connecting" || this.myFp !== undefined) return;
      try {
        this.myFp = sdpFingerprint(sdp);
      } catch (error) {
        this.violation("description", error);
        return;
      }
      this.signal({ t: "sdp", sdp: { type: offers(this.role) ? "offer" : "answer", sdp } });
    });
  }

  /** Local ICE candidates; only sent once this side's description went out (after acceptance). */
  localCandidates(candidates: Record<string, unknown>[]): Promise<void> {
    return this.serial(() => {
      const allowed = this.phaseNow === "connecting" || this.phaseNow === "proving" || this.phaseNow === "open";
      if (!allowed || this.myFp === undefined) return;
      for (let i = 0; i < candidates.length; i += MAX_CANDIDATES) {
        this.signal({ t: "ice", c: candidates.slice(i, i + MAX_CANDIDATES) });
      }
    });
  }

  /** The data channel opened: this side's hello goes out. */
  channelOpen(now: number): Promise<void> {
    return this.serial(async () => {
      if (this.phaseNow !== "connecting") return;
      const { myFp, theirFp } = this;
      if (myFp === undefined || theirFp === undefined) {
        this.violation("channel_before_descriptions", undefined);
        return;
      }
      if (!this.helloAfterTheirs) await this.sendHello(myFp, theirFp);
      this.phaseNow = "proving";
      this.deadline = now + this.timing.provingMs;
    });
  }

  /** A text frame from the channel. */
  handleText(text: string): Promise<void> {
    return this.serial(async () => {
      if (this.phaseNow === "connecting") {
        this.violation("frame_before_hello", undefined);
        return;
      }
      if (this.phaseNow !== "proving" && this.phaseNow !== "open") return;
      let parsed: Parsed;
      try {
        parsed = parseFrame(text);
      } catch (error) {
        this.violation("malformed", error);
        return;
      }
      if (this.phaseNow === "proving") {
        if ("frame" in parsed && parsed.frame.t === "hello") await this.onHello(parsed.frame);
        else this.violation("frame_before_hello", undefined);
        return;
      }
      if ("unknown" in parsed) return;
      this.onFrame(parsed.frame);
    });
  }

  /** A binary frame from the channel. */
  handleBinary(frame: Uint8Array): Promise<void> {
    return this.serial(() => {
      this.onBinary(frame);
    });
  }

  /** The data channel closed. */
  channelClosed(reason: string): Promise<void> {
    return this.serial(() => {
      this.close({ kind: "channel_closed", reason });
    });
  }

  /** Sends a text message. `id`: 16 fresh random bytes, b64u; `now`: this side's wall clock. */
  sendText(id: string, text: string, re: string | undefined, now: number): Promise<void> {
    return this.serial(() => {
      this.expect("open", "send a message");
      this.sendChecked(re === undefined ? { t: "msg", id, at: now, text } : { t: "msg", id, at: now, text, re });
    });
  }

  /** Sends an image: its description, then its bytes in chunks, then `end`. */
  sendImage(
    id: string,
    name: string,
    type: string,
    bytes: Uint8Array,
    re: string | undefined,
    now: number,
  ): Promise<void> {
    return this.serial(() => {
      this.expect("open", "send an image");
      const img: Img = { t: "img", id, at: now, name, type, size: bytes.length };
      if (re !== undefined) img.re = re;
      this.sendChecked(img);
      for (let i = 0; i < bytes.length; i += MAX_CHUNK) {
        this.outputs.push({
          type: "binary",
          frame: encodeBinary({ chunk: new Uint8Array(bytes.subarray(i, i + MAX_CHUNK)) }),
        });
      }
      this.outputs.push({ type: "binary", frame: encodeBinary({ end: true }) });
    });
  }

  /** The person saw message `id`: a read receipt. */
  markRead(id: string): Promise<void> {
    return this.serial(() => {
      this.expect("open", "send a receipt");
      if (this.seen.has(id)) this.text({ t: "ack", id, k: "read" });
    });
  }

  /** The person is typing. */
  typing(): Promise<void> {
    return this.serial(() => {
      this.expect("open", "say typing");
      this.text({ t: "typing" });
    });
  }

  /** When `handleTimeout` is due (unix ms). */
  pollTimeout(): number | undefined {
    return this.deadline;
  }

  handleTimeout(now: number): Promise<void> {
    return this.serial(() => {
      if (this.deadline === undefined || now < this.deadline) return;
      const phase = this.phaseNow;
      // The other side may still be showing a prompt or waiting: tell it.
      if (phase === "requesting" || phase === "connecting") this.signal({ t: "cancel" });
      this.close({ kind: "timeout", phase });
    });
  }

  pollOutput(): ChatOutput | undefined {
    return this.outputs.shift();
  }

  // -------------------------------------------------------------------------------------------

  private serial(step: () => void | Promise<void>): Promise<void> {
    const result = this.chain.then(step);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private onSignal(from: string, signal: Signal, now: number): void {
    if (from !== this.peer || signal.rq !== this.rq || this.isFinal) return;
    const phase = this.phaseNow;
    if (phase === "requesting" && signal.t === "accept") {
      this.connecting(now);
      this.event({ type: "accepted" });
      this.rtc({ kind: "offer" });
    } else if (phase === "requesting" && signal.t === "decline") {
      this.finish("declined", undefined);
      this.event({ type: "declined" });
    } else if ((phase === "requesting" || phase === "asked") && (signal.t === "sdp" || signal.t === "ice")) {
      // Before acceptance nothing about addresses passes, either way: a declined stranger must
      // learn nothing, and this side applies nothing.
      this.refused++;
    } else if ((phase === "asked" || phase === "requesting" || phase === "connecting") && signal.t === "cancel") {
      this.close({ kind: "peer_cancelled" });
    } else if (phase === "connecting" && signal.t === "sdp") {
      const expected = offers(this.role) ? "answer" : "offer";
      if (signal.sdp.type !== expected || this.remoteSet) return;
      try {
        this.theirFp = sdpFingerprint(signal.sdp.sdp);
      } catch (error) {
        this.violation("description", error);
        return;
      }
      this.remoteSet = true;
      this.rtc(
        offers(this.role)
          ? { kind: "apply_answer", answer: signal.sdp.sdp }
          : { kind: "answer", offer: signal.sdp.sdp },
      );
      if (this.buffered.length > 0) {
        this.rtc({ kind: "add_candidates", candidates: this.buffered });
        this.buffered = [];
      }
    } else if ((phase === "connecting" || phase === "proving" || phase === "open") && signal.t === "ice") {
      if (this.remoteSet) this.rtc({ kind: "add_candidates", candidates: signal.c });
      else this.buffered.push(...signal.c.slice(0, Math.max(0, MAX_BUFFERED_CANDIDATES - this.buffered.length)));
    }
  }

  private onCancel(): void {
    const phase = this.phaseNow;
    if (phase === "requesting" || phase === "asked" || phase === "connecting") {
      this.signal({ t: "cancel" });
      this.close({ kind: "cancelled" });
    } else if (phase === "proving" || phase === "open") {
      this.text({ t: "bye" });
      this.close({ kind: "left" });
    }
  }

  private async sendHello(myFp: string, theirFp: string): Promise<void> {
    const mine = binding(this.me.id, this.contact?.id, myFp, theirFp);
    const sig = await signBinding(this.me.signingKey, mine);
    const hello: Hello = { t: "hello", v: VERSION, id: canonicalReadableId(this.me.id), name: this.me.name, sig };
    if (this.contact !== undefined) hello.known = await knownProof(this.contact.secret, mine);
    else hello.k = encodeB64u(this.k);
    this.text(hello);
  }

  private async onHello(hello: Hello): Promise<void> {
    const claimed = canonicalReadableId(hello.id);
    const { myFp, theirFp } = this;
    if (myFp === undefined || theirFp === undefined) {
      this.violation("channel_before_descriptions", undefined);
      return;
    }
    const myId = canonicalReadableId(this.me.id);
    if (claimed === myId) {
      this.violation("same_identity", undefined);
      return;
    }
    const contact = this.contact;
    if (contact !== undefined && canonicalReadableId(contact.id) !== claimed) {
      this.squatter(claimed, { kind: "wrong_identity", expected: canonicalReadableId(contact.id), claimed });
      return;
    }
    // The sender's binding, as the sender saw it: it knew this side's id only as a contact.
    const theirs = binding(claimed, contact === undefined ? undefined : myId, theirFp, myFp);
    if (!(await verifyBinding(claimed, theirs, hello.sig))) {
      this.squatter(claimed, { kind: "bad_signature" });
      return;
    }
    let secret: Uint8Array | undefined;
    if (contact !== undefined) {
      if (hello.known === undefined || !(await verifyKnown(contact.secret, theirs, hello.known))) {
        this.squatter(claimed, { kind: "bad_known_proof" });
        return;
      }
    } else {
      if (hello.k === undefined) {
        this.violation("no_key", undefined);
        return;
      }
      secret = await deriveSecret({ id: myId, k: this.k }, { id: claimed, k: decodeB64u(hello.k, 32, "k") });
    }
    if (this.helloAfterTheirs) await this.sendHello(myFp, theirFp);
    this.k = new Uint8Array(32);
    this.theirIdNow = claimed;
    this.phaseNow = "open";
    this.deadline = undefined;
    this.event({ type: "open", id: claimed, name: hello.name, secret });
  }

  private onFrame(frame: Frame): void {
    switch (frame.t) {
      case "hello":
        this.violation("duplicate_hello", undefined);
        return;
      case "msg":
        if (this.remember(frame.id)) {
          this.event({ type: "message", id: frame.id, at: frame.at, text: frame.text, re: frame.re });
        }
        // A repeat is acknowledged again: the first receipt may have been lost.
        this.text({ t: "ack", id: frame.id, k: "delivered" });
        return;
      case "img":
        if (this.incoming !== undefined) {
          this.violation("image_interrupted", undefined);
          return;
        }
        this.incoming = { img: frame, parts: [], received: 0, duplicate: !this.remember(frame.id) };
        return;
      case "ack":
        if (this.sent.has(frame.id)) this.event({ type: "receipt", id: frame.id, kind: frame.k });
        return;
      case "typing":
        this.event({ type: "typing" });
        return;
      case "bye":
        this.close({ kind: "peer_left" });
        return;
    }
  }

  private onBinary(frame: Uint8Array): void {
    if (this.phaseNow === "connecting" || this.phaseNow === "proving") {
      this.violation("frame_before_hello", undefined);
      return;
    }
    if (this.phaseNow !== "open") return;
    let binary;
    try {
      binary = parseBinary(frame);
    } catch (error) {
      this.violation("malformed", error);
      return;
    }
    const incoming = this.incoming;
    if (incoming === undefined) {
      this.violation("unexpected_binary", undefined);
      return;
    }
    if ("chunk" in binary) {
      if (incoming.received + binary.chunk.length > incoming.img.size) {
        this.violation("image_too_big", undefined);
        return;
      }
      incoming.parts.push(binary.chunk);
      incoming.received += binary.chunk.length;
      return;
    }
    if (incoming.received !== incoming.img.size) {
      this.violation("image_incomplete", `${incoming.received} of ${incoming.img.size} bytes`);
      return;
    }
    this.incoming = undefined;
    if (!incoming.duplicate) {
      const bytes = new Uint8Array(incoming.received);
      let at = 0;
      for (const part of incoming.parts) {
        bytes.set(part, at);
        at += part.length;
      }
      this.event({ type: "image", img: incoming.img, bytes });
    }
    this.text({ t: "ack", id: incoming.img.id, k: "delivered" });
  }

  private sendChecked(frame: Frame): void {
    const text = frameText(frame);
    // What goes out passes the same checks as what comes in.
    parseFrame(text);
    if (frame.t === "msg" || frame.t === "img") this.sent.add(frame.id);
    this.outputs.push({ type: "text", text });
  }

  /** Remembers a received id; false when it was seen before. */
  private remember(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > MAX_SEEN) {
      const [oldest] = this.seen;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }

  private expect(phase: Phase, action: string): void {
    if (this.phaseNow !== phase) throw new ChatError("state", `Cannot ${action} while the chat is ${this.phaseNow}.`);
  }

  private connecting(now: number): void {
    this.phaseNow = "connecting";
    this.deadline = now + this.timing.connectingMs;
  }

  private violation(violation: Violation, error: unknown): void {
    const detail = error instanceof Error ? error.message : typeof error === "string" ? error : violation;
    this.close({ kind: "violation", violation, detail });
  }

  private squatter(claimed: string, reason: SquatterReason): void {
    this.finish("squatter", reason);
    this.rtc({ kind: "close" });
    this.event({ type: "squatter", claimed, reason });
  }

  private close(reason: CloseReason): void {
    if (this.isFinal) return;
    const hadConnection = this.phaseNow === "connecting" || this.phaseNow === "proving" || this.phaseNow === "open";
    this.finish("closed", reason);
    if (hadConnection) this.rtc({ kind: "close" });
    this.event({ type: "closed", reason });
  }

  private finish(phase: Phase, reason: CloseReason | SquatterReason | undefined): void {
    this.phaseNow = phase;
    this.reasonNow = reason;
    this.deadline = undefined;
    this.incoming = undefined;
    this.buffered = [];
    this.k = new Uint8Array(32);
  }

  private signal(kind: SignalKind): void {
    this.outputs.push({ type: "signal", to: this.peer, signal: { ...kind, rq: this.rq } });
  }

  private text(frame: Frame): void {
    this.outputs.push({ type: "text", text: frameText(frame) });
  }

  private rtc(step: RtcStep): void {
    this.outputs.push({ type: "rtc", step });
  }

  private event(event: ChatEvent): void {
    this.outputs.push({ type: "event", event });
  }
}

function offers(role: Role): boolean {
  return role === "requester" || role === "caller";
}

// ---------------------------------------------------------------------------------------------
// Rendezvous
// ---------------------------------------------------------------------------------------------

/** A contact unseen this long prompts the person to pause its rendezvous (30 days). */
export const PAUSE_AFTER_MS = 30 * 24 * 3600 * 1000;
/** Announcing a new address falls back to rendezvous if the contact is not reached in this long. */
export const ANNOUNCE_MS = 30_000;

/**
 * A special contact's state: `connected` (a proven session is open), `reconnecting` (meeting
 * through the `rv:` names), `recovering` (a squatter answered at the contact's address: it is
 * blacklisted, and the contact is met through the `rv:` names), `announcing` (this side's address
 * changed: it calls the contact).
 */
export type RvState = "connected" | "reconnecting" | "recovering" | "announcing";

export type RvOutput =
  /** Join this `rv:` name on the hub (with a beacon token). */
  | { type: "join"; name: string }
  | { type: "leave"; name: string }
  /** Never connect to this hub peer id or address again for this contact. */
  | { type: "blacklist"; peer: string }
  /** Call the contact by identity to tell it this side's new address. */
  | { type: "announce" }
  | { type: "state"; state: RvState }
  /** Unseen for 30 days: ask the person whether to pause this contact's rendezvous. */
  | { type: "pause_prompt" };

/** One special contact's rendezvous (see the Rust `Rendezvous`). */
export class Rendezvous {
  private stateNow: RvState = "reconnecting";
  private joinedNow: string[] = [];
  private readonly blacklist = new Set<string>();
  private prompted = false;
  private announceUntil: number | undefined;
  private readonly outputs: RvOutput[] = [];
  private chain: Promise<void> = Promise.resolve();

  private readonly secret: Uint8Array;
  private lastSeen: number;

  private constructor(secret: Uint8Array, lastSeen: number) {
    this.secret = secret;
    this.lastSeen = lastSeen;
  }

  /** A special contact not (yet) connected: it starts reconnecting through rendezvous. */
  static async create(secret: Uint8Array, lastSeen: number, now: number): Promise<Rendezvous> {
    const rv = new Rendezvous(secret, lastSeen);
    await rv.syncNames(now);
    rv.checkUnseen(now);
    return rv;
  }

  get state(): RvState {
    return this.stateNow;
  }

  /** The `rv:` names this side is in. */
  get joined(): readonly string[] {
    return this.joinedNow;
  }

  isBlacklisted(peer: string): boolean {
    return this.blacklist.has(peer);
  }

  /** A proven session with the contact opened (wherever it was found). */
  connected(now: number): Promise<void> {
    return this.serial(async () => {
      this.lastSeen = now;
      this.prompted = false;
      this.announceUntil = undefined;
      await this.set("connected", now);
    });
  }

  /** The session with the contact is gone. */
  connectionLost(now: number): Promise<void> {
    return this.serial(async () => {
      if (this.stateNow === "connected" || this.stateNow === "announcing") {
        this.announceUntil = undefined;
        await this.set("reconnecting", now);
      }
    });
  }

  /** The party at the contact's address (`peer`: its hub peer id or address) failed the proof. */
  squatterSeen(peer: string, now: number): Promise<void> {
    return this.serial(async () => {
      if (!this.blacklist.has(peer)) {
        this.blacklist.add(peer);
        this.outputs.push({ type: "blacklist", peer });
      }
      this.announceUntil = undefined;
      await this.set("recovering", now);
    });
  }

  /** This side's address changed while connected: announce it by calling the contact. */
  addressChanged(now: number): Promise<void> {
    return this.serial(async () => {
      if (this.stateNow !== "connected") return;
      this.announceUntil = now + ANNOUNCE_MS;
      this.outputs.push({ type: "announce" });
      await this.set("announcing", now);
    });
  }

  /** The next slot boundary while in rendezvous, the end of an announcement, the 30-day prompt. */
  pollTimeout(now: number): number | undefined {
    const candidates = [
      this.inRv() ? (slotOf(now) + 1) * SLOT_MS : undefined,
      this.announceUntil,
      this.prompted ? undefined : this.lastSeen + PAUSE_AFTER_MS,
    ].filter((at): at is number => at !== undefined);
    return candidates.length === 0 ? undefined : Math.min(...candidates);
  }

  handleTimeout(now: number): Promise<void> {
    return this.serial(async () => {
      if (this.announceUntil !== undefined && now >= this.announceUntil) {
        this.announceUntil = undefined;
        await this.set("reconnecting", now);
      }
      await this.syncNames(now);
      this.checkUnseen(now);
    });
  }

  pollOutput(): RvOutput | undefined {
    return this.outputs.shift();
  }

  private serial(step: () => Promise<void>): Promise<void> {
    const result = this.chain.then(step);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private inRv(): boolean {
    return this.stateNow === "reconnecting" || this.stateNow === "recovering";
  }

  private async set(state: RvState, now: number): Promise<void> {
    if (this.stateNow !== state) {
      this.stateNow = state;
      this.outputs.push({ type: "state", state });
    }
    await this.syncNames(now);
  }

  /** Joins the names of `now` and leaves the others (all of them outside rendezvous). */
  private async syncNames(now: number): Promise<void> {
    const wanted: string[] = this.inRv() ? await rvNamesAt(this.secret, now) : [];
    for (const name of this.joinedNow.filter((n) => !wanted.includes(n))) this.outputs.push({ type: "leave", name });
    this.joinedNow = this.joinedNow.filter((n) => wanted.includes(n));
    for (const name of wanted) {
      if (!this.joinedNow.includes(name)) {
        this.outputs.push({ type: "join", name });
        this.joinedNow.push(name);
      }
    }
  }

  private checkUnseen(now: number): void {
    if (!this.prompted && now >= this.lastSeen + PAUSE_AFTER_MS) {
      this.prompted = true;
      this.outputs.push({ type: "pause_prompt" });
    }
  }
}
