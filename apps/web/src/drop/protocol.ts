/**
 * Drop, the view-once transfer (`docs/PROTOCOL.md`, "Drop: view-once transfer (v1)"; the Rust side
 * is `crates/p2pos-core/src/drop/`): its pure parts, tested in Node against `testvectors/drop.json`.
 * The link and its 128-bit secret, the MAC-authenticated ephemeral key exchange (WebCrypto X25519,
 * HKDF-SHA256, HMAC-SHA256), the AES-256-GCM frames, the receiver's frame-by-frame state
 * (`ReceiverTransfer`), and the rooms this browser viewed.
 *
 * The session protocol on top is `sender.ts` and `receiver.ts` (sans-IO state machines, time passed
 * in); `session.ts` drives them over the hub and a WebRTC data channel.
 */
import { base64urlnopad } from "@scure/base";
import { decodeBase64, encodeBase64 } from "../lib/base64.ts";
import { concatBytes, utf8Encode, wipe } from "../lib/bytes.ts";
import { P2posError } from "../lib/errors.ts";

// ---------------------------------------------------------------------------------------------
// Constants of the protocol
// ---------------------------------------------------------------------------------------------

/** Frame kinds on the `p2pos/drop` data channel. */
export const FRAME = { meta: 1, chunk: 2, cancel: 4, progress: 5, viewed: 6 } as const;
/** Largest plaintext in one `chunk` frame. */
export const CHUNK_PLAINTEXT = 61_440;
/** Largest frame (one data channel message). */
export const MAX_FRAME = 64 * 1024;
/** Largest image a drop carries. */
export const MAX_SIZE = 32 * 1024 * 1024;
/** The view time a sender may choose, in seconds. */
export const MIN_SECONDS = 5;
export const MAX_SECONDS = 60;
/** The data channel's label. */
export const CHANNEL_LABEL = "p2pos/drop";
/** No frame for this long while a transfer is under way fails it ("stalled"). */
export const STALL_MS = 15_000;
/** The receiver reports progress at most every this many bytes (and at the end). */
export const PROGRESS_EVERY = 256 * 1024;
/** The secret in the link's fragment. */
export const SECRET_BYTES = 16;

const AUTH_INFO = "p2pos-drop-v1 auth";
const KEY_INFO = "p2pos-drop-v1 key";
const GCM_TAG_BYTES = 16;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * Why a drop step failed. `link`: the link is incomplete or damaged; `bad_mac`: a hello's MAC did
 * not verify (a key was swapped in transit); `weak_key`: the other key gives an all-zero shared
 * secret; `open`: a frame did not decrypt (damaged, replayed or reordered); `frame`: a frame or
 * message breaks the protocol; `file`: the image cannot be sent (not an image, too big, bad view time).
 */
export type DropErrorKind = "link" | "bad_mac" | "weak_key" | "open" | "frame" | "file";

export class DropError extends P2posError<DropErrorKind> {}

// ---------------------------------------------------------------------------------------------
// The link
// ---------------------------------------------------------------------------------------------

/** A drop link: `<web origin>/drop/<room code>#<secret>`. */
export interface DropLink {
  /** `scheme://host[:port]` and any base path, without a trailing slash. */
  origin: string;
  room: string;
  secret: Uint8Array<ArrayBuffer>;
}

const ROOM_CODE = /^[A-Za-z0-9]{1,64}$/;
const CUT_SHORT = "the link was cut short. Ask the sender for the whole link";

/** 16 fresh random bytes. */
export function generateSecret(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
}

/** The fragment form: base64url without padding, 22 characters. */
export function encodeSecret(secret: Uint8Array): string {
  if (secret.length !== SECRET_BYTES) throw new RangeError("a drop secret is 16 bytes");
  return base64urlnopad.encode(secret);
}

/** Parses the fragment form; refuses anything that is not exactly 16 bytes, canonically encoded. */
export function decodeSecret(text: string): Uint8Array<ArrayBuffer> {
  const trimmed = text.trim();
  if (trimmed === "") throw new DropError("link", `This link has no secret after “#”: ${CUT_SHORT}.`);
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) {
    throw new DropError("link", "The secret after “#” in this link is damaged (it is not base64url).");
  }
  if (trimmed.length < 22) throw new DropError("link", `The secret after “#” is too short: ${CUT_SHORT}.`);
  let bytes: Uint8Array;
  try {
    bytes = base64urlnopad.decode(trimmed);
  } catch {
    throw new DropError("link", "The secret after “#” in this link is damaged.");
  }
  if (bytes.length !== SECRET_BYTES || base64urlnopad.encode(bytes) !== trimmed) {
    throw new DropError("link", "The secret after “#” in this link is damaged (it is not 16 bytes).");
  }
  return new Uint8Array(bytes);
}

/** The link for a room: `<origin>/drop/<room>#<secret>`. */
export function formatDropLink(origin: string, room: string, secret: Uint8Array): string {
  return `${origin.replace(/\/+$/, "")}/drop/${room}#${encodeSecret(secret)}`;
}

/** Parses a whole link (what the CLI is given), as `DropLink::parse` does in Rust. */
export function parseDropLink(text: string): DropLink {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  if (hash < 0) throw new DropError("link", `This link has no secret after “#”: ${CUT_SHORT}.`);
  const secret = decodeSecret(trimmed.slice(hash + 1));
  const before = trimmed.slice(0, hash);
  const at = before.lastIndexOf("/drop/");
  if (at < 0) throw new DropError("link", "A drop link contains /drop/<room>.");
  const origin = before.slice(0, at);
  const room = roomFromPath(before.slice(at + "/drop/".length));
  if (!origin.startsWith("http://") && !origin.startsWith("https://")) {
    throw new DropError("link", "A drop link starts with http:// or https://.");
  }
  return { origin, room, secret };
}

function roomFromPath(text: string): string {
  const room = text.replace(/\/+$/, "");
  if (!ROOM_CODE.test(room)) throw new DropError("link", "The room code after /drop/ in this link is malformed.");
  return room;
}

/** Whether a page path belongs to Drop (`/drop`, `/drop/…`). */
export function isDropPath(pathname: string): boolean {
  return /^\/drop(?:\/|$)/.test(pathname);
}

/** What a Drop page is: the sender's (`/drop`), a receiver's (`/drop/<room>#<secret>`), or a broken link. */
export type DropRoute =
  | { kind: "send" }
  | { kind: "receive"; room: string; secret: Uint8Array<ArrayBuffer> }
  | { kind: "bad"; message: string };

export function dropRoute(pathname: string, hash: string): DropRoute {
  const rest = pathname.replace(/^\/drop\/?/, "");
  if (rest.replace(/\/+$/, "") === "") return { kind: "send" };
  try {
    const room = roomFromPath(rest);
    return { kind: "receive", room, secret: decodeSecret(hash.replace(/^#/, "")) };
  } catch (error) {
    return { kind: "bad", message: error instanceof Error ? error.message : String(error) };
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and MACs
// ---------------------------------------------------------------------------------------------

/** `HKDF-SHA256(ikm = secret, salt = empty, info = "p2pos-drop-v1 auth")`, 32 bytes. Secret: wipe it. */
export async function deriveAuthKeyBytes(secret: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return hkdf(secret, new Uint8Array(), AUTH_INFO);
}

/** The auth key as a non-extractable HMAC-SHA256 key. */
export async function authKey(secret: Uint8Array): Promise<CryptoKey> {
  const bytes = await deriveAuthKeyBytes(secret);
  try {
    return await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  } finally {
    wipe(bytes);
  }
}

/** What the receiver's hello MAC covers. */
export function receiverMacText(receiverPub: string, name: string): string {
  return `p2pos-drop-v1|receiver|${receiverPub}|${name}`;
}

/** What the sender's hello MAC covers. */
export function senderMacText(senderPub: string, receiverPub: string): string {
  return `p2pos-drop-v1|sender|${senderPub}|${receiverPub}`;
}

/** `b64(HMAC-SHA256(auth_key, text))`. */
export async function helloMac(key: CryptoKey, text: string): Promise<string> {
  return encodeBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8Encode(text))));
}

/** Checks a hello MAC (WebCrypto's HMAC verify compares in constant time). */
export async function verifyHelloMac(key: CryptoKey, text: string, mac: unknown): Promise<boolean> {
  if (typeof mac !== "string") return false;
  let given: Uint8Array<ArrayBuffer>;
  try {
    given = decodeBase64(mac);
  } catch {
    return false;
  }
  return crypto.subtle.verify("HMAC", key, given, utf8Encode(text));
}

/** One side's ephemeral X25519 key. */
export interface EphemeralKey {
  privateKey: CryptoKey;
  publicKey: Uint8Array<ArrayBuffer>;
  /** The public key as it travels in a hello (standard base64). */
  publicB64: string;
}

/** A fresh ephemeral key; its private half cannot be read back by script. */
export async function generateEphemeral(): Promise<EphemeralKey> {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey, publicB64: encodeBase64(publicKey) };
}

const PKCS8_X25519 = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22);

/** A fixed key from its 32-byte scalar, for test vectors (extractable, so its public half can be read). */
export async function ephemeralFromPrivate(scalar: Uint8Array): Promise<EphemeralKey> {
  if (scalar.length !== 32) throw new RangeError("an X25519 private key is 32 bytes");
  const pkcs8 = concatBytes(PKCS8_X25519, Uint8Array.of(0x04, 0x20), scalar);
  try {
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const publicKey = new Uint8Array(base64urlnopad.decode(jwk.x ?? ""));
    return { privateKey, publicKey, publicB64: encodeBase64(publicKey) };
  } finally {
    wipe(pkcs8);
  }
}

/** Decodes a public key from a hello (standard base64 of 32 bytes). */
export function parsePublicKey(text: unknown): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    bytes = typeof text === "string" ? decodeBase64(text) : undefined;
  } catch {
    bytes = undefined;
  }
  if (bytes?.length !== 32) throw new DropError("frame", "A hello carried a malformed key.");
  return bytes;
}

/**
 * The AES-256-GCM key both sides derive: `HKDF-SHA256(ikm = X25519(own, other), salt = secret,
 * info = "p2pos-drop-v1 key|<pub_s>|<pub_r>")`. An all-zero shared secret is refused (`weak_key`).
 * `extractable` only for tests that compare the key with a vector.
 */
export async function deriveSessionKey(
  own: EphemeralKey,
  otherPublic: Uint8Array,
  secret: Uint8Array,
  senderPub: string,
  receiverPub: string,
  extractable = false,
): Promise<CryptoKey> {
  const weak = () => new DropError("weak_key", "The other side's key is unusable (all-zero shared secret).");
  let shared: Uint8Array<ArrayBuffer>;
  try {
    const other = await crypto.subtle.importKey("raw", new Uint8Array(otherPublic), { name: "X25519" }, false, []);
    shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: other }, own.privateKey, 256));
  } catch (error) {
    // WebCrypto itself refuses an all-zero result (OperationError).
    if (error instanceof DOMException && error.name === "OperationError") throw weak();
    throw error;
  }
  try {
    if (shared.every((byte) => byte === 0)) throw weak();
    const bytes = await hkdf(shared, secret, `${KEY_INFO}|${senderPub}|${receiverPub}`);
    try {
      return await crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, extractable, ["encrypt", "decrypt"]);
    } finally {
      wipe(bytes);
    }
  } finally {
    wipe(shared);
  }
}

async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey("raw", new Uint8Array(ikm), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(salt), info: utf8Encode(info) },
    base,
    256,
  );
  return new Uint8Array(bits);
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/** The GCM nonce of a sealed frame: 4 zero bytes ‖ u64 BE counter. */
export function frameNonce(counter: number): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter));
  return nonce;
}

/** One frame as a data channel message: `kind | body`. */
export function encodeFrame(kind: number, body: Uint8Array = new Uint8Array()): Uint8Array<ArrayBuffer> {
  if (1 + body.length > MAX_FRAME) throw new DropError("frame", "A frame is at most 64 KiB.");
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** Splits a data channel message into kind and body. */
export function decodeFrame(data: Uint8Array): { kind: number; body: Uint8Array<ArrayBuffer> } {
  const kind = data[0];
  if (kind === undefined || data.length > MAX_FRAME) {
    throw new DropError("frame", `A frame of ${data.length} bytes: frames are 1 byte to 64 KiB.`);
  }
  return { kind, body: new Uint8Array(data.subarray(1)) };
}

/** Seals the sender's frames in order: counter 0 for `meta`, then 1, 2, … for the chunks. */
export class FrameSealer {
  private readonly key: CryptoKey;
  private counter = 0;

  constructor(key: CryptoKey) {
    this.key = key;
  }

  /** A whole frame: `kind | AES-256-GCM(plaintext, nonce = counter, aad = kind)`. */
  async seal(kind: number, plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const nonce = frameNonce(this.counter++);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: Uint8Array.of(kind), tagLength: 128 },
      this.key,
      new Uint8Array(plaintext),
    );
    return encodeFrame(kind, new Uint8Array(sealed));
  }
}

/** Opens the sender's frames, in the order they were sealed: a dropped, replayed or reordered one fails. */
export class FrameOpener {
  private readonly key: CryptoKey;
  private counter = 0;

  constructor(key: CryptoKey) {
    this.key = key;
  }

  /** The plaintext of a frame's body (the frame without its kind byte). */
  async open(kind: number, body: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    if (body.length < GCM_TAG_BYTES) throw new DropError("open", "A frame is too short to be sealed.");
    let plain: ArrayBuffer;
    try {
      plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: frameNonce(this.counter), additionalData: Uint8Array.of(kind), tagLength: 128 },
        this.key,
        new Uint8Array(body),
      );
    } catch {
      throw new DropError("open", "A frame did not decrypt: it was damaged, replayed or reordered.");
    }
    this.counter += 1;
    return new Uint8Array(plain);
  }
}

/** What the sender announces in the sealed `meta` frame. */
export interface DropMeta {
  /** The file name. */
  name: string;
  /** MIME type, `image/…`. */
  type: string;
  /** Bytes. */
  size: number;
  /** View time, 5–60 s. */
  seconds: number;
  /** Number of `chunk` frames. */
  chunks: number;
}

/** The number of chunk frames for `size` bytes at the largest chunk size. */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_PLAINTEXT);
}

/** Checks what a sender may send; throws a `file` error that says why not. */
export function checkImage(type: string, size: number, seconds: number): void {
  if (!type.startsWith("image/")) throw new DropError("file", "Only images can be dropped.");
  if (size === 0) throw new DropError("file", "This file is empty.");
  if (size > MAX_SIZE) throw new DropError("file", "This image is larger than 32 MiB, the most a drop carries.");
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new DropError("file", `The view time is ${MIN_SECONDS} to ${MAX_SECONDS} seconds.`);
  }
}

/** Parses and checks a `meta` plaintext. */
export function parseMeta(plaintext: Uint8Array): DropMeta {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch {
    throw new DropError("frame", "The sender's description of the image is not JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DropError("frame", "The sender's description of the image is not a JSON object.");
  }
  const record = value as Record<string, unknown>;
  const { name, type, size, seconds, chunks } = record;
  const integer = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
  if (typeof type !== "string" || !type.startsWith("image/")) {
    throw new DropError("frame", "The sender did not send an image.");
  }
  if (!integer(size) || size < 1 || size > MAX_SIZE) {
    throw new DropError("frame", "The image's announced size is not between 1 byte and 32 MiB.");
  }
  if (!integer(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new DropError("frame", "The announced view time is not 5–60 seconds.");
  }
  if (!integer(chunks) || chunks < chunkCount(size) || chunks > size) {
    throw new DropError("frame", "The announced number of chunks does not fit the image's size.");
  }
  return { name: typeof name === "string" ? name : "", type, size, seconds, chunks };
}

/** The sender's frames for one image, sealed in order: `meta`, then the chunks. */
export async function* sealImage(
  sealer: FrameSealer,
  image: { name: string; type: string; bytes: Uint8Array },
  seconds: number,
): AsyncGenerator<{ frame: Uint8Array<ArrayBuffer>; plaintextBytes: number }> {
  const size = image.bytes.length;
  checkImage(image.type, size, seconds);
  const meta: DropMeta = { name: image.name.slice(0, 255), type: image.type, size, seconds, chunks: chunkCount(size) };
  yield { frame: await sealer.seal(FRAME.meta, utf8Encode(JSON.stringify(meta))), plaintextBytes: 0 };
  for (let at = 0; at < size; at += CHUNK_PLAINTEXT) {
    const piece = image.bytes.subarray(at, Math.min(size, at + CHUNK_PLAINTEXT));
    yield { frame: await sealer.seal(FRAME.chunk, piece), plaintextBytes: piece.length };
  }
}

/** A `progress` frame: u64 BE bytes received so far. */
export function progressFrame(received: number): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setBigUint64(0, BigInt(received));
  return encodeFrame(FRAME.progress, body);
}

/** A `cancel` frame with its reason (UTF-8, not sealed). */
export function cancelFrame(reason: string): Uint8Array<ArrayBuffer> {
  return encodeFrame(FRAME.cancel, utf8Encode(reason.slice(0, 200)));
}

/** A `viewed` frame (empty). */
export function viewedFrame(): Uint8Array<ArrayBuffer> {
  return encodeFrame(FRAME.viewed);
}

/** A `cancel` frame's reason as it may be shown: trimmed, at most 200 characters. */
export function cancelReason(body: Uint8Array): string {
  const text = new TextDecoder().decode(body).trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** What the sender hears from the receiver. */
export type ReceiverFrame =
  { type: "progress"; received: number } | { type: "viewed" } | { type: "cancel"; reason: string };

export function readReceiverFrame(data: Uint8Array): ReceiverFrame {
  const { kind, body } = decodeFrame(data);
  switch (kind) {
    case FRAME.progress: {
      if (body.length !== 8) throw new DropError("frame", "A progress frame is 8 bytes.");
      const received = new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0);
      if (received > BigInt(MAX_SIZE)) throw new DropError("frame", "A progress frame counts more than 32 MiB.");
      return { type: "progress", received: Number(received) };
    }
    case FRAME.viewed:
      return { type: "viewed" };
    case FRAME.cancel:
      return { type: "cancel", reason: cancelReason(body) };
    default:
      throw new DropError("frame", `The receiver sent an unexpected frame (kind ${kind}).`);
  }
}

/** What one frame from the sender did on the receiver's side. */
export type ReceiverStep =
  | { type: "meta"; meta: DropMeta }
  | { type: "chunk"; received: number; total: number; progress: Uint8Array<ArrayBuffer> | undefined }
  | { type: "done"; meta: DropMeta; image: Uint8Array<ArrayBuffer>; progress: Uint8Array<ArrayBuffer> }
  | { type: "cancel"; reason: string };

/**
 * The receiver's side of the channel, sans-IO: feed it the sender's frames in order; it opens them,
 * checks them against the `meta` frame and assembles the image, and says which `progress` frames to
 * send back. Feed one frame at a time (await each).
 */
export class ReceiverTransfer {
  private readonly opener: FrameOpener;
  private meta: DropMeta | undefined;
  private buffer: Uint8Array<ArrayBuffer> | undefined;
  private received = 0;
  private chunks = 0;
  private reported = 0;
  private complete = false;

  constructor(key: CryptoKey) {
    this.opener = new FrameOpener(key);
  }

  async accept(data: Uint8Array): Promise<ReceiverStep> {
    const { kind, body } = decodeFrame(data);
    if (kind === FRAME.cancel) return { type: "cancel", reason: cancelReason(body) };
    if (this.complete) throw new DropError("frame", "The sender sent more after the image was complete.");
    if (kind === FRAME.meta) {
      if (this.meta) throw new DropError("frame", "The sender described the image twice.");
      const plain = await this.opener.open(kind, body);
      try {
        this.meta = parseMeta(plain);
      } finally {
        wipe(plain);
      }
      this.buffer = new Uint8Array(this.meta.size);
      return { type: "meta", meta: this.meta };
    }
    if (kind !== FRAME.chunk) throw new DropError("frame", `The sender sent an unexpected frame (kind ${kind}).`);
    const { meta, buffer } = this;
    if (!meta || !buffer) {
      throw new DropError("open", "A piece of the image came before its description: frames out of order.");
    }
    if (this.chunks >= meta.chunks) throw new DropError("frame", "The sender sent more pieces than announced.");
    const plain = await this.opener.open(kind, body);
    try {
      if (plain.length > CHUNK_PLAINTEXT || this.received + plain.length > meta.size) {
        throw new DropError("frame", "The sender sent more bytes than announced.");
      }
      buffer.set(plain, this.received);
    } finally {
      wipe(plain);
    }
    this.received += plain.length;
    this.chunks += 1;
    const last = this.chunks === meta.chunks;
    if (last && this.received !== meta.size) throw new DropError("frame", "The image arrived incomplete.");
    let progress: Uint8Array<ArrayBuffer> | undefined;
    if (last || this.received - this.reported >= PROGRESS_EVERY) {
      progress = progressFrame(this.received);
      this.reported = this.received;
    }
    if (last && progress) {
      this.complete = true;
      this.buffer = undefined;
      return { type: "done", meta, image: buffer, progress };
    }
    return { type: "chunk", received: this.received, total: meta.size, progress };
  }

  /** Zeroes a partly received image. */
  wipe(): void {
    if (this.buffer) wipe(this.buffer);
    this.buffer = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// "Already viewed": room codes this browser viewed
// ---------------------------------------------------------------------------------------------

const VIEWED_KEY = "p2pos-drop-viewed";
const VIEWED_KEEP_MS = 30 * 24 * 3600 * 1000;
const VIEWED_MAX = 200;

type ViewedStore = Pick<Storage, "getItem" | "setItem">;

function viewedRooms(storage: ViewedStore): Record<string, number> {
  try {
    const value = JSON.parse(storage.getItem(VIEWED_KEY) ?? "{}") as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/** Remembers that this browser viewed a drop (only its room code, which is dead once viewed). */
export function rememberViewed(room: string, storage: ViewedStore = localStorage, now = Date.now()): void {
  try {
    const rooms = Object.entries(viewedRooms(storage))
      .filter(([, at]) => typeof at === "number" && now - at < VIEWED_KEEP_MS)
      .sort(([, a], [, b]) => b - a)
      .slice(0, VIEWED_MAX - 1);
    storage.setItem(VIEWED_KEY, JSON.stringify(Object.fromEntries([[room, now], ...rooms])));
  } catch {
    // No storage (private mode, quota): the hub still says the room is gone.
  }
}

/** Whether this browser viewed the drop of that room. */
export function wasViewed(room: string, storage: ViewedStore = localStorage): boolean {
  try {
    return Object.hasOwn(viewedRooms(storage), room);
  } catch {
    return false;
  }
}
