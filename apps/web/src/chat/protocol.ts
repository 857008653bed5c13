/**
 * Chat's wire format (`docs/PROTOCOL.md`, "Chat"; the Rust twin is `crates/p2pos-core/src/chat/wire.rs`):
 * the `"p2pos": "chat"` signals that travel through the hub, the JSON text frames and the binary
 * image frames of the `p2pos/chat` data channel, and the checks every received one passes.
 * Parsing is strict (an unknown field is refused, `fields`); a frame of an unknown type is not an
 * error here but `{ unknown: t }`, which the session ignores once `hello` is verified. The error
 * kinds are the ones `testvectors/chat.json` names, so both implementations refuse alike.
 */
import { base64urlnopad } from "@scure/base";
import { P2posError } from "../lib/errors.ts";
import { canonicalReadableId } from "../lib/readableId.ts";

/** The data channel's label. */
export const CHANNEL_LABEL = "p2pos/chat";
/** The `v` of `hello`. */
export const VERSION = 1;
/** Longest name (code points, after trimming). */
export const MAX_NAME = 64;
/** Longest message text (code points). */
export const MAX_TEXT = 4096;
export const MAX_FILE_NAME = 255;
/** Largest image. */
export const MAX_IMAGE = 16 * 1024 * 1024;
/**
 * Largest body of one binary image frame: with its kind byte a frame is at most 64 KiB, the SCTP
 * message size every peer takes without an SDP `max-message-size` (RFC 8841).
 */
export const MAX_CHUNK = 64 * 1024 - 1;
/** Most candidates in one `ice` signal. */
export const MAX_CANDIDATES = 64;
/** Binary frame kinds: a piece of the image announced last (Drop's `chunk` kind), and its end. */
export const FRAME_CHUNK = 2;
export const FRAME_END = 3;

/**
 * Why a chat step failed. Wire kinds (as in the vectors): `json` (not a JSON object), `type` (no
 * text `t`), `fields` (a field missing, unknown or of the wrong JSON type), `value` (a value not
 * allowed), `binary` (a bad binary frame). Others: `signature`, `fingerprint`, `same_identity`
 * (both sides have one identity), `state` (a command the session's phase does not allow),
 * `encoding` (not base64url of the right length).
 */
export type ChatErrorKind =
  | "json"
  | "type"
  | "fields"
  | "value"
  | "binary"
  | "signature"
  | "fingerprint"
  | "same_identity"
  | "state"
  | "encoding";

export class ChatError extends P2posError<ChatErrorKind> {}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

export interface Description {
  type: "offer" | "answer";
  sdp: string;
}

export type SignalKind =
  | { t: "request"; name: string }
  | { t: "accept" }
  | { t: "decline" }
  | { t: "cancel" }
  | { t: "call" }
  | { t: "sdp"; sdp: Description }
  | { t: "ice"; c: JsonObject[] };

/** A chat signal: what it says and the request id `rq` it belongs to. */
export type Signal = SignalKind & { rq: string };

const SIGNAL_FIELDS: Record<SignalKind["t"], readonly string[]> = {
  request: ["name"],
  accept: [],
  decline: [],
  cancel: [],
  call: [],
  sdp: ["sdp"],
  ice: ["c"],
};

/** The hub payload of a signal: `{"p2pos": "chat", "t": …, …fields, "rq": …}`. */
export function signalPayload(signal: Signal): JsonObject {
  const { rq, ...kind } = signal;
  return { p2pos: "chat", ...kind, rq };
}

/** A hub payload as a chat signal; `undefined` when it belongs to another protocol. */
export function parseSignal(payload: unknown): Signal | undefined {
  if (!isObject(payload)) throw new ChatError("json", "A signal is not a JSON object.");
  if (payload["p2pos"] !== "chat") return undefined;
  const t = payload["t"];
  if (typeof t !== "string") throw new ChatError("type", "No type (“t”) in the signal.");
  const rq = payload["rq"];
  if (typeof rq !== "string") throw fields(t, "no request id (“rq”)");
  if (!(t in SIGNAL_FIELDS)) throw value(t, "not a chat signal type");
  const type = t as SignalKind["t"];
  const rest = Object.keys(payload).filter((key) => !["p2pos", "t", "rq"].includes(key));
  onlyFields(t, rest, SIGNAL_FIELDS[type], SIGNAL_FIELDS[type]);
  let signal: Signal;
  switch (type) {
    case "request":
      signal = { t: type, name: str(t, payload, "name"), rq };
      break;
    case "sdp": {
      const sdp = payload["sdp"];
      if (!isObject(sdp)) throw fields(t, "sdp is not an object");
      onlyFields(t, Object.keys(sdp), ["type", "sdp"], ["type", "sdp"]);
      const kind = sdp["type"];
      if (kind !== "offer" && kind !== "answer") throw fields(t, "sdp.type is neither offer nor answer");
      signal = { t: type, sdp: { type: kind, sdp: str(t, sdp, "sdp") }, rq };
      break;
    }
    case "ice": {
      const c = payload["c"];
      if (!Array.isArray(c)) throw fields(t, "c is not a list");
      signal = { t: type, c: c as JsonObject[], rq };
      break;
    }
    default:
      signal = { t: type, rq };
  }
  id16(t, "rq", rq);
  if (signal.t === "request") checkName(t, signal.name);
  if (signal.t === "ice") {
    if (signal.c.length > MAX_CANDIDATES) throw value(t, `more than ${MAX_CANDIDATES} candidates`);
    if (!signal.c.every(isObject)) throw fields(t, "a candidate is not an object");
  }
  return signal;
}

// ---------------------------------------------------------------------------------------------
// Text frames
// ---------------------------------------------------------------------------------------------

export interface Hello {
  t: "hello";
  v: number;
  /** The sender's readable identity id, as sent. */
  id: string;
  name: string;
  /** b64u Ed25519 signature of the sender's binding. */
  sig: string;
  /** A new contact's 32 random bytes (b64u) for the shared secret. */
  k?: string;
  /** An existing contact's proof (b64u HMAC of the sender's binding). */
  known?: string;
}

export interface Msg {
  t: "msg";
  /** 16 bytes, b64u: receivers dedupe by it. */
  id: string;
  /** The sender's wall clock, unix ms. */
  at: number;
  text: string;
  /** The id of the message this one replies to. */
  re?: string;
}

export interface Img {
  t: "img";
  id: string;
  at: number;
  /** The sender's file name, as it came: unsafe to show or save as is. */
  name: string;
  /** MIME type, `image/…`. */
  type: string;
  size: number;
  re?: string;
}

export type AckKind = "delivered" | "read";

export type Frame = Hello | Msg | Img | { t: "ack"; id: string; k: AckKind } | { t: "typing" } | { t: "bye" };

/** A text frame as received: a known frame, or one of a type this version does not know. */
export type Parsed = { frame: Frame } | { unknown: string };

/** Each frame's fields in the order they are written (as the Rust structs serialise them). */
const FRAME_FIELDS: Record<Frame["t"], { required: readonly string[]; all: readonly string[] }> = {
  hello: { required: ["v", "id", "name", "sig"], all: ["v", "id", "name", "sig", "k", "known"] },
  msg: { required: ["id", "at", "text"], all: ["id", "at", "text", "re"] },
  img: { required: ["id", "at", "name", "type", "size"], all: ["id", "at", "name", "type", "size", "re"] },
  ack: { required: ["id", "k"], all: ["id", "k"] },
  typing: { required: [], all: [] },
  bye: { required: [], all: [] },
};

/** The frame as it goes on the channel: JSON text, `t` first, then the fields in a fixed order. */
export function frameText(frame: Frame): string {
  const out: JsonObject = { t: frame.t };
  const source = frame as unknown as JsonObject;
  for (const field of FRAME_FIELDS[frame.t].all) {
    if (source[field] !== undefined) out[field] = source[field];
  }
  return JSON.stringify(out);
}

/** Parses and checks one text frame. */
export function parseFrame(text: string): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ChatError("json", "A frame is not JSON.");
  }
  if (!isObject(raw)) throw new ChatError("json", "A frame is not a JSON object.");
  const t = raw["t"];
  if (typeof t !== "string") throw new ChatError("type", "No type (“t”) in the frame.");
  if (!(t in FRAME_FIELDS)) return { unknown: t };
  const type = t as Frame["t"];
  // A `null` optional field is as good as an absent one (serde reads it as `None`).
  const present = Object.keys(raw).filter((key) => key !== "t" && !(raw[key] === null && isOptional(type, key)));
  onlyFields(t, present, FRAME_FIELDS[type].required, FRAME_FIELDS[type].all);
  const frame = readFrame(type, raw);
  checkFrame(frame);
  return { frame };
}

function isOptional(type: Frame["t"], key: string): boolean {
  const { required, all } = FRAME_FIELDS[type];
  return all.includes(key) && !required.includes(key);
}

function readFrame(t: Frame["t"], raw: JsonObject): Frame {
  switch (t) {
    case "hello":
      return withOptional(
        { t, v: safe(t, raw, "v"), id: str(t, raw, "id"), name: str(t, raw, "name"), sig: str(t, raw, "sig") },
        { k: optStr(t, raw, "k"), known: optStr(t, raw, "known") },
      );
    case "msg":
      return withOptional(
        { t, id: str(t, raw, "id"), at: safe(t, raw, "at"), text: str(t, raw, "text") },
        { re: optStr(t, raw, "re") },
      );
    case "img":
      return withOptional(
        {
          t,
          id: str(t, raw, "id"),
          at: safe(t, raw, "at"),
          name: str(t, raw, "name"),
          type: str(t, raw, "type"),
          size: safe(t, raw, "size"),
        },
        { re: optStr(t, raw, "re") },
      );
    case "ack": {
      const k = raw["k"];
      if (k !== "delivered" && k !== "read") throw fields(t, "k is neither delivered nor read");
      return { t, id: str(t, raw, "id"), k };
    }
    case "typing":
    case "bye":
      return { t };
  }
}

function checkFrame(frame: Frame): void {
  const t = frame.t;
  switch (frame.t) {
    case "hello":
      if (frame.v !== VERSION) throw value(t, `version ${frame.v} (this side speaks ${VERSION})`);
      try {
        canonicalReadableId(frame.id);
      } catch (error) {
        throw value(t, `id: ${error instanceof Error ? error.message : String(error)}`);
      }
      checkName(t, frame.name);
      fixed(t, "sig", frame.sig, 64);
      if (frame.k !== undefined) fixed(t, "k", frame.k, 32);
      if (frame.known !== undefined) fixed(t, "known", frame.known, 32);
      return;
    case "msg": {
      id16(t, "id", frame.id);
      const chars = codePoints(frame.text);
      if (chars === 0 || chars > MAX_TEXT) throw value(t, `the text has ${chars} characters (1 to ${MAX_TEXT})`);
      if (frame.re !== undefined) id16(t, "re", frame.re);
      return;
    }
    case "img": {
      id16(t, "id", frame.id);
      const chars = codePoints(frame.name);
      if (chars === 0 || chars > MAX_FILE_NAME) {
        throw value(t, `the file name has ${chars} characters (1 to ${MAX_FILE_NAME})`);
      }
      if (!frame.type.startsWith("image/")) throw value(t, "not an image type");
      if (frame.size === 0 || frame.size > MAX_IMAGE) throw value(t, `${frame.size} bytes (1 to ${MAX_IMAGE})`);
      if (frame.re !== undefined) id16(t, "re", frame.re);
      return;
    }
    case "ack":
      id16(t, "id", frame.id);
      return;
    case "typing":
    case "bye":
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Binary frames
// ---------------------------------------------------------------------------------------------

export type Binary = { chunk: Uint8Array<ArrayBuffer> } | { end: true };

export function encodeBinary(binary: Binary): Uint8Array<ArrayBuffer> {
  if ("end" in binary) return Uint8Array.of(FRAME_END);
  const out = new Uint8Array(1 + binary.chunk.length);
  out[0] = FRAME_CHUNK;
  out.set(binary.chunk, 1);
  return out;
}

export function parseBinary(frame: Uint8Array): Binary {
  const [kind] = frame;
  const body = frame.subarray(1);
  if (kind === undefined) throw new ChatError("binary", "An empty binary frame.");
  if (kind === FRAME_CHUNK) {
    if (body.length === 0) throw new ChatError("binary", "An empty chunk.");
    if (body.length > MAX_CHUNK)
      throw new ChatError("binary", `A chunk of ${body.length} bytes (at most ${MAX_CHUNK}).`);
    return { chunk: new Uint8Array(body) };
  }
  if (kind === FRAME_END) {
    if (body.length !== 0) throw new ChatError("binary", "An end frame with a body.");
    return { end: true };
  }
  throw new ChatError("binary", `A binary frame of unknown kind ${kind}.`);
}

// ---------------------------------------------------------------------------------------------
// Checks shared with the crypto and the session
// ---------------------------------------------------------------------------------------------

/** Whether a name is acceptable: trimmed, 1 to 64 characters, no control characters. */
export function validName(name: string): boolean {
  const chars = codePoints(name);
  return name.trim() === name && chars >= 1 && chars <= MAX_NAME && !/\p{Cc}/u.test(name);
}

/** Decodes base64url (no padding) of exactly `length` bytes, canonically spelled. */
export function decodeB64u(text: string, length: number, what: string): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array;
  try {
    bytes = base64urlnopad.decode(text);
  } catch {
    throw new ChatError("encoding", `${what} is not ${length} bytes of base64url`);
  }
  if (bytes.length !== length || base64urlnopad.encode(bytes) !== text) {
    throw new ChatError("encoding", `${what} is not ${length} bytes of base64url`);
  }
  return new Uint8Array(bytes);
}

export function encodeB64u(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function codePoints(text: string): number {
  return Array.from(text).length;
}

function checkName(t: string, name: string): void {
  if (!validName(name)) {
    throw value(t, `the name must be trimmed, 1 to ${MAX_NAME} characters, without control characters`);
  }
}

function id16(t: string, field: string, text: string): void {
  fixed(t, field, text, 16);
}

function fixed(t: string, field: string, text: string, length: number): void {
  try {
    decodeB64u(text, length, field);
  } catch (error) {
    throw value(t, error instanceof Error ? error.message : String(error));
  }
}

function onlyFields(t: string, present: readonly string[], required: readonly string[], all: readonly string[]): void {
  const unknown = present.find((key) => !all.includes(key));
  if (unknown !== undefined) throw fields(t, `unknown field “${unknown}”`);
  const missing = required.find((key) => !present.includes(key));
  if (missing !== undefined) throw fields(t, `missing field “${missing}”`);
}

function str(t: string, raw: JsonObject, field: string): string {
  const found = raw[field];
  if (typeof found !== "string") throw fields(t, `${field} is not text`);
  return found;
}

function optStr(t: string, raw: JsonObject, field: string): string | undefined {
  return raw[field] === undefined || raw[field] === null ? undefined : str(t, raw, field);
}

/** A whole number both implementations read exactly (0 to 2^53 - 1). */
function safe(t: string, raw: JsonObject, field: string): number {
  const found = raw[field];
  if (typeof found !== "number" || !Number.isSafeInteger(found) || found < 0) {
    throw fields(t, `${field} is not a whole number from 0 to 2^53 - 1`);
  }
  return found;
}

/** `base` with the optional fields that are set (exactOptionalPropertyTypes: absent, never undefined). */
function withOptional<T extends object>(base: T, optional: Record<string, string | undefined>): T {
  const out = { ...base } as JsonObject;
  for (const [key, found] of Object.entries(optional)) if (found !== undefined) out[key] = found;
  return out as T;
}

function fields(t: string, detail: string): ChatError {
  return new ChatError("fields", `Malformed ${t}: ${detail}.`);
}

function value(t: string, detail: string): ChatError {
  return new ChatError("value", `Bad ${t}: ${detail}.`);
}
