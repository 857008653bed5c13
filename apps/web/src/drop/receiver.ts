/**
 * The receiver's side of a drop, sans-IO (the twin of Rust's `p2pos_core::drop::Receiver`): it
 * says hello to the sender, checks the sender's hello, asks for the answer to its offer, opens the
 * sealed frames in order, reports progress, and runs the view countdown; then `viewed` goes back.
 * Joining the room, WebRTC, decoding and storage are the driver's (`session.ts`); the contract is
 * in `machine.ts`.
 */
import { wipe } from "../lib/bytes.ts";
import {
  type DropEndReason,
  type DropEnded,
  type DropOutput,
  type DropPicture,
  type Payload,
  type ReceiverState,
  type RtcStep,
  STALLED_REASON,
  TAMPERED,
  type Timing,
  DEFAULT_TIMING,
  dropPayload,
  earliest,
  failure,
  isDropPayload,
  stalledMessage,
} from "./machine.ts";
import {
  type DropMeta,
  type EphemeralKey,
  FRAME,
  ReceiverTransfer,
  authKey,
  cancelFrame,
  cancelReason,
  decodeFrame,
  deriveSessionKey,
  helloMac,
  parsePublicKey,
  receiverMacText,
  senderMacText,
  verifyHelloMac,
  viewedFrame,
} from "./protocol.ts";

export interface ReceiverMachineOptions {
  room: string;
  /** The link's 16-byte secret (copied; the copy is wiped once the key is agreed). */
  secret: Uint8Array;
  /** The receiver's name: sent to the sender and stamped on the image. */
  name: string;
  ephemeral: EphemeralKey;
  timing?: Partial<Timing>;
}

export class ReceiverMachine {
  readonly timing: Timing;
  private readonly room: string;
  private readonly name: string;
  private secret: Uint8Array<ArrayBuffer>;
  private auth: CryptoKey | undefined;
  private ephemeral: EphemeralKey | undefined;
  private transfer: ReceiverTransfer | undefined;
  private picture: DropPicture | undefined;
  private meta: DropMeta | undefined;
  private current: ReceiverState = { phase: "connecting", step: "hub" };
  private outputs: DropOutput<ReceiverState>[] = [];
  /** The hub peer id of the sender, once its hello verified. */
  private other: string | undefined;
  private open = false;
  private offered = false;
  private stallAt: number | undefined;
  private connectAt: number | undefined;
  private helloAt: number | undefined;
  private viewEndsAt: number | undefined;
  private done = false;

  private constructor(options: ReceiverMachineOptions, auth: CryptoKey) {
    this.room = options.room;
    this.name = options.name;
    this.secret = new Uint8Array(options.secret);
    this.ephemeral = options.ephemeral;
    this.auth = auth;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
  }

  static async create(options: ReceiverMachineOptions): Promise<ReceiverMachine> {
    return new ReceiverMachine(options, await authKey(options.secret));
  }

  get state(): ReceiverState {
    return this.current;
  }

  /** Whether the drop is over (viewed or ended). */
  get finished(): boolean {
    return this.done;
  }

  /** Shortens or lengthens the stall timeout (a test hook; applies from the next frame). */
  setStallMs(ms: number): void {
    this.timing.stallMs = ms;
  }

  /** The hub says the room does not exist. */
  noSuchRoom(): void {
    this.end("no_such_room", "This drop was already viewed, cancelled, or it expired. Ask the sender for a new one.");
  }

  /** Joined the room, whose other peers are `peers`: the hello goes to them. */
  async joined(peers: string[], now: number): Promise<void> {
    if (this.done) return;
    const { auth, ephemeral } = this;
    if (peers.length === 0 || !auth || !ephemeral) {
      this.end("no_such_room", "The sender is no longer there: the drop was cancelled.");
      return;
    }
    this.emit({ phase: "connecting", step: "hello" });
    const pub = ephemeral.publicB64;
    const mac = await helloMac(auth, receiverMacText(pub, this.name));
    if (this.over()) return;
    for (const peer of peers) this.signal(peer, "hello", { role: "receiver", pub, name: this.name, mac }, false);
    this.helloAt = now + this.timing.helloMs;
  }

  /** A signal from hub peer `from`. */
  async handleSignal(from: string, payload: Payload, now: number): Promise<void> {
    if (this.done || !isDropPayload(payload)) return;
    try {
      const kind = payload["kind"];
      if (kind === "refused") {
        this.onRefused(payload["reason"]);
      } else if (kind === "hello" && payload["role"] === "sender") {
        await this.onSenderHello(from, payload);
      } else if (from !== this.other) {
        return;
      } else if (kind === "offer" && typeof payload["sdp"] === "string") {
        if (this.offered || !this.transfer) return;
        this.offered = true;
        this.connectAt = now + this.timing.connectMs;
        this.rtc({ kind: "answer", sdp: payload["sdp"] });
      } else if (kind === "candidates") {
        this.rtc({ kind: "add_candidates", candidates: payload["candidates"] });
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private onRefused(reason: unknown): void {
    if (reason === "bad_mac") this.end("tampered", TAMPERED);
    else if (reason === "taken")
      this.end("taken", "Someone else already opened this drop. It can be viewed only once.");
    else this.end("failed", `The sender refused (${typeof reason === "string" ? reason : "no reason"}).`);
  }

  private async onSenderHello(from: string, payload: Payload): Promise<void> {
    const { auth, ephemeral } = this;
    if (this.other !== undefined || !auth || !ephemeral) return;
    const pub = payload["pub"];
    const text = senderMacText(typeof pub === "string" ? pub : "", ephemeral.publicB64);
    if (typeof pub !== "string" || !(await verifyHelloMac(auth, text, payload["mac"]))) {
      this.signal(from, "refused", { reason: "bad_mac" }, false);
      this.end("tampered", TAMPERED);
      return;
    }
    // Another event may have run while this awaited (the sender's image pump runs beside the queue).
    if (this.over() || this.isPaired()) return;
    this.helloAt = undefined;
    this.other = from;
    const key = await deriveSessionKey(ephemeral, parsePublicKey(pub), this.secret, pub, ephemeral.publicB64);
    this.transfer = new ReceiverTransfer(key);
    wipe(this.secret);
    this.emit({ phase: "connecting", step: "channel" });
  }

  /** The driver's answer (after the `answer` step). */
  answerMade(sdp: string): void {
    if (this.other !== undefined) this.signal(this.other, "answer", { sdp }, true);
  }

  /** Local ICE candidates, batched by the driver. */
  localCandidates(candidates: unknown[]): void {
    if (this.other !== undefined) this.signal(this.other, "candidates", { candidates }, true);
  }

  /** The data channel opened. */
  channelOpened(now: number): void {
    this.connectAt = undefined;
    this.open = true;
    if (this.done) return;
    this.emit({ phase: "receiving", received: 0, total: undefined });
    this.stallAt = now + this.timing.stallMs;
  }

  /** A frame from the sender. */
  async handleFrame(frame: Uint8Array, now: number): Promise<void> {
    const transfer = this.transfer;
    if (this.done || !transfer) return;
    try {
      if (this.current.phase === "viewing") {
        // Only a cancel may still come: the sender wants the image gone.
        const { kind, body } = decodeFrame(frame);
        if (kind === FRAME.cancel) this.end("peer_cancelled", senderCancelled(cancelReason(body)));
        return;
      }
      this.stallAt = now + this.timing.stallMs;
      const step = await transfer.accept(frame);
      if (this.over()) return;
      switch (step.type) {
        case "cancel":
          if (step.reason === STALLED_REASON) this.end("stalled", stalledMessage(this.timing));
          else this.end("peer_cancelled", senderCancelled(step.reason));
          return;
        case "meta":
          this.emit({ phase: "receiving", received: 0, total: step.meta.size });
          return;
        case "chunk":
          if (step.progress) this.outputs.push({ type: "frame", frame: step.progress, bestEffort: false });
          this.emit({ phase: "receiving", received: step.received, total: step.total });
          return;
        case "done":
          this.stallAt = undefined;
          this.meta = step.meta;
          this.outputs.push({ type: "frame", frame: step.progress, bestEffort: false });
          this.rtc({ kind: "decode", image: step.image, type: step.meta.type });
          return;
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** The driver decoded the image (after the `decode` step). */
  pictureReady(picture: DropPicture): void {
    const meta = this.meta;
    if (this.done || !meta) {
      picture.bitmap.close();
      return;
    }
    this.picture = picture;
    this.emit({ phase: "viewing", picture, meta, endsAt: undefined });
  }

  /** The page drew the picture: the countdown starts now (once). */
  shown(now: number): void {
    const state = this.current;
    if (this.done || state.phase !== "viewing" || state.endsAt !== undefined) return;
    const endsAt = now + state.meta.seconds * 1000;
    this.viewEndsAt = endsAt;
    this.emit({ ...state, endsAt });
  }

  /** The receiver closes the picture before the countdown ends: it counts as viewed. */
  closePicture(): void {
    if (this.current.phase === "viewing") this.viewed();
  }

  /** The page could not show the picture. */
  notShown(message: string): void {
    this.end("failed", `The image could not be shown: ${message}`, "the image could not be shown");
  }

  /** The data channel closed. */
  channelClosed(): void {
    this.open = false;
    // While viewing, the image is here already: the countdown runs out as usual.
    if (this.done || this.current.phase === "viewing") return;
    this.end("left", "The connection to the sender was lost before the image arrived.");
  }

  /** The peer connection failed. */
  connectionFailed(): void {
    if (!this.open) {
      this.end("failed", "No network path to the other side: a direct connection failed and no relay worked.");
    }
  }

  /** The hub closed the room (`room_closed`). */
  roomClosed(reason: unknown): void {
    if (this.done || this.open) return;
    if (reason === "expired") this.end("expired", "This drop expired before it could be viewed.");
    else this.end("peer_cancelled", "The sender cancelled this drop.");
  }

  /** A peer left the room. */
  peerLeft(peer: unknown): void {
    if (!this.done && !this.open && this.other !== undefined && peer === this.other) {
      this.end("left", "The sender left before the image arrived: the drop was cancelled.");
    }
  }

  /** The hub connection closed. */
  hubClosed(reason: string): void {
    if (!this.done && !this.open) this.end("failed", `The connection to the hub closed (${reason}).`);
  }

  /** The hub could not deliver a critical signal. */
  signalFailed(error: { code: string }): void {
    if (this.open) return;
    if (error.code === "peer_unavailable") {
      this.end("left", "The sender left before the image arrived: the drop was cancelled.");
    } else {
      this.fail(error);
    }
  }

  /** The receiver leaves early: the image is wiped. */
  cancel(): void {
    this.end("cancelled", "You closed the drop.", "cancelled by the receiver");
  }

  /** Something failed (here or in the driver): the drop ends with what it says. */
  fail(error: unknown): void {
    const { reason, message, cancel } = failure(error);
    this.end(reason, message, cancel);
  }

  pollTimeout(): number | undefined {
    return this.done ? undefined : earliest(this.stallAt, this.connectAt, this.helloAt, this.viewEndsAt);
  }

  handleTimeout(now: number): void {
    if (this.done) return;
    if (this.viewEndsAt !== undefined && now >= this.viewEndsAt) {
      this.viewed();
    } else if (this.stallAt !== undefined && now >= this.stallAt) {
      this.end("stalled", stalledMessage(this.timing), STALLED_REASON);
    } else if (this.helloAt !== undefined && now >= this.helloAt && this.other === undefined) {
      this.end("left", "The sender did not answer: their page may have been closed.");
    } else if (this.connectAt !== undefined && now >= this.connectAt && !this.open) {
      this.end(
        "failed",
        `No connection to the other side within ${this.timing.connectMs / 1000} s: no network path between you.`,
      );
    }
  }

  pollOutput(): DropOutput<ReceiverState> | undefined {
    return this.outputs.shift();
  }

  private viewed(): void {
    if (this.done) return;
    this.outputs.push({ type: "frame", frame: viewedFrame(), bestEffort: true });
    this.outputs.push({ type: "remember_viewed", room: this.room });
    this.finish();
    this.emit({ phase: "gone" });
  }

  /** `done`, read afresh after an await (where the compiler would keep an earlier narrowing). */
  private over(): boolean {
    return this.done;
  }

  private isPaired(): boolean {
    return this.other !== undefined;
  }

  private end(reason: DropEndReason, message: string, cancel?: string): void {
    if (this.done) return;
    if (cancel !== undefined) this.outputs.push({ type: "frame", frame: cancelFrame(cancel), bestEffort: true });
    this.finish();
    this.emit({ phase: "ended", reason, message } satisfies DropEnded);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.stallAt = undefined;
    this.connectAt = undefined;
    this.helloAt = undefined;
    this.viewEndsAt = undefined;
    this.transfer?.wipe();
    this.transfer = undefined;
    this.picture?.bitmap.close();
    this.picture = undefined;
    wipe(this.secret);
    this.auth = undefined;
    this.ephemeral = undefined;
    this.outputs.push({ type: "finish", deleteRoom: undefined });
  }

  private emit(state: ReceiverState): void {
    if (this.done && state.phase !== "ended" && state.phase !== "gone") return;
    this.current = state;
    this.outputs.push({ type: "state", state });
  }

  private signal(to: string, kind: string, fields: Payload, critical: boolean): void {
    this.outputs.push({ type: "signal", to, payload: dropPayload(kind, fields), critical });
  }

  private rtc(step: RtcStep): void {
    this.outputs.push({ type: "rtc", step });
  }
}

function senderCancelled(reason: string): string {
  return `The sender cancelled this drop${reason && reason !== "cancelled by the sender" ? ` (${reason})` : ""}.`;
}
