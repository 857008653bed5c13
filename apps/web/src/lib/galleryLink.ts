/**
 * One WebRTC connection between two peers of a gallery: an ordered data channel
 * (`p2pos/gallery`, negotiated as id 0 on both sides) that carries the frames of `galleryWire.ts`.
 *
 * It owns the browser side of the transport and nothing of the protocol: frames to send wait in a
 * queue and leave while the channel's buffered amount is low (control frames first, then image
 * transfers in turn, 64 KiB at a time), so a big transfer neither overflows the channel nor holds
 * up announcements. SDP and ICE candidates go through `signal` (the session paces them for the
 * hub's rate limit); candidates are batched.
 */
import type { IceServerInit } from "./hubClient.ts";
import { dataFrames } from "./galleryCore.ts";

export const GALLERY_CHANNEL_LABEL = "p2pos/gallery";
/** Pause sending above this many buffered bytes; resume below the low threshold. */
const BUFFERED_HIGH = 1024 * 1024;
const BUFFERED_LOW = 256 * 1024;
/** Give up on a connection that has not opened after this long. */
export const CONNECT_TIMEOUT_MS = 25_000;
const CANDIDATE_BATCH_MS = 100;

export type LinkState = "connecting" | "open" | "closed";
export type PathKind = "host" | "srflx" | "prflx" | "relay";

export interface PeerLinkEvents {
  open(): void;
  frame(data: Uint8Array): void;
  /** The link closed; `byUs` when this side closed it. */
  closed(reason: string, byUs: boolean): void;
  /** The whole of request `req` was handed to the channel. */
  served(req: number): void;
  /** Send this payload to the peer through the hub. */
  signal(payload: Record<string, unknown>): void;
}

interface Serve {
  req: number;
  frames: Generator<Uint8Array<ArrayBuffer>>;
}

export class PeerLink {
  readonly peer: string;
  private readonly pc: RTCPeerConnection;
  private readonly dc: RTCDataChannel;
  private readonly events: PeerLinkEvents;
  private readonly holdServes: () => boolean;
  private stateValue: LinkState = "connecting";
  private remoteSet = false;
  private early: RTCIceCandidateInit[] = [];
  private batch: RTCIceCandidateInit[] = [];
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly connectTimer: ReturnType<typeof setTimeout>;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly control: Uint8Array<ArrayBuffer>[] = [];
  private serves: Serve[] = [];

  /** `holdServes` (a test hook) makes this side accept requests but never send their bytes. */
  constructor(peer: string, iceServers: IceServerInit[], events: PeerLinkEvents, holdServes: () => boolean) {
    this.peer = peer;
    this.events = events;
    this.holdServes = holdServes;
    this.pc = new RTCPeerConnection({ iceServers });
    this.dc = this.pc.createDataChannel(GALLERY_CHANNEL_LABEL, { negotiated: true, id: 0, ordered: true });
    this.dc.binaryType = "arraybuffer";
    this.dc.bufferedAmountLowThreshold = BUFFERED_LOW;
    this.dc.onopen = () => {
      if (this.stateValue !== "connecting") return;
      this.stateValue = "open";
      clearTimeout(this.connectTimer);
      this.events.open();
      this.pump();
    };
    this.dc.onmessage = (event: MessageEvent<unknown>) => {
      if (this.stateValue !== "open") return;
      if (event.data instanceof ArrayBuffer) this.events.frame(new Uint8Array(event.data));
      else this.close("sent a text message on the gallery channel", true);
    };
    this.dc.onclose = () => this.close("the connection closed", false);
    this.dc.onbufferedamountlow = () => this.pump();
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === "failed") this.close("the connection failed", false);
    };
    this.pc.onicecandidate = (event) => {
      if (!event.candidate || event.candidate.candidate === "") return;
      this.batch.push(event.candidate.toJSON());
      this.batchTimer ??= setTimeout(() => {
        this.batchTimer = undefined;
        const candidates = this.batch;
        this.batch = [];
        if (this.stateValue !== "closed") this.events.signal({ kind: "candidates", candidates });
      }, CANDIDATE_BATCH_MS);
    };
    this.connectTimer = setTimeout(
      () => this.close(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`, true),
      CONNECT_TIMEOUT_MS,
    );
  }

  get state(): LinkState {
    return this.stateValue;
  }

  /** Makes the offer; `bind` gives the MAC over its DTLS fingerprint. */
  async offer(bind: (sdp: string) => Promise<string>): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const sdp = this.pc.localDescription?.sdp ?? "";
    const mac = await bind(sdp);
    if (this.stateValue === "closed") return;
    this.events.signal({ kind: "offer", sdp, mac });
  }

  /** Answers an offer (its binding already checked). */
  async answer(sdp: string, bind: (sdp: string) => Promise<string>): Promise<void> {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.remoteDescriptionSet();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const local = this.pc.localDescription?.sdp ?? "";
    const mac = await bind(local);
    if (this.stateValue === "closed") return;
    this.events.signal({ kind: "answer", sdp: local, mac });
  }

  /** Takes the peer's answer (its binding already checked). */
  async accept(sdp: string): Promise<void> {
    if (this.remoteSet || this.stateValue === "closed") return;
    await this.pc.setRemoteDescription({ type: "answer", sdp });
    await this.remoteDescriptionSet();
  }

  addCandidates(candidates: RTCIceCandidateInit[]): void {
    if (!this.remoteSet) {
      this.early.push(...candidates);
      return;
    }
    for (const candidate of candidates) void this.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  /** Queues a frame. */
  enqueue(frame: Uint8Array<ArrayBuffer>): void {
    if (this.stateValue === "closed") return;
    this.control.push(frame);
    this.pump();
  }

  /** Streams `bytes` as the `data` frames of request `req`. */
  serve(req: number, bytes: Uint8Array): void {
    if (this.stateValue === "closed") return;
    this.serves.push({ req, frames: dataFrames(req, bytes) });
    this.pump();
  }

  unserve(req: number): void {
    this.serves = this.serves.filter((serve) => serve.req !== req);
  }

  /** Sends bytes as they are, bypassing the protocol (test hooks only). */
  sendRaw(bytes: Uint8Array<ArrayBuffer>): void {
    if (this.dc.readyState === "open") this.dc.send(bytes);
  }

  /** The selected candidate pair's type (the weaker side: relay if either end is relayed). */
  async path(): Promise<PathKind | undefined> {
    const stats = await this.pc.getStats();
    let pair: RTCIceCandidatePairStats | undefined;
    stats.forEach((report: RTCStats) => {
      if (report.type === "transport") {
        const id = (report as RTCTransportStats).selectedCandidatePairId;
        if (id) pair = stats.get(id) as RTCIceCandidatePairStats;
      }
    });
    if (!pair) return undefined;
    const types = [pair.localCandidateId, pair.remoteCandidateId].map(
      (id) => (stats.get(id) as { candidateType?: PathKind } | undefined)?.candidateType,
    );
    for (const kind of ["relay", "prflx", "srflx", "host"] as const) if (types.includes(kind)) return kind;
    return undefined;
  }

  close(reason: string, byUs: boolean): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    clearTimeout(this.connectTimer);
    clearTimeout(this.batchTimer);
    clearTimeout(this.pumpTimer);
    this.control.length = 0;
    this.serves = [];
    this.dc.close();
    this.pc.close();
    this.events.closed(reason, byUs);
  }

  private async remoteDescriptionSet(): Promise<void> {
    this.remoteSet = true;
    const early = this.early;
    this.early = [];
    for (const candidate of early) await this.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  private pump(): void {
    if (this.stateValue !== "open") return;
    try {
      while (this.dc.bufferedAmount < BUFFERED_HIGH) {
        const frame = this.control.shift();
        if (frame) {
          this.dc.send(frame);
          continue;
        }
        const serve = this.holdServes() ? undefined : this.serves.shift();
        if (!serve) break;
        const next = serve.frames.next();
        if (next.done) {
          this.events.served(serve.req);
          continue;
        }
        this.dc.send(next.value);
        this.serves.push(serve);
      }
    } catch (error) {
      this.close(`sending failed: ${String(error)}`, true);
      return;
    }
    // `bufferedamountlow` resumes a full channel; look again now and then in case it never fires.
    if (this.control.length > 0 || this.serves.length > 0) {
      clearTimeout(this.pumpTimer);
      this.pumpTimer = setTimeout(() => this.pump(), 250);
    }
  }
}
