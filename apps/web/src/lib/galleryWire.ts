/**
 * Gallery wire format: the frames peers of a gallery exchange on their WebRTC data channel
 * (`docs/APPS.md`, Gallery). Pure: no I/O, no clock.
 *
 * A frame is one data channel message of at most 64 KiB: `kind: u8 | req: u32 BE | body`.
 *
 * | kind | req | body |
 * |---|---|---|
 * | `hello` (1) | 0 | JSON `{"v": 1, "nick", "tag"}`: who this peer says it is; the first frame each way |
 * | `have` (2) | 0 | `u16 BE json length | JSON {"id", "size", "type"} | thumbnail bytes` |
 * | `gone` (3) | 0 | JSON `{"id"}`: the sender no longer holds the image |
 * | `want` (4) | r | JSON `{"id"}`: please send the whole image; `r` is the requester's number |
 * | `head` (5) | r | JSON `{"size"}`: the holder accepted request `r`; `size` bytes follow |
 * | `data` (6) | r | image bytes, in order |
 * | `deny` (7) | r | JSON `{"reason"}`: `not_held`, `busy` or `throttled` |
 * | `cancel` (8) | r | empty: the requester gave up on `r` |
 *
 * ```ts
 * const bytes = encodeFrame({ kind: "want", req: 1, id });
 * decodeFrame(bytes); // { kind: "want", req: 1, id }
 * ```
 */
import { utf8DecodeStrict, utf8Encode } from "./bytes.ts";
import { P2posError } from "./errors.ts";

/** The gallery's limits. Every one of them is part of the protocol a peer may rely on. */
export interface GalleryLimits {
  /** Largest image a peer adds or accepts: 25 MiB. */
  maxImageBytes: number;
  /** Largest thumbnail in a `have`: 32 KiB. */
  maxThumbBytes: number;
  /** Largest frame on the data channel: 64 KiB. */
  maxFrameBytes: number;
  /** A pull with no progress for this long is cancelled and retried from another holder. */
  stallMs: number;
  /** `want` frames a peer may send: this many per second … */
  wantRate: number;
  /** … with bursts of this many; more are denied `throttled`. */
  wantBurst: number;
  /** This many `throttled` denials in a row close the peer's channel (it floods). */
  maxDenialsInARow: number;
  /** Other control frames (`hello`, `have`, `gone`, `cancel`) per second … */
  controlRate: number;
  /** … with bursts of this many (a full inventory at once); beyond that the channel is closed. */
  controlBurst: number;
  /** Transfers served to one peer at a time; more requests are denied `busy`. */
  maxServesPerPeer: number;
  /** Transfers served in all at a time. */
  maxServes: number;
  /** Images remembered per peer; further `have` frames are ignored. */
  maxAnnouncedPerPeer: number;
}

export const DEFAULT_LIMITS: Readonly<GalleryLimits> = Object.freeze({
  maxImageBytes: 25 * 1024 * 1024,
  maxThumbBytes: 32 * 1024,
  maxFrameBytes: 64 * 1024,
  stallMs: 15_000,
  wantRate: 8,
  wantBurst: 16,
  maxDenialsInARow: 32,
  controlRate: 64,
  controlBurst: 1100,
  maxServesPerPeer: 3,
  maxServes: 8,
  maxAnnouncedPerPeer: 512,
});

/** Image types a gallery carries (never SVG: a blob: URL of it would run script in this origin). */
export const IMAGE_TYPES: readonly string[] = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"];

export const HEADER_BYTES = 5;
/** Image bytes per `data` frame. */
export const CHUNK_BYTES = DEFAULT_LIMITS.maxFrameBytes - HEADER_BYTES;

export type DenyReason = "not_held" | "busy" | "throttled";
const DENY_REASONS: readonly string[] = ["not_held", "busy", "throttled"];

export interface Announced {
  id: string;
  size: number;
  type: string;
  thumb: Uint8Array;
}

export type Frame =
  | { kind: "hello"; nick: string; tag: string }
  | ({ kind: "have" } & Announced)
  | { kind: "gone"; id: string }
  | { kind: "want"; req: number; id: string }
  | { kind: "head"; req: number; size: number }
  | { kind: "data"; req: number; bytes: Uint8Array }
  | { kind: "deny"; req: number; reason: DenyReason }
  | { kind: "cancel"; req: number };

export type FrameKind = Frame["kind"];

const KIND_CODES: Record<FrameKind, number> = {
  hello: 1,
  have: 2,
  gone: 3,
  want: 4,
  head: 5,
  data: 6,
  deny: 7,
  cancel: 8,
};
const KINDS: readonly (FrameKind | undefined)[] = [
  undefined,
  "hello",
  "have",
  "gone",
  "want",
  "head",
  "data",
  "deny",
  "cancel",
];

export class GalleryWireError extends P2posError<"malformed"> {
  constructor(message: string) {
    super("malformed", message);
  }
}

const ID_SHAPE = /^[0-9a-f]{64}$/;
const TAG_SHAPE = /^[A-Za-z0-9_-]{1,32}$/;
export const MAX_NICK_CHARS = 40;

/** Is `text` an image id: BLAKE3-256 of the image bytes, 64 lower-case hex digits? */
export function isImageId(text: unknown): text is string {
  return typeof text === "string" && ID_SHAPE.test(text);
}

export function encodeFrame(frame: Frame): Uint8Array<ArrayBuffer> {
  let req = 0;
  let body: Uint8Array;
  switch (frame.kind) {
    case "hello":
      body = json({ v: 1, nick: frame.nick, tag: frame.tag });
      break;
    case "have": {
      const meta = json({ id: frame.id, size: frame.size, type: frame.type });
      body = new Uint8Array(2 + meta.length + frame.thumb.length);
      new DataView(body.buffer).setUint16(0, meta.length);
      body.set(meta, 2);
      body.set(frame.thumb, 2 + meta.length);
      break;
    }
    case "gone":
      body = json({ id: frame.id });
      break;
    case "want":
      req = frame.req;
      body = json({ id: frame.id });
      break;
    case "head":
      req = frame.req;
      body = json({ size: frame.size });
      break;
    case "data":
      req = frame.req;
      body = frame.bytes;
      break;
    case "deny":
      req = frame.req;
      body = json({ reason: frame.reason });
      break;
    case "cancel":
      req = frame.req;
      body = new Uint8Array();
      break;
  }
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out[0] = KIND_CODES[frame.kind];
  new DataView(out.buffer).setUint32(1, req);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Parses and checks one frame against `limits`; throws `GalleryWireError` for anything malformed
 * (a peer that sends one is broken or hostile: its channel is closed).
 */
export function decodeFrame(
  data: Uint8Array,
  limits: Pick<GalleryLimits, "maxImageBytes" | "maxThumbBytes" | "maxFrameBytes"> = DEFAULT_LIMITS,
): Frame {
  if (data.length < HEADER_BYTES) throw new GalleryWireError("frame shorter than its header");
  if (data.length > limits.maxFrameBytes) throw new GalleryWireError(`frame of ${data.length} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = KINDS[view.getUint8(0)];
  const req = view.getUint32(1);
  const body = data.subarray(HEADER_BYTES);
  if (kind === undefined) throw new GalleryWireError(`unknown frame kind ${view.getUint8(0)}`);
  const needsReq = kind === "want" || kind === "head" || kind === "data" || kind === "deny" || kind === "cancel";
  if (needsReq ? req === 0 : req !== 0) throw new GalleryWireError(`${kind} with request number ${req}`);
  switch (kind) {
    case "hello": {
      const value = parseJson(body);
      if (value["v"] !== 1) throw new GalleryWireError("unsupported gallery protocol version");
      const nick = value["nick"];
      const tag = value["tag"];
      if (typeof nick !== "string" || nick.length === 0 || Array.from(nick).length > MAX_NICK_CHARS) {
        throw new GalleryWireError("bad nickname");
      }
      if (typeof tag !== "string" || !TAG_SHAPE.test(tag)) throw new GalleryWireError("bad tag");
      return { kind, nick, tag };
    }
    case "have": {
      if (body.length < 2) throw new GalleryWireError("have without metadata");
      const metaLength = new DataView(body.buffer, body.byteOffset, 2).getUint16(0);
      if (body.length < 2 + metaLength) throw new GalleryWireError("have shorter than its metadata");
      const value = parseJson(body.subarray(2, 2 + metaLength));
      const thumb = body.slice(2 + metaLength);
      const id = value["id"];
      const size = value["size"];
      const type = value["type"];
      if (!isImageId(id)) throw new GalleryWireError("have with a bad image id");
      checkSize(size, limits.maxImageBytes);
      if (typeof type !== "string" || !IMAGE_TYPES.includes(type)) throw new GalleryWireError("have with a bad type");
      if (thumb.length === 0 || thumb.length > limits.maxThumbBytes) {
        throw new GalleryWireError(`thumbnail of ${thumb.length} bytes`);
      }
      return { kind, id, size, type, thumb };
    }
    case "gone":
    case "want": {
      const id = parseJson(body)["id"];
      if (!isImageId(id)) throw new GalleryWireError(`${kind} with a bad image id`);
      return kind === "gone" ? { kind, id } : { kind, req, id };
    }
    case "head": {
      const size = parseJson(body)["size"];
      checkSize(size, limits.maxImageBytes);
      return { kind, req, size };
    }
    case "data":
      if (body.length === 0) throw new GalleryWireError("empty data frame");
      return { kind, req, bytes: body };
    case "deny": {
      const reason = parseJson(body)["reason"];
      if (typeof reason !== "string" || !DENY_REASONS.includes(reason)) throw new GalleryWireError("bad deny reason");
      return { kind, req, reason: reason as DenyReason };
    }
    case "cancel":
      if (body.length !== 0) throw new GalleryWireError("cancel with a body");
      return { kind, req };
  }
}

function checkSize(size: unknown, max: number): asserts size is number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 1 || size > max) {
    throw new GalleryWireError(`bad image size ${String(size)}`);
  }
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return utf8Encode(JSON.stringify(value));
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8DecodeStrict(bytes));
  } catch {
    throw new GalleryWireError("body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new GalleryWireError("body is not a JSON object");
  }
  return value as Record<string, unknown>;
}
