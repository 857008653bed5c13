/**
 * What Drop's two state machines (`sender.ts`, `receiver.ts`) share: the states they report, the
 * outputs they ask their driver for, their timers, and the drop signals. The same shape as the Rust
 * `p2pos_core::drop::{Sender, Receiver}`: a driver feeds a machine what happened (with `now`, in ms),
 * then takes `pollOutput()` until `undefined`, and calls `handleTimeout(now)` once `pollTimeout()`
 * has passed. Machines await WebCrypto but never touch the network, a timer or storage.
 */
import { HubError } from "../lib/hubClient.ts";
import { CONNECT_TIMEOUT_MS } from "../lib/peerLink.ts";
import { type DropMeta, DropError } from "./protocol.ts";

/** How a drop ended, when it did not end well. */
export type DropEndReason =
  /** This side cancelled. */
  | "cancelled"
  /** The other side cancelled (or, for the receiver, the sender deleted the room). */
  | "peer_cancelled"
  /** The room's lifetime ran out before a receiver came. */
  | "expired"
  /** A hello's MAC did not verify: someone between the two swapped a key. */
  | "tampered"
  /** Another receiver already opened the drop. */
  | "taken"
  /** The room does not exist (any more): viewed, cancelled or expired. */
  | "no_such_room"
  /** This browser viewed this drop already. */
  | "already_viewed"
  /** No frame for 15 s while a transfer was under way. */
  | "stalled"
  /** The other side went away. */
  | "left"
  | "failed";

/** The final state of a drop that did not end well. */
export interface DropEnded {
  phase: "ended";
  reason: DropEndReason;
  message: string;
}

export type SenderState =
  | { phase: "starting" }
  | { phase: "waiting"; link: string; expiresAt: number }
  | { phase: "connecting"; link: string; expiresAt: number; receiver: string }
  | { phase: "sending"; receiver: string; received: number; total: number }
  | { phase: "viewing"; receiver: string; seconds: number }
  | { phase: "viewed"; receiver: string }
  | DropEnded;

export interface DropPicture {
  /** The decoded image, drawn by the page; closed when the drop ends. */
  bitmap: ImageBitmap;
  width: number;
  height: number;
}

export type ReceiverState =
  | { phase: "connecting"; step: "hub" | "hello" | "channel" }
  | { phase: "receiving"; received: number; total: number | undefined }
  | { phase: "viewing"; picture: DropPicture; meta: DropMeta; endsAt: number | undefined }
  | { phase: "gone" }
  | DropEnded;

/** The timers of a drop, in ms. `DEFAULT_TIMING` is the protocol's; tests and test hooks shorten them. */
export interface Timing {
  /** No frame for this long while a transfer is under way fails it ("stalled"). */
  stallMs: number;
  /** Give up if the channel is not open this long after the peer connection was made. */
  connectMs: number;
  /** The receiver gives up if the sender does not answer its hello in this long. */
  helloMs: number;
}

/** `connectMs` is every browser link's connect deadline (`CONNECT_TIMEOUT_MS`, 25 s), kept here by the machine. */
export const DEFAULT_TIMING: Readonly<Timing> = { stallMs: 15_000, connectMs: CONNECT_TIMEOUT_MS, helloMs: 20_000 };

export type Payload = Record<string, unknown>;

/** WebRTC work only the driver can do. */
export type RtcStep =
  /** (Sender) make the peer connection with the `p2pos/drop` channel and offer; hand the SDP to `offerMade`. */
  | { kind: "offer" }
  /** (Receiver) make the peer connection and answer `sdp`, unless one exists; hand the SDP to `answerMade`. */
  | { kind: "answer"; sdp: string }
  /** (Sender) apply the receiver's answer to the peer connection, if there is one. */
  | { kind: "apply_answer"; sdp: string }
  | { kind: "add_candidates"; candidates: unknown }
  /** (Sender) send the image: `nextFrame()` until `undefined`, `frameSent(now)` after each. */
  | { kind: "send_image" }
  /** (Receiver) decode the complete image for display, wipe `image`, then `pictureReady` or `notShown`. */
  | { kind: "decode"; image: Uint8Array<ArrayBuffer>; type: string };

/** What a machine asks its driver to do. */
export type DropOutput<S> =
  /**
   * A signal through the hub. `critical`: if the hub cannot deliver it before the channel is open,
   * tell the machine (`signalFailed`).
   */
  | { type: "signal"; to: string; payload: Payload; critical: boolean }
  /** A frame on the data channel. `bestEffort`: send it now if the channel is open, never fail. */
  | { type: "frame"; frame: Uint8Array<ArrayBuffer>; bestEffort: boolean }
  | { type: "rtc"; step: RtcStep }
  /** The new state, for the page. */
  | { type: "state"; state: S }
  /** (Receiver) remember this room as viewed in this browser. */
  | { type: "remember_viewed"; room: string }
  /**
   * The drop is over: stop, and close the channel and the hub after a moment for last frames to
   * leave. `deleteRoom`: (sender) the room to delete first, so the link is dead at once.
   */
  | { type: "finish"; deleteRoom: string | undefined };

export const TAMPERED =
  "Someone between you and the other side (the hub or a relay) swapped the encryption keys. The transfer was refused before any of the image was sent.";

export function stalledMessage(timing: Timing): string {
  return `The transfer stalled: nothing arrived for ${Math.round(timing.stallMs / 1000)} seconds. Nothing was kept.`;
}

/** The `cancel` reason of a stalled transfer: the other side then fails as "stalled" too. */
export const STALLED_REASON = "stalled";

export function dropPayload(kind: string, fields: Payload = {}): Payload {
  return { p2pos: "drop", kind, ...fields };
}

/**
 * A signal of this protocol: tagged `"p2pos": "drop"`. The spec writes `refused` without the tag,
 * so an untagged `refused` is taken too.
 */
export function isDropPayload(payload: Payload): boolean {
  return payload["p2pos"] === "drop" || (payload["p2pos"] === undefined && payload["kind"] === "refused");
}

/** How an error thrown while handling something ends a drop. */
export function failure(error: unknown): { reason: DropEndReason; message: string; cancel: string | undefined } {
  if (error instanceof DropError && error.kind === "bad_mac") {
    return { reason: "tampered", message: TAMPERED, cancel: undefined };
  }
  if (error instanceof DropError && (error.kind === "open" || error.kind === "frame")) {
    return { reason: "failed", message: `The transfer was damaged: ${error.message}`, cancel: "damaged" };
  }
  if (error instanceof HubError) {
    return { reason: "failed", message: `The hub connection failed: ${error.message}`, cancel: "failed" };
  }
  const text = error instanceof Error ? error.message : String(error);
  return { reason: "failed", message: `Something went wrong: ${text}`, cancel: "failed" };
}

/** The earliest of some deadlines (ms), or `undefined`. */
export function earliest(...deadlines: (number | undefined)[]): number | undefined {
  let out: number | undefined;
  for (const at of deadlines) if (at !== undefined && (out === undefined || at < out)) out = at;
  return out;
}
