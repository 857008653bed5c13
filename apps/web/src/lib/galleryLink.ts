/**
 * One WebRTC connection between two peers of a gallery: an ordered data channel
 * (`p2pos/gallery`, negotiated as id 0 on both sides) that carries the frames of `galleryWire.ts`.
 *
 * The connection itself (setup, candidate batching, connect timeout, back-pressure thresholds,
 * path) is a `PeerLink` (`peerLink.ts`). This file adds the gallery's sending order: frames wait
 * in a queue and leave while the channel has room (control frames first, then image transfers in
 * turn, 64 KiB at a time), so a big transfer neither overflows the channel nor holds up
 * announcements. SDP and candidates go through `signal` (the session paces them for the hub's rate
 * limit), each SDP with the MAC over its DTLS fingerprint.
 */
import type { IceServerInit } from "./hubClient.ts";
import { dataFrames } from "./galleryCore.ts";
import { CONNECT_TIMEOUT_MS, type LinkError, type PathKind, PeerLink } from "./peerLink.ts";

export type { PathKind };

export const GALLERY_CHANNEL_LABEL = "p2pos/gallery";

export type LinkState = "connecting" | "open" | "closed";

export interface GalleryLinkEvents {
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

/** The words a closed link leaves in the peer's row, and in `bye` when this side ended it. */
function closeReason(error: LinkError): [reason: string, byUs: boolean] {
  switch (error.kind) {
    case "timeout":
      return [`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`, true];
    case "failed":
      return ["the connection failed", false];
    default:
      return ["the connection closed", false];
  }
}

export class GalleryLink {
  readonly peer: string;
  private readonly link: PeerLink;
  private readonly events: GalleryLinkEvents;
  private readonly holdServes: () => boolean;
  private stateValue: LinkState = "connecting";
  /** Gives the MAC over an SDP's fingerprint, for the offer or answer about to go out. */
  private bind: ((sdp: string) => Promise<string>) | undefined;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly control: Uint8Array<ArrayBuffer>[] = [];
  private serves: Serve[] = [];

  /** `holdServes` (a test hook) makes this side accept requests but never send their bytes. */
  constructor(peer: string, iceServers: IceServerInit[], events: GalleryLinkEvents, holdServes: () => boolean) {
    this.peer = peer;
    this.events = events;
    this.holdServes = holdServes;
    this.link = new PeerLink({
      iceServers,
      channel: { label: GALLERY_CHANNEL_LABEL, id: 0 },
      signal: async (out) => {
        if (out.kind === "candidates") {
          if (this.stateValue !== "closed") this.events.signal({ kind: "candidates", candidates: out.candidates });
          return;
        }
        const mac = await (this.bind ?? missingBind)(out.sdp);
        if (this.stateValue === "closed") return;
        this.events.signal({ kind: out.kind, sdp: out.sdp, mac });
      },
      on: {
        open: () => {
          if (this.stateValue !== "connecting") return;
          this.stateValue = "open";
          this.events.open();
          this.pump();
        },
        message: (data) => {
          if (this.stateValue !== "open") return;
          if (data instanceof ArrayBuffer) this.events.frame(new Uint8Array(data));
          else this.close("sent a text message on the gallery channel", true);
        },
        drained: () => this.pump(),
        closed: (error) => this.close(...closeReason(error)),
      },
    });
  }

  get state(): LinkState {
    return this.stateValue;
  }

  /** Makes the offer; `bind` gives the MAC over its DTLS fingerprint. */
  async offer(bind: (sdp: string) => Promise<string>): Promise<void> {
    this.bind = bind;
    await this.link.offer();
  }

  /** Answers an offer (its binding already checked). */
  async answer(sdp: string, bind: (sdp: string) => Promise<string>): Promise<void> {
    this.bind = bind;
    await this.link.answer(sdp);
  }

  /** Takes the peer's answer (its binding already checked). */
  async accept(sdp: string): Promise<void> {
    await this.link.applyAnswer(sdp);
  }

  addCandidates(candidates: RTCIceCandidateInit[]): void {
    this.link.addCandidates(candidates);
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
    if (this.link.isOpen) this.link.send(bytes);
  }

  /** The path the connection takes (`pathFromStats`). */
  async path(): Promise<PathKind | undefined> {
    return this.link.path();
  }

  close(reason: string, byUs: boolean): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    clearTimeout(this.pumpTimer);
    this.control.length = 0;
    this.serves = [];
    this.link.close(reason);
    this.events.closed(reason, byUs);
  }

  private pump(): void {
    if (this.stateValue !== "open") return;
    try {
      while (this.link.hasRoom()) {
        const frame = this.control.shift();
        if (frame) {
          this.link.send(frame);
          continue;
        }
        const serve = this.holdServes() ? undefined : this.serves.shift();
        if (!serve) break;
        const next = serve.frames.next();
        if (next.done) {
          this.events.served(serve.req);
          continue;
        }
        this.link.send(next.value);
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

function missingBind(): Promise<string> {
  return Promise.reject(new Error("No binding for this SDP."));
}
