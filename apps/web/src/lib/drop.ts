/**
 * Drop, the view-once transfer (`docs/PROTOCOL.md`, "Drop: view-once transfer (v1)"; the Rust side
 * is `crates/p2pos-core/src/drop.rs`).
 *
 * Pure parts, tested in Node against `testvectors/drop.json`: the link and its 128-bit secret, the
 * MAC-authenticated ephemeral key exchange (WebCrypto X25519, HKDF-SHA256, HMAC-SHA256), the
 * AES-256-GCM frames, and the receiver's frame-by-frame state (`ReceiverTransfer`).
 *
 * Wiring, browser only: `DropSender` and `DropReceiver` run one drop through the hub (a room,
 * signals) and one WebRTC data channel, and report their state; `src/drop/` shows it. The image
 * lives only in memory and is wiped (zeroed, references dropped) when a drop ends.
 */
import { base64urlnopad } from "@scure/base";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { concatBytes, utf8Encode, wipe } from "./bytes.ts";
import { P2posError } from "./errors.ts";
import { HubClient, HubError, type HubSignal, type IceServerInit, sameOriginHubUrl } from "./hubClient.ts";

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

function cancelReason(body: Uint8Array): string {
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

/** Calls `onExpire` once `ms` pass without a `kick()`. */
export class Watchdog {
  private readonly ms: number;
  private readonly onExpire: () => void;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, onExpire: () => void) {
    this.ms = ms;
    this.onExpire = onExpire;
  }

  kick(): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onExpire();
    }, this.ms);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
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

// ---------------------------------------------------------------------------------------------
// Sessions: one drop through the hub and a WebRTC data channel (browser only)
// ---------------------------------------------------------------------------------------------

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

const TAMPERED =
  "Someone between you and the other side (the hub or a relay) swapped the encryption keys. The transfer was refused before any of the image was sent.";
const STALLED = "The transfer stalled: nothing arrived for 15 seconds. Nothing was kept.";
/** The `cancel` reason of a stalled transfer: the other side then fails as "stalled" too. */
const STALLED_REASON = "stalled";
/** Give up if the channel is not open this long after the hellos. */
const CONNECT_MS = 30_000;
/** The receiver gives up if the sender does not answer its hello in this long. */
const HELLO_MS = 20_000;
/** Pause sending above this many buffered bytes; resume below the low threshold. */
const BUFFERED_HIGH = 1024 * 1024;
const BUFFERED_LOW = 256 * 1024;

type Payload = Record<string, unknown>;

function dropPayload(kind: string, fields: Payload = {}): Payload {
  return { p2pos: "drop", kind, ...fields };
}

/**
 * A signal of this protocol: tagged `"p2pos": "drop"`. The spec writes `refused` without the tag,
 * so an untagged `refused` is taken too.
 */
function isDropPayload(payload: Payload): boolean {
  return payload["p2pos"] === "drop" || (payload["p2pos"] === undefined && payload["kind"] === "refused");
}

/** The parts both ends share: the hub, the signal queue, the peer connection and its channel. */
abstract class DropSession<S extends { phase: string }> {
  protected hub: HubClient | undefined;
  protected pc: RTCPeerConnection | undefined;
  protected dc: RTCDataChannel | undefined;
  /** The hub peer id of the other end, once its hello verified. */
  protected other: string | undefined;
  protected finished = false;
  protected current: S | DropEnded;
  protected readonly watchdog = new Watchdog(STALL_MS, () => {
    this.end("stalled", STALLED, STALLED_REASON);
  });
  private readonly listener: (state: S | DropEnded) => void;
  private queue: Promise<void> = Promise.resolve();
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private candidateBatch: RTCIceCandidateInit[] = [];
  private candidateFlush: ReturnType<typeof setTimeout> | undefined;

  constructor(initial: S, onState: (state: S | DropEnded) => void) {
    this.current = initial;
    this.listener = onState;
  }

  get state(): S | DropEnded {
    return this.current;
  }

  protected emit(state: S | DropEnded): void {
    if (this.finished && state.phase !== "ended" && state.phase !== "viewed" && state.phase !== "gone") return;
    this.current = state;
    this.listener(state);
  }

  /** Runs signal and frame handlers one at a time, in arrival order; a thrown error ends the drop. */
  protected enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.finished) return;
      try {
        await task();
      } catch (error) {
        this.fail(error);
      }
    });
  }

  protected fail(error: unknown): void {
    if (error instanceof DropError && error.kind === "bad_mac") {
      this.end("tampered", TAMPERED);
    } else if (error instanceof DropError && (error.kind === "open" || error.kind === "frame")) {
      this.end("failed", `The transfer was damaged: ${error.message}`, "damaged");
    } else if (error instanceof HubError) {
      this.end("failed", `The hub connection failed: ${error.message}`, "failed");
    } else {
      this.end("failed", `Something went wrong: ${error instanceof Error ? error.message : String(error)}`, "failed");
    }
  }

  protected signalOther(kind: string, fields: Payload = {}): void {
    const to = this.other;
    if (to === undefined) return;
    this.hub?.signal(to, dropPayload(kind, fields), (error) => {
      if (this.channelOpen()) return;
      if (error.code === "peer_unavailable") this.end("left", this.leftMessage());
      else this.fail(error);
    });
  }

  protected abstract leftMessage(): string;

  protected channelOpen(): boolean {
    return this.dc?.readyState === "open";
  }

  /** A peer connection whose candidates go to the other end in small batches. */
  protected makePeer(iceServers: IceServerInit[]): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    pc.onicecandidate = (event) => {
      if (!event.candidate || event.candidate.candidate === "") return;
      this.candidateBatch.push(event.candidate.toJSON());
      this.candidateFlush ??= setTimeout(() => {
        this.signalOther("candidates", { candidates: this.candidateBatch });
        this.candidateBatch = [];
        this.candidateFlush = undefined;
      }, 30);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && !this.channelOpen()) {
        this.end("failed", "No network path to the other side: a direct connection failed and no relay worked.");
      }
    };
    this.connectTimer = setTimeout(() => {
      if (!this.channelOpen()) {
        this.end(
          "failed",
          `No connection to the other side within ${CONNECT_MS / 1000} s: no network path between you.`,
        );
      }
    }, CONNECT_MS);
    return pc;
  }

  protected async addCandidates(candidates: unknown): Promise<void> {
    if (!this.pc || !Array.isArray(candidates)) return;
    for (const candidate of candidates as RTCIceCandidateInit[]) {
      await this.pc.addIceCandidate(candidate).catch(() => undefined);
    }
  }

  protected attachChannel(dc: RTCDataChannel): void {
    this.dc = dc;
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = BUFFERED_LOW;
    dc.onmessage = (event: MessageEvent<unknown>) => {
      const { data } = event;
      this.enqueue(async () => {
        if (!(data instanceof ArrayBuffer)) throw new DropError("frame", "A text message on the data channel.");
        await this.onFrame(new Uint8Array(data));
      });
    };
    dc.onclose = () => {
      if (!this.finished) this.onChannelClosed();
    };
    const opened = () => {
      clearTimeout(this.connectTimer);
      this.enqueue(async () => {
        await this.onChannelOpen();
      });
    };
    if (dc.readyState === "open") opened();
    else dc.addEventListener("open", opened, { once: true });
  }

  protected abstract onChannelOpen(): Promise<void> | void;
  protected abstract onFrame(frame: Uint8Array): Promise<void> | void;
  protected abstract onChannelClosed(): void;

  /** Sends a frame, waiting while the channel's buffer is full. */
  protected async sendFrame(frame: Uint8Array<ArrayBuffer>): Promise<void> {
    const dc = this.dc;
    if (!dc) throw new DropError("frame", "No data channel.");
    while (dc.bufferedAmount > BUFFERED_HIGH && dc.readyState === "open" && !this.finished) {
      await new Promise<void>((resolve) => {
        dc.addEventListener("bufferedamountlow", () => resolve(), { once: true });
        setTimeout(resolve, 250); // and look again: the channel may have closed
      });
    }
    if (this.finished) return;
    if (dc.readyState !== "open") throw new DropError("frame", "The data channel closed.");
    dc.send(frame);
  }

  /** Sends a frame now if the channel is open; never throws. */
  protected trySend(frame: Uint8Array<ArrayBuffer>): void {
    try {
      if (this.dc?.readyState === "open") this.dc.send(frame);
    } catch {
      // The channel is going away anyway.
    }
  }

  /**
   * Ends the drop: tells the other side (a `cancel` frame with `cancel`, a `refused` signal with
   * `refuse`), wipes, reports, and tears the connections down.
   */
  end(reason: DropEndReason, message: string, cancel?: string, refuse?: { to: string; reason: string }): void {
    if (this.finished) return;
    if (cancel !== undefined) this.trySend(cancelFrame(cancel));
    if (refuse) this.hub?.signal(refuse.to, dropPayload("refused", { reason: refuse.reason }));
    this.finish();
    this.emit({ phase: "ended", reason, message });
  }

  /** Stops everything: timers, wipes, and (after a moment for last frames to leave) the connections. */
  protected finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.watchdog.stop();
    clearTimeout(this.connectTimer);
    clearTimeout(this.candidateFlush);
    this.wipe();
    const { dc, pc } = this;
    setTimeout(() => {
      dc?.close();
      pc?.close();
    }, 1000);
    this.closeHub();
  }

  protected abstract wipe(): void;

  protected closeHub(): void {
    const hub = this.hub;
    setTimeout(() => hub?.close(), 1000);
  }
}

export interface SenderOptions {
  image: { name: string; type: string; bytes: Uint8Array };
  /** View time, 5–60 s. */
  seconds: number;
  /** The origin links start with (the page's own). */
  origin?: string;
  /** Default: the hub that served this page. */
  hubUrl?: string;
  onState: (state: SenderState) => void;
}

/** The sender: creates the room, shows the link, answers one receiver and sends it the image. */
export class DropSender extends DropSession<SenderState> {
  private readonly image: { name: string; type: string; bytes: Uint8Array };
  private readonly seconds: number;
  private secret: Uint8Array<ArrayBuffer>;
  private auth: CryptoKey | undefined;
  private ephemeral: EphemeralKey | undefined;
  private key: CryptoKey | undefined;
  private code: string | undefined;
  private ns: string | undefined;
  private link = "";
  private expiresAt = 0;
  private receiverName = "";

  private constructor(options: SenderOptions) {
    super({ phase: "starting" }, options.onState);
    this.image = options.image;
    this.seconds = options.seconds;
    this.secret = generateSecret();
  }

  /** Starts a drop; state changes go to `onState`. Throws a `file` error for an image it cannot send. */
  static start(options: SenderOptions): DropSender {
    checkImage(options.image.type, options.image.bytes.length, options.seconds);
    const sender = new DropSender(options);
    void sender.run(options).catch((error: unknown) => {
      sender.fail(error);
    });
    return sender;
  }

  /** The sender cancels: the receiver is told, the room deleted. */
  cancel(): void {
    this.end("cancelled", "You cancelled this drop. The link no longer works.", "cancelled by the sender");
  }

  private async run(options: SenderOptions): Promise<void> {
    const [auth, ephemeral] = await Promise.all([authKey(this.secret), generateEphemeral()]);
    this.auth = auth;
    this.ephemeral = ephemeral;
    const hub = await HubClient.connect(options.hubUrl ?? sameOriginHubUrl(), { profile: {} });
    if (this.finished) {
      hub.close();
      return;
    }
    this.hub = hub;
    hub.onSignal((signal) => {
      this.enqueue(() => this.onSignal(signal));
    });
    hub.onMessage((message) => {
      this.onHubMessage(message);
    });
    hub.onClosed((reason) => {
      if (!this.finished && !this.channelOpen()) {
        this.end("failed", `The connection to the hub closed (${reason}): the link no longer works.`);
      }
    });
    const room = await hub.request({ type: "create_room" });
    const code = room["code"];
    const ttl = room["expires_in_secs"];
    if (typeof code !== "string" || !ROOM_CODE.test(code)) throw new HubError("unexpected", "The hub gave no room.");
    this.code = code;
    this.ns = typeof room["ns"] === "string" ? room["ns"] : `room:${code}`;
    this.expiresAt = Date.now() + (typeof ttl === "number" ? ttl : 600) * 1000;
    this.link = formatDropLink(options.origin ?? location.origin, code, this.secret);
    this.emit({ phase: "waiting", link: this.link, expiresAt: this.expiresAt });
  }

  private onHubMessage(message: Record<string, unknown>): void {
    if (this.finished || message["ns"] !== this.ns) return;
    if (message["type"] === "room_closed" && !this.channelOpen()) {
      this.code = undefined; // nothing left to delete
      if (message["reason"] === "expired") {
        this.end("expired", "Nobody opened the link in time: the drop expired. Nothing was sent.");
      } else {
        this.end("failed", "The hub closed the room.");
      }
    } else if (message["type"] === "presence" && message["event"] === "leave" && !this.channelOpen()) {
      const peer = message["peer"] as { peer?: unknown } | undefined;
      if (this.other !== undefined && peer?.peer === this.other) this.end("left", this.leftMessage());
    }
  }

  protected leftMessage(): string {
    return "The receiver left before the image was sent. The link no longer works.";
  }

  private async onSignal(signal: HubSignal): Promise<void> {
    const payload = signal.payload;
    if (!isDropPayload(payload)) return;
    const kind = payload["kind"];
    if (kind === "hello" && payload["role"] === "receiver") {
      await this.onReceiverHello(signal.from, payload);
      return;
    }
    if (signal.from !== this.other) return;
    if (kind === "answer" && this.pc && typeof payload["sdp"] === "string") {
      await this.pc.setRemoteDescription({ type: "answer", sdp: payload["sdp"] });
    } else if (kind === "candidates") {
      await this.addCandidates(payload["candidates"]);
    } else if (kind === "refused") {
      this.onRefused(payload["reason"]);
    }
  }

  private onRefused(reason: unknown): void {
    if (reason === "bad_mac") this.end("tampered", TAMPERED);
    else this.end("failed", `The receiver refused the drop (${typeof reason === "string" ? reason : "no reason"}).`);
  }

  private async onReceiverHello(from: string, payload: Payload): Promise<void> {
    if (this.other !== undefined) {
      if (from !== this.other) this.hub?.signal(from, dropPayload("refused", { reason: "taken" }));
      return;
    }
    const { auth, ephemeral } = this;
    if (!auth || !ephemeral || this.current.phase !== "waiting") return;
    const pub = payload["pub"];
    const name = payload["name"];
    const text = receiverMacText(typeof pub === "string" ? pub : "", typeof name === "string" ? name : "");
    if (typeof pub !== "string" || typeof name !== "string" || !(await verifyHelloMac(auth, text, payload["mac"]))) {
      this.end("tampered", TAMPERED, undefined, { to: from, reason: "bad_mac" });
      return;
    }
    this.other = from;
    this.receiverName = name.trim().slice(0, 64) || "The receiver";
    this.key = await deriveSessionKey(ephemeral, parsePublicKey(pub), this.secret, ephemeral.publicB64, pub);
    const mac = await helloMac(auth, senderMacText(ephemeral.publicB64, pub));
    this.signalOther("hello", { role: "sender", pub: ephemeral.publicB64, mac });
    this.emit({ phase: "connecting", link: this.link, expiresAt: this.expiresAt, receiver: this.receiverName });
    const hub = this.hub;
    if (!hub) return;
    const pc = this.makePeer(await hub.iceServers());
    this.attachChannel(pc.createDataChannel(CHANNEL_LABEL, { ordered: true }));
    await pc.setLocalDescription(await pc.createOffer());
    this.signalOther("offer", { sdp: pc.localDescription?.sdp ?? "" });
  }

  protected onChannelOpen(): void {
    const key = this.key;
    if (!key || this.finished) return;
    const total = this.image.bytes.length;
    this.emit({ phase: "sending", receiver: this.receiverName, received: 0, total });
    this.watchdog.kick();
    // Outside the frame queue: the receiver's progress frames must be heard while this runs.
    void this.sendImage(key).catch((error: unknown) => {
      this.fail(error);
    });
  }

  private async sendImage(key: CryptoKey): Promise<void> {
    for await (const { frame } of sealImage(new FrameSealer(key), this.image, this.seconds)) {
      if (this.finished) return;
      await this.sendFrame(frame);
      // Bytes leaving count as life too: a receiver may report progress only at the end. A path
      // that stops carrying them fills the buffer, blocks `sendFrame`, and stalls here.
      if (this.current.phase === "sending") this.watchdog.kick();
    }
  }

  protected onFrame(frame: Uint8Array): void {
    const message = readReceiverFrame(frame);
    const total = this.image.bytes.length;
    switch (message.type) {
      case "progress":
        if (this.current.phase !== "sending") return;
        if (message.received >= total) {
          this.watchdog.stop();
          this.emit({ phase: "viewing", receiver: this.receiverName, seconds: this.seconds });
        } else {
          this.watchdog.kick();
          this.emit({ phase: "sending", receiver: this.receiverName, received: message.received, total });
        }
        return;
      case "viewed":
        this.finish();
        this.emit({ phase: "viewed", receiver: this.receiverName });
        return;
      case "cancel":
        if (message.reason === STALLED_REASON) {
          this.end("stalled", STALLED);
          return;
        }
        this.end(
          "peer_cancelled",
          `${this.receiverName} ended the drop${message.reason ? ` (${message.reason})` : ""}.`,
        );
        return;
    }
  }

  protected onChannelClosed(): void {
    if (this.current.phase === "viewing") {
      this.end(
        "left",
        `${this.receiverName} closed the page before the countdown ended. The image was shown, then discarded with the page.`,
      );
    } else {
      this.end("left", "The connection to the receiver was lost before the image was sent.");
    }
  }

  protected wipe(): void {
    wipe(this.image.bytes);
    wipe(this.secret);
    this.auth = undefined;
    this.ephemeral = undefined;
    this.key = undefined;
    this.link = "";
  }

  protected override closeHub(): void {
    const { hub, code } = this;
    this.code = undefined;
    if (!hub) return;
    if (code === undefined || hub.closed) {
      super.closeHub();
      return;
    }
    // Delete the room so the link is dead at once, then leave.
    void hub
      .request({ type: "delete_room", code }, 5000)
      .catch(() => undefined)
      .finally(() => {
        setTimeout(() => hub.close(), 1000);
      });
  }
}

export interface ReceiverOptions {
  room: string;
  secret: Uint8Array;
  /** The receiver's name: sent to the sender and stamped on the image. */
  name: string;
  hubUrl?: string;
  /** Turns the received bytes into a picture (default: `createImageBitmap`). */
  decode?: (bytes: Uint8Array<ArrayBuffer>, type: string) => Promise<DropPicture>;
  onState: (state: ReceiverState) => void;
}

/** Decodes an image into a bitmap, honouring its EXIF orientation. */
export async function decodePicture(bytes: Uint8Array<ArrayBuffer>, type: string): Promise<DropPicture> {
  const bitmap = await createImageBitmap(new Blob([bytes], { type }), { imageOrientation: "from-image" });
  return { bitmap, width: bitmap.width, height: bitmap.height };
}

/** The receiver: joins the room, proves it holds the link, receives the image, shows it once. */
export class DropReceiver extends DropSession<ReceiverState> {
  private readonly room: string;
  private readonly name: string;
  private readonly decode: (bytes: Uint8Array<ArrayBuffer>, type: string) => Promise<DropPicture>;
  private secret: Uint8Array<ArrayBuffer>;
  private auth: CryptoKey | undefined;
  private ephemeral: EphemeralKey | undefined;
  private transfer: ReceiverTransfer | undefined;
  private picture: DropPicture | undefined;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private viewTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(options: ReceiverOptions) {
    super({ phase: "connecting", step: "hub" }, options.onState);
    this.room = options.room;
    this.name = options.name;
    this.secret = new Uint8Array(options.secret);
    this.decode = options.decode ?? decodePicture;
  }

  /** Starts receiving (call only once the person confirmed: joining the room uses the drop up). */
  static start(options: ReceiverOptions): DropReceiver {
    const receiver = new DropReceiver(options);
    if (wasViewed(options.room)) {
      receiver.end("already_viewed", "You already viewed this drop. It can be viewed only once.");
      return receiver;
    }
    void receiver.run(options).catch((error: unknown) => {
      receiver.fail(error);
    });
    return receiver;
  }

  /** The page drew the picture: the countdown starts now (once). */
  shown(): void {
    const state = this.current;
    if (state.phase !== "viewing" || state.endsAt !== undefined) return;
    const endsAt = Date.now() + state.meta.seconds * 1000;
    this.viewTimer = setTimeout(() => {
      this.viewed();
    }, state.meta.seconds * 1000);
    this.emit({ ...state, endsAt });
  }

  /** The receiver closes the picture before the countdown ends: it counts as viewed. */
  done(): void {
    if (this.current.phase === "viewing") this.viewed();
  }

  /** The page could not show the picture. */
  notShown(message: string): void {
    this.end("failed", `The image could not be shown: ${message}`, "the image could not be shown");
  }

  /** The receiver leaves early: the image is wiped. */
  cancel(): void {
    this.end("cancelled", "You closed the drop.", "cancelled by the receiver");
  }

  private viewed(): void {
    if (this.finished) return;
    this.trySend(viewedFrame());
    rememberViewed(this.room);
    this.finish();
    this.emit({ phase: "gone" });
  }

  private async run(options: ReceiverOptions): Promise<void> {
    const [auth, ephemeral] = await Promise.all([authKey(this.secret), generateEphemeral()]);
    this.auth = auth;
    this.ephemeral = ephemeral;
    const hub = await HubClient.connect(options.hubUrl ?? sameOriginHubUrl(), { profile: {} });
    if (this.finished) {
      hub.close();
      return;
    }
    this.hub = hub;
    const ns = `room:${this.room}`;
    hub.onSignal((signal) => {
      this.enqueue(() => this.onSignal(signal));
    });
    hub.onMessage((message) => {
      this.onHubMessage(ns, message);
    });
    hub.onClosed((reason) => {
      if (!this.finished && !this.channelOpen()) {
        this.end("failed", `The connection to the hub closed (${reason}).`);
      }
    });
    let joined: Record<string, unknown>;
    try {
      joined = await hub.request({ type: "join", ns });
    } catch (error) {
      if (error instanceof HubError && error.code === "no_such_room") {
        this.end(
          "no_such_room",
          "This drop was already viewed, cancelled, or it expired. Ask the sender for a new one.",
        );
        return;
      }
      throw error;
    }
    const peers = Array.isArray(joined["peers"]) ? (joined["peers"] as { peer?: unknown }[]) : [];
    const ids = peers.map((p) => p.peer).filter((p): p is string => typeof p === "string");
    if (ids.length === 0) {
      this.end("no_such_room", "The sender is no longer there: the drop was cancelled.");
      return;
    }
    this.emit({ phase: "connecting", step: "hello" });
    const pub = ephemeral.publicB64;
    const mac = await helloMac(auth, receiverMacText(pub, this.name));
    const hello = dropPayload("hello", { role: "receiver", pub, name: this.name, mac });
    for (const peer of ids) hub.signal(peer, hello);
    this.helloTimer = setTimeout(() => {
      if (this.other === undefined) {
        this.end("left", "The sender did not answer: their page may have been closed.");
      }
    }, HELLO_MS);
  }

  private onHubMessage(ns: string, message: Record<string, unknown>): void {
    if (this.finished || message["ns"] !== ns || this.channelOpen()) return;
    if (message["type"] === "room_closed") {
      if (message["reason"] === "expired") this.end("expired", "This drop expired before it could be viewed.");
      else this.end("peer_cancelled", "The sender cancelled this drop.");
    } else if (message["type"] === "presence" && message["event"] === "leave") {
      const peer = message["peer"] as { peer?: unknown } | undefined;
      if (this.other !== undefined && peer?.peer === this.other) this.end("left", this.leftMessage());
    }
  }

  protected leftMessage(): string {
    return "The sender left before the image arrived: the drop was cancelled.";
  }

  private async onSignal(signal: HubSignal): Promise<void> {
    const payload = signal.payload;
    if (!isDropPayload(payload)) return;
    const kind = payload["kind"];
    if (kind === "refused") {
      this.onRefused(payload["reason"]);
    } else if (kind === "hello" && payload["role"] === "sender") {
      await this.onSenderHello(signal.from, payload);
    } else if (signal.from !== this.other) {
      return;
    } else if (kind === "offer" && typeof payload["sdp"] === "string") {
      await this.onOffer(payload["sdp"]);
    } else if (kind === "candidates") {
      await this.addCandidates(payload["candidates"]);
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
      this.end("tampered", TAMPERED, undefined, { to: from, reason: "bad_mac" });
      return;
    }
    clearTimeout(this.helloTimer);
    this.other = from;
    const key = await deriveSessionKey(ephemeral, parsePublicKey(pub), this.secret, pub, ephemeral.publicB64);
    this.transfer = new ReceiverTransfer(key);
    wipe(this.secret);
    this.emit({ phase: "connecting", step: "channel" });
  }

  private async onOffer(sdp: string): Promise<void> {
    const hub = this.hub;
    if (this.pc || !hub || !this.transfer) return;
    const pc = this.makePeer(await hub.iceServers());
    pc.ondatachannel = (event) => {
      if (event.channel.label === CHANNEL_LABEL && !this.dc) this.attachChannel(event.channel);
      else event.channel.close();
    };
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.signalOther("answer", { sdp: pc.localDescription?.sdp ?? "" });
  }

  protected onChannelOpen(): void {
    this.emit({ phase: "receiving", received: 0, total: undefined });
    this.watchdog.kick();
  }

  protected async onFrame(frame: Uint8Array): Promise<void> {
    const transfer = this.transfer;
    if (!transfer) return;
    if (this.current.phase === "viewing") {
      // Only a cancel may still come: the sender wants the image gone.
      const { kind, body } = decodeFrame(frame);
      if (kind === FRAME.cancel) this.end("peer_cancelled", senderCancelled(cancelReason(body)));
      return;
    }
    this.watchdog.kick();
    const step = await transfer.accept(frame);
    switch (step.type) {
      case "cancel":
        if (step.reason === STALLED_REASON) this.end("stalled", STALLED);
        else this.end("peer_cancelled", senderCancelled(step.reason));
        return;
      case "meta":
        this.emit({ phase: "receiving", received: 0, total: step.meta.size });
        return;
      case "chunk":
        if (step.progress) await this.sendFrame(step.progress);
        this.emit({ phase: "receiving", received: step.received, total: step.total });
        return;
      case "done": {
        this.watchdog.stop();
        await this.sendFrame(step.progress);
        let picture: DropPicture;
        try {
          picture = await this.decode(step.image, step.meta.type);
        } catch {
          this.notShown("it is damaged, or in a format this browser cannot display.");
          return;
        } finally {
          wipe(step.image);
        }
        if (this.finished) {
          picture.bitmap.close();
          return;
        }
        this.picture = picture;
        this.emit({ phase: "viewing", picture, meta: step.meta, endsAt: undefined });
        return;
      }
    }
  }

  protected onChannelClosed(): void {
    // While viewing, the image is here already: the countdown runs out as usual.
    if (this.current.phase === "viewing") return;
    this.end("left", "The connection to the sender was lost before the image arrived.");
  }

  protected wipe(): void {
    clearTimeout(this.helloTimer);
    clearTimeout(this.viewTimer);
    this.transfer?.wipe();
    this.transfer = undefined;
    this.picture?.bitmap.close();
    this.picture = undefined;
    wipe(this.secret);
    this.auth = undefined;
    this.ephemeral = undefined;
  }
}

function senderCancelled(reason: string): string {
  return `The sender cancelled this drop${reason && reason !== "cancelled by the sender" ? ` (${reason})` : ""}.`;
}
