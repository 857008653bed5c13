/**
 * The sender's side of a drop, sans-IO (the twin of Rust's `p2pos_core::drop::Sender`): it waits
 * for one receiver's hello, checks its MAC, agrees the key, asks for the data channel, hands out the
 * sealed image frame by frame and waits for `viewed`. The room, the hub and WebRTC are the driver's
 * (`session.ts`); the contract is in `machine.ts`.
 */
import { wipe } from "../lib/bytes.ts";
import {
  type DropEndReason,
  type DropEnded,
  type DropOutput,
  type Payload,
  type SenderState,
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
  type EphemeralKey,
  FrameSealer,
  authKey,
  cancelFrame,
  checkImage,
  deriveSessionKey,
  formatDropLink,
  helloMac,
  parsePublicKey,
  readReceiverFrame,
  receiverMacText,
  sealImage,
  senderMacText,
  verifyHelloMac,
} from "./protocol.ts";

export interface SenderImage {
  name: string;
  type: string;
  bytes: Uint8Array;
}

export interface SenderMachineOptions {
  image: SenderImage;
  /** View time, 5–60 s. */
  seconds: number;
  /** The link's 16-byte secret (the machine wipes it when the drop ends). */
  secret: Uint8Array<ArrayBuffer>;
  ephemeral: EphemeralKey;
  timing?: Partial<Timing>;
}

export class SenderMachine {
  readonly timing: Timing;
  private readonly image: SenderImage;
  private readonly seconds: number;
  private secret: Uint8Array<ArrayBuffer>;
  private auth: CryptoKey | undefined;
  private ephemeral: EphemeralKey | undefined;
  private key: CryptoKey | undefined;
  private frames: AsyncGenerator<{ frame: Uint8Array<ArrayBuffer> }> | undefined;
  private current: SenderState = { phase: "starting" };
  private outputs: DropOutput<SenderState>[] = [];
  private code: string | undefined;
  private link = "";
  private expiresAt = 0;
  private receiverName = "";
  /** The hub peer id of the receiver, once its hello verified. */
  private other: string | undefined;
  private open = false;
  private stallAt: number | undefined;
  private connectAt: number | undefined;
  private done = false;

  private constructor(options: SenderMachineOptions, auth: CryptoKey) {
    this.image = options.image;
    this.seconds = options.seconds;
    this.secret = options.secret;
    this.ephemeral = options.ephemeral;
    this.auth = auth;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
  }

  /** A sender for `image`. Throws a `file` error for an image it cannot send. */
  static async create(options: SenderMachineOptions): Promise<SenderMachine> {
    checkImage(options.image.type, options.image.bytes.length, options.seconds);
    return new SenderMachine(options, await authKey(options.secret));
  }

  get state(): SenderState {
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

  /** The hub made the room: the link is ready to share. */
  roomReady(origin: string, code: string, ttlSecs: number, now: number): void {
    if (this.done) return;
    this.code = code;
    this.expiresAt = now + ttlSecs * 1000;
    this.link = formatDropLink(origin, code, this.secret);
    this.emit({ phase: "waiting", link: this.link, expiresAt: this.expiresAt });
  }

  /** A signal from hub peer `from`. */
  async handleSignal(from: string, payload: Payload, now: number): Promise<void> {
    if (this.done || !isDropPayload(payload)) return;
    try {
      const kind = payload["kind"];
      if (kind === "hello" && payload["role"] === "receiver") {
        await this.onReceiverHello(from, payload, now);
        return;
      }
      if (from !== this.other) return;
      if (kind === "answer" && typeof payload["sdp"] === "string") {
        this.rtc({ kind: "apply_answer", sdp: payload["sdp"] });
      } else if (kind === "candidates") {
        this.rtc({ kind: "add_candidates", candidates: payload["candidates"] });
      } else if (kind === "refused") {
        const reason = payload["reason"];
        if (reason === "bad_mac") this.end("tampered", TAMPERED);
        else
          this.end("failed", `The receiver refused the drop (${typeof reason === "string" ? reason : "no reason"}).`);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private async onReceiverHello(from: string, payload: Payload, now: number): Promise<void> {
    if (this.other !== undefined) {
      // View once: the first receiver whose hello verified has it.
      if (from !== this.other) this.signal(from, "refused", { reason: "taken" }, false);
      return;
    }
    const { auth, ephemeral } = this;
    if (!auth || !ephemeral || this.current.phase !== "waiting") return;
    const pub = payload["pub"];
    const name = payload["name"];
    const text = receiverMacText(typeof pub === "string" ? pub : "", typeof name === "string" ? name : "");
    if (typeof pub !== "string" || typeof name !== "string" || !(await verifyHelloMac(auth, text, payload["mac"]))) {
      this.signal(from, "refused", { reason: "bad_mac" }, false);
      this.end("tampered", TAMPERED);
      return;
    }
    // Another event may have run while this awaited (the sender's image pump runs beside the queue).
    if (this.over() || this.isPaired()) return;
    this.other = from;
    this.receiverName = name.trim().slice(0, 64) || "The receiver";
    this.key = await deriveSessionKey(ephemeral, parsePublicKey(pub), this.secret, ephemeral.publicB64, pub);
    const mac = await helloMac(auth, senderMacText(ephemeral.publicB64, pub));
    if (this.over()) return;
    this.signal(from, "hello", { role: "sender", pub: ephemeral.publicB64, mac }, true);
    this.emit({ phase: "connecting", link: this.link, expiresAt: this.expiresAt, receiver: this.receiverName });
    this.connectAt = now + this.timing.connectMs;
    this.rtc({ kind: "offer" });
  }

  /** The driver's offer (after the `offer` step). */
  offerMade(sdp: string): void {
    if (this.other !== undefined) this.signal(this.other, "offer", { sdp }, true);
  }

  /** Local ICE candidates, batched by the driver. */
  localCandidates(candidates: unknown[]): void {
    if (this.other !== undefined) this.signal(this.other, "candidates", { candidates }, true);
  }

  /** The data channel opened: the image goes out (`send_image`). */
  channelOpened(now: number): void {
    this.connectAt = undefined;
    this.open = true;
    const key = this.key;
    if (!key || this.done) return;
    this.frames = sealImage(new FrameSealer(key), this.image, this.seconds);
    this.emit({ phase: "sending", receiver: this.receiverName, received: 0, total: this.image.bytes.length });
    this.stallAt = now + this.timing.stallMs;
    this.rtc({ kind: "send_image" });
  }

  /** The next sealed frame of the image (`meta`, then the chunks); `undefined` when all are out. */
  async nextFrame(): Promise<Uint8Array<ArrayBuffer> | undefined> {
    if (this.done || !this.frames) return undefined;
    const next = await this.frames.next();
    return next.done === true || this.over() ? undefined : next.value.frame;
  }

  /**
   * A frame of the image left. Bytes leaving count as life too: a receiver may report progress only
   * at the end. A path that stops carrying them fills the buffer, blocks the driver's send, and
   * stalls here.
   */
  frameSent(now: number): void {
    if (!this.done && this.current.phase === "sending") this.stallAt = now + this.timing.stallMs;
  }

  /** A frame from the receiver. */
  handleFrame(frame: Uint8Array, now: number): void {
    if (this.done) return;
    try {
      const message = readReceiverFrame(frame);
      const total = this.image.bytes.length;
      switch (message.type) {
        case "progress":
          if (this.current.phase !== "sending") return;
          if (message.received >= total) {
            this.stallAt = undefined;
            this.emit({ phase: "viewing", receiver: this.receiverName, seconds: this.seconds });
          } else {
            this.stallAt = now + this.timing.stallMs;
            this.emit({ phase: "sending", receiver: this.receiverName, received: message.received, total });
          }
          return;
        case "viewed":
          this.finish();
          this.emit({ phase: "viewed", receiver: this.receiverName });
          return;
        case "cancel":
          if (message.reason === STALLED_REASON) {
            this.end("stalled", stalledMessage(this.timing));
            return;
          }
          this.end(
            "peer_cancelled",
            `${this.receiverName} ended the drop${message.reason ? ` (${message.reason})` : ""}.`,
          );
          return;
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** The data channel closed. */
  channelClosed(): void {
    this.open = false;
    if (this.done) return;
    if (this.current.phase === "viewing") {
      this.end(
        "left",
        `${this.receiverName} closed the page before the countdown ended. The image was shown, then discarded with the page.`,
      );
    } else {
      this.end("left", "The connection to the receiver was lost before the image was sent.");
    }
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
    this.code = undefined; // nothing left to delete
    if (reason === "expired") {
      this.end("expired", "Nobody opened the link in time: the drop expired. Nothing was sent.");
    } else {
      this.end("failed", "The hub closed the room.");
    }
  }

  /** A peer left the room. */
  peerLeft(peer: unknown): void {
    if (!this.done && !this.open && this.other !== undefined && peer === this.other) {
      this.end("left", "The receiver left before the image was sent. The link no longer works.");
    }
  }

  /** The hub connection closed. */
  hubClosed(reason: string): void {
    if (!this.done && !this.open) {
      this.end("failed", `The connection to the hub closed (${reason}): the link no longer works.`);
    }
  }

  /** The hub could not deliver a critical signal. */
  signalFailed(error: { code: string }): void {
    if (this.open) return;
    if (error.code === "peer_unavailable") {
      this.end("left", "The receiver left before the image was sent. The link no longer works.");
    } else {
      this.fail(error);
    }
  }

  /** The person cancels: the receiver is told, the room deleted. */
  cancel(): void {
    this.end("cancelled", "You cancelled this drop. The link no longer works.", "cancelled by the sender");
  }

  /** Something failed (here or in the driver): the drop ends with what it says. */
  fail(error: unknown): void {
    const { reason, message, cancel } = failure(error);
    this.end(reason, message, cancel);
  }

  pollTimeout(): number | undefined {
    return this.done ? undefined : earliest(this.stallAt, this.connectAt);
  }

  handleTimeout(now: number): void {
    if (this.done) return;
    if (this.stallAt !== undefined && now >= this.stallAt) {
      this.end("stalled", stalledMessage(this.timing), STALLED_REASON);
    } else if (this.connectAt !== undefined && now >= this.connectAt && !this.open) {
      this.end(
        "failed",
        `No connection to the other side within ${this.timing.connectMs / 1000} s: no network path between you.`,
      );
    }
  }

  pollOutput(): DropOutput<SenderState> | undefined {
    return this.outputs.shift();
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
    wipe(this.image.bytes);
    wipe(this.secret);
    this.auth = undefined;
    this.ephemeral = undefined;
    this.key = undefined;
    this.frames = undefined;
    this.link = "";
    this.outputs.push({ type: "finish", deleteRoom: this.code });
    this.code = undefined;
  }

  private emit(state: SenderState): void {
    if (this.done && state.phase !== "ended" && state.phase !== "viewed") return;
    this.current = state;
    this.outputs.push({ type: "state", state });
  }

  private signal(to: string, kind: string, fields: Payload, critical: boolean): void {
    this.outputs.push({ type: "signal", to, payload: dropPayload(kind, fields), critical });
  }

  private rtc(step: Extract<DropOutput<SenderState>, { type: "rtc" }>["step"]): void {
    this.outputs.push({ type: "rtc", step });
  }
}
