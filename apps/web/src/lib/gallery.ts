/**
 * Gallery: an ephemeral gallery that lives only in the memory of the browsers watching it
 * ("presence is storage"). This module is the driver: it joins the gallery's hub namespace, keeps
 * a WebRTC data channel to every other peer (`galleryLink.ts`), runs the protocol state machine
 * (`galleryCore.ts`) and exposes a snapshot for the UI.
 *
 * - The hub sees an opaque `rv:` namespace, peer ids, SDP and ICE candidates; announcements,
 *   thumbnails and images travel only over the data channels.
 * - The newcomer offers to everyone already there; offers and answers carry a MAC keyed by the
 *   gallery's name (`galleryName.ts`), so only people who know the name can connect.
 * - Images live in page memory only: never IndexedDB, localStorage, Cache Storage or a service
 *   worker. Only the gallery identity (nickname and a random tag) is kept, in localStorage.
 *
 * ```ts
 * const session = await GallerySession.join({ name, identity });
 * session.subscribe(() => render(session.getSnapshot()));
 * await session.addFiles(files);
 * session.pull(id);
 * session.leave();
 * ```
 */
import { createBLAKE3 } from "hash-wasm";
import { base64urlnopad } from "@scure/base";
import { P2posError } from "./errors.ts";
import { HubClient, type HubError, type HubSignal, type IceServerInit, sameOriginHubUrl } from "./hubClient.ts";
import { type GalleryEvent, type GalleryItem, GalleryCore, type PullFailure } from "./galleryCore.ts";
import { GalleryLink, type LinkState, type PathKind } from "./galleryLink.ts";
import {
  bindingText,
  galleryBindingKey,
  galleryLink,
  galleryNamespace,
  normalizeGalleryName,
  sdpFingerprint,
  signBinding,
  verifyBinding,
} from "./galleryName.ts";
import { PacedQueue } from "./galleryThrottle.ts";
import { DEFAULT_LIMITS, encodeFrame, IMAGE_TYPES, MAX_NICK_CHARS } from "./galleryWire.ts";

export type { GalleryItem, PullFailure } from "./galleryCore.ts";
export { galleryLink, galleryNameFromHash, randomGalleryName, WEAK_NAME_CHARS } from "./galleryName.ts";
export { DEFAULT_LIMITS as GALLERY_LIMITS } from "./galleryWire.ts";

export class GalleryError extends P2posError<"too_large" | "not_an_image" | "duplicate" | "nickname" | "left"> {}

// ---- identity --------------------------------------------------------------------------------

/** Who this browser is in galleries: a nickname and a random tag (not a key: nothing is signed). */
export interface GalleryIdentity {
  nick: string;
  tag: string;
}

export const GALLERY_IDENTITY_KEY = "p2pos-gallery-identity";

type KeyValueStore = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** A fresh identity: the nickname given (or "Guest" and a number) and a new random tag. */
export function newGalleryIdentity(nick?: string): GalleryIdentity {
  const random = crypto.getRandomValues(new Uint8Array(10));
  const tag = base64urlnopad.encode(random.subarray(0, 8));
  const guest = `Guest ${String(1000 + ((((random[8] ?? 0) << 8) | (random[9] ?? 0)) % 9000))}`;
  return { nick: checkNickname(nick ?? guest), tag };
}

/** A nickname, tidied; throws when empty or too long. */
export function checkNickname(nick: string): string {
  const tidy = nick.normalize("NFC").trim();
  if (tidy.length === 0) throw new GalleryError("nickname", "Choose a nickname others will see.");
  if (Array.from(tidy).length > MAX_NICK_CHARS) {
    throw new GalleryError("nickname", `A nickname has at most ${MAX_NICK_CHARS} characters.`);
  }
  return tidy;
}

export function loadGalleryIdentity(storage: KeyValueStore = localStorage): GalleryIdentity | undefined {
  try {
    const value = JSON.parse(storage.getItem(GALLERY_IDENTITY_KEY) ?? "null") as unknown;
    if (typeof value !== "object" || value === null) return undefined;
    const { nick, tag } = value as Record<string, unknown>;
    if (typeof nick !== "string" || typeof tag !== "string" || !/^[A-Za-z0-9_-]{1,32}$/.test(tag)) return undefined;
    return { nick: checkNickname(nick), tag };
  } catch {
    return undefined;
  }
}

export function saveGalleryIdentity(identity: GalleryIdentity, storage: KeyValueStore = localStorage): void {
  storage.setItem(GALLERY_IDENTITY_KEY, JSON.stringify({ nick: identity.nick, tag: identity.tag }));
}

export function forgetGalleryIdentity(storage: KeyValueStore = localStorage): void {
  storage.removeItem(GALLERY_IDENTITY_KEY);
}

// ---- images ----------------------------------------------------------------------------------

/** The image type from the first bytes (file names and `File.type` are not trusted). */
export function sniffImageType(bytes: Uint8Array): string | undefined {
  const at = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
    return true;
  };
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  if (bytes[0] === 0x89 && at(1, "PNG\r\n\x1a\n")) return "image/png";
  if (at(0, "GIF87a") || at(0, "GIF89a")) return "image/gif";
  if (at(0, "RIFF") && at(8, "WEBP")) return "image/webp";
  if (at(4, "ftypavif") || at(4, "ftypavis")) return "image/avif";
  return undefined;
}

const THUMB_STEPS: readonly (readonly [number, number])[] = [
  [320, 0.82],
  [256, 0.75],
  [200, 0.65],
  [160, 0.55],
  [120, 0.45],
  [96, 0.35],
];

/** A JPEG thumbnail of at most `maxBytes` (OffscreenCanvas; browsers only). */
export async function makeThumbnail(image: Blob, maxBytes = DEFAULT_LIMITS.maxThumbBytes): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(image);
  try {
    for (const [side, quality] of THUMB_STEPS) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const width = Math.max(1, Math.round(bitmap.width * scale));
      const height = Math.max(1, Math.round(bitmap.height * scale));
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext("2d");
      if (!context) break;
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, width, height);
      context.drawImage(bitmap, 0, 0, width, height);
      const thumb = await canvas.convertToBlob({ type: "image/jpeg", quality });
      if (thumb.size <= maxBytes) return new Uint8Array(await thumb.arrayBuffer());
    }
  } finally {
    bitmap.close();
  }
  throw new GalleryError("not_an_image", "No thumbnail small enough could be made.");
}

/** "1.2 MB" */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** What a failed pull means, for people. */
export function describePullFailure(reason: PullFailure): string {
  switch (reason) {
    case "stalled":
      return `the transfer stalled (no progress for ${DEFAULT_LIMITS.stallMs / 1000} s) and no other holder could send it`;
    case "no_holder":
      return "no one who holds it is here any more";
    case "busy":
      return "everyone who holds it is busy sending; try again in a moment";
    case "throttled":
      return "its holders asked you to slow down; try again in a moment";
    case "not_held":
      return "its holders burned it meanwhile";
    case "corrupt":
      return "what arrived did not match the image (the sender was closed out)";
  }
}

// ---- the session -----------------------------------------------------------------------------

export type PeerRowState = "connecting" | "connected" | "closed";

export interface GalleryPeerRow {
  peer: string;
  nick: string | undefined;
  tag: string | undefined;
  state: PeerRowState;
  reason: string | undefined;
  holds: number;
  path: PathKind | undefined;
}

export interface GalleryNotice {
  id: number;
  tone: "error" | "info";
  text: string;
}

export interface GallerySnapshot {
  status: "joined" | "left";
  name: string;
  link: string;
  me: { peer: string; nick: string; tag: string };
  /** The hub connection dropped: channels already open keep working, nobody new can connect. */
  hubLost: string | undefined;
  items: GalleryItem[];
  peers: GalleryPeerRow[];
  notices: GalleryNotice[];
  held: { count: number; bytes: number };
  /** Files being read, hashed and thumbnailed. */
  adding: number;
}

export interface JoinOptions {
  name: string;
  identity: GalleryIdentity;
  hubUrl?: string;
}

interface Row {
  state: PeerRowState;
  reason: string | undefined;
  since: number;
  path: PathKind | undefined;
}

type SignalPayload = Record<string, unknown> & { kind?: unknown; sdp?: unknown; mac?: unknown; candidates?: unknown };

/** Hub signals: 8 per second, bursts of 16, under the hub's 10 per second, bursts of 20. */
const SIGNAL_RATE = 8;
const SIGNAL_BURST = 16;
const ICE_REFRESH_MS = 5 * 60_000;
const TICK_MS = 500;
const MAX_NOTICES = 6;
const MAX_EARLY_CANDIDATES = 64;

export class GallerySession {
  readonly name: string;
  readonly ns: string;
  readonly identity: GalleryIdentity;
  private readonly hub: HubClient;
  private readonly key: CryptoKey;
  private readonly core: GalleryCore;
  private readonly links = new Map<string, GalleryLink>();
  private readonly rows = new Map<string, Row>();
  /** Peers closed for breaking the protocol: their offers are ignored from then on. */
  private readonly blocked = new Set<string>();
  /** Candidates that arrived before their offer was checked (the check is asynchronous). */
  private readonly earlyCandidates = new Map<string, RTCIceCandidateInit[]>();
  private readonly listeners = new Set<() => void>();
  private readonly signals: PacedQueue<{ to: string; payload: Record<string, unknown> }>;
  private readonly unsubscribe: (() => void)[] = [];
  private ice: { servers: IceServerInit[]; at: number } | undefined;
  private notices: GalleryNotice[] = [];
  private nextNotice = 1;
  private adding = 0;
  private hubLost: string | undefined;
  private left = false;
  private holdServes = false;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private signalTimer: ReturnType<typeof setTimeout> | undefined;
  private emitTimer: ReturnType<typeof setTimeout> | undefined;
  private snapshot: GallerySnapshot;

  private constructor(
    name: string,
    ns: string,
    key: CryptoKey,
    hub: HubClient,
    identity: GalleryIdentity,
    hash: (b: Uint8Array) => string,
  ) {
    this.name = name;
    this.ns = ns;
    this.key = key;
    this.hub = hub;
    this.identity = identity;
    this.core = new GalleryCore({ nick: identity.nick, tag: identity.tag, hash });
    this.signals = new PacedQueue(SIGNAL_RATE, SIGNAL_BURST, Date.now());
    this.snapshot = this.buildSnapshot();
  }

  /** Connects to the hub, joins the gallery's namespace and connects to everyone there. */
  static async join({ name, identity, hubUrl = sameOriginHubUrl() }: JoinOptions): Promise<GallerySession> {
    const tidy = normalizeGalleryName(name);
    const [ns, key, hasher] = await Promise.all([galleryNamespace(tidy), galleryBindingKey(tidy), createBLAKE3(256)]);
    const hash = (bytes: Uint8Array) => {
      hasher.init();
      hasher.update(bytes);
      return hasher.digest("hex");
    };
    // The hub learns nothing about who this is: the nickname travels on the data channels only.
    const hub = await HubClient.connect(hubUrl, { profile: {} });
    const session = new GallerySession(tidy, ns, key, hub, identity, hash);
    try {
      await session.start();
    } catch (error) {
      session.leave();
      throw error;
    }
    return session;
  }

  // ---- for the UI ----

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): GallerySnapshot => this.snapshot;

  /** Adds image files: checks size and type, hashes (the id), makes a thumbnail, announces. */
  async addFiles(files: readonly File[]): Promise<void> {
    this.adding += files.length;
    this.changed();
    try {
      for (const file of files) {
        try {
          await this.addFile(file);
        } catch (error) {
          this.notify("error", error instanceof Error ? error.message : String(error));
        } finally {
          this.adding -= 1;
          this.changed();
        }
      }
    } finally {
      this.flush();
    }
  }

  pull(id: string): void {
    if (this.left) return;
    this.core.pull(id, Date.now());
    this.flush();
  }

  burn(id: string): void {
    if (this.left) return;
    this.core.burn(id, Date.now());
    this.flush();
  }

  /** An image this browser holds, for viewing. */
  image(id: string): { bytes: Uint8Array; type: string } | undefined {
    return this.core.image(id);
  }

  dismissNotice(id: number): void {
    this.notices = this.notices.filter((notice) => notice.id !== id);
    this.changed();
  }

  /** Leaves: closes every connection and the hub connection, and drops every image. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    clearInterval(this.ticker);
    clearTimeout(this.signalTimer);
    for (const off of this.unsubscribe) off();
    for (const link of [...this.links.values()]) link.close("you left", true);
    this.links.clear();
    this.rows.clear();
    this.core.forgetEverything();
    this.hub.close();
    this.emitNow();
  }

  /** Test hooks (only wired to `window` with `?test-hooks`). */
  readonly test = {
    /** Sends a `data` frame nobody asked for to `peer`, as a modified page would. */
    pushUnrequested: (peer: string, bytes: Uint8Array): boolean => {
      const link = this.links.get(peer);
      if (link?.state !== "open") return false;
      link.sendRaw(encodeFrame({ kind: "data", req: 0x7fff_fff0, bytes }));
      return true;
    },
    /** Accept requests but send no bytes (so a puller sees a stall). */
    holdServes: (hold: boolean): void => {
      this.holdServes = hold;
    },
    setStallMs: (ms: number): void => {
      this.core.limits.stallMs = ms;
    },
    linkState: (peer: string): LinkState | undefined => this.links.get(peer)?.state,
  };

  // ---- internals ----

  private async start(): Promise<void> {
    this.unsubscribe.push(
      this.hub.onSignal((signal) => this.onSignal(signal)),
      this.hub.onMessage((message) => this.onHubMessage(message)),
      this.hub.onClosed((reason) => {
        if (this.left) return;
        this.hubLost = reason;
        this.notify(
          "error",
          `Lost the connection to the hub (${reason}): people already connected stay, nobody new can reach you. Leave and join again to reconnect.`,
        );
      }),
    );
    await this.iceServers();
    const joined = await this.hub.request({ type: "join", ns: this.ns });
    const peers = Array.isArray(joined["peers"]) ? (joined["peers"] as unknown[]) : [];
    for (const entry of peers) {
      const peer = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>)["peer"] : undefined;
      if (typeof peer === "string" && peer !== this.hub.peer) void this.connect(peer);
    }
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.changed();
  }

  private async addFile(file: File): Promise<void> {
    const limit = this.core.limits.maxImageBytes;
    if (file.size > limit) {
      throw new GalleryError(
        "too_large",
        `${file.name} is ${formatBytes(file.size)}: images can be at most ${formatBytes(limit)} (${limit.toLocaleString("en")} bytes). Not added.`,
      );
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const type = sniffImageType(bytes);
    if (!type || !IMAGE_TYPES.includes(type)) {
      throw new GalleryError("not_an_image", `${file.name} is not a JPEG, PNG, GIF, WebP or AVIF image. Not added.`);
    }
    let thumb: Uint8Array;
    try {
      thumb = await makeThumbnail(new Blob([bytes], { type }));
    } catch (error) {
      throw new GalleryError("not_an_image", `${file.name} could not be read as an image. Not added.`, {
        cause: error,
      });
    }
    if (this.left) throw new GalleryError("left", "You left the gallery.");
    const id = this.core.hashOf(bytes);
    if (!this.core.add({ id, bytes, type, thumb }, Date.now())) {
      throw new GalleryError("duplicate", `${file.name} is already in the gallery.`);
    }
  }

  private async iceServers(): Promise<IceServerInit[]> {
    if (this.ice && Date.now() - this.ice.at < ICE_REFRESH_MS) return this.ice.servers;
    const servers = await this.hub.iceServers();
    this.ice = { servers, at: Date.now() };
    return servers;
  }

  private row(peer: string): Row {
    let row = this.rows.get(peer);
    if (!row) {
      row = { state: "connecting", reason: undefined, since: Date.now(), path: undefined };
      this.rows.set(peer, row);
    }
    return row;
  }

  private onHubMessage(message: Record<string, unknown>): void {
    if (this.left || message["type"] !== "presence" || message["ns"] !== this.ns) return;
    const entry = message["peer"];
    const peer = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>)["peer"] : undefined;
    if (typeof peer !== "string" || peer === this.hub.peer) return;
    if (message["event"] === "join") {
      // The newcomer offers; wait for it.
      if (!this.blocked.has(peer)) {
        const row = this.row(peer);
        if (row.state === "closed") Object.assign(row, { state: "connecting", reason: undefined, since: Date.now() });
      }
    } else if (message["event"] === "leave") {
      this.links.get(peer)?.close("left the gallery", false);
      this.rows.delete(peer);
      this.earlyCandidates.delete(peer);
      this.blocked.delete(peer);
    }
    this.changed();
  }

  /** Offers a connection to `peer` (this browser is the newcomer). */
  private async connect(peer: string): Promise<void> {
    this.row(peer);
    const link = this.newLink(peer, await this.iceServers());
    try {
      await link.offer((sdp) => this.bind(peer, sdp));
    } catch (error) {
      link.close(`could not offer a connection: ${String(error)}`, true);
    }
  }

  private newLink(peer: string, iceServers: IceServerInit[]): GalleryLink {
    this.links.get(peer)?.close("replaced by a new connection", true);
    const link: GalleryLink = new GalleryLink(
      peer,
      iceServers,
      {
        open: () => {
          const row = this.row(peer);
          Object.assign(row, { state: "connected", reason: undefined });
          this.core.channelOpened(peer, Date.now());
          this.flush();
          void link.path().then((path) => {
            row.path = path;
            this.changed();
          });
        },
        frame: (data) => {
          this.core.receive(peer, data, Date.now());
          this.flush();
        },
        closed: (reason, byUs) => {
          if (this.links.get(peer) === link) this.links.delete(peer);
          if (byUs) this.signal(peer, { kind: "bye", reason });
          const row = this.rows.get(peer);
          if (row && row.state !== "closed") Object.assign(row, { state: "closed", reason: row.reason ?? reason });
          this.core.channelClosed(peer, Date.now());
          this.flush();
        },
        served: (req) => this.core.serveFinished(peer, req),
        signal: (payload) => this.signal(peer, payload),
      },
      () => this.holdServes,
    );
    this.links.set(peer, link);
    const early = this.earlyCandidates.get(peer);
    this.earlyCandidates.delete(peer);
    if (early) link.addCandidates(early);
    return link;
  }

  private async bind(peer: string, sdp: string): Promise<string> {
    return signBinding(this.key, bindingText(this.ns, this.hub.peer, peer, sdpFingerprint(sdp)));
  }

  private async bound(peer: string, sdp: string, mac: string): Promise<boolean> {
    try {
      return await verifyBinding(this.key, bindingText(this.ns, peer, this.hub.peer, sdpFingerprint(sdp)), mac);
    } catch {
      return false;
    }
  }

  private onSignal(signal: HubSignal): void {
    const payload = signal.payload as SignalPayload;
    if (this.left || payload["p2pos"] !== "gallery" || this.blocked.has(signal.from)) return;
    const peer = signal.from;
    const sdp = typeof payload.sdp === "string" ? payload.sdp : "";
    const mac = typeof payload.mac === "string" ? payload.mac : "";
    switch (payload.kind) {
      case "offer":
        void this.onOffer(peer, sdp, mac);
        return;
      case "answer":
        void this.onAnswer(peer, sdp, mac);
        return;
      case "candidates": {
        if (!Array.isArray(payload.candidates)) return;
        const candidates = payload.candidates.slice(0, MAX_EARLY_CANDIDATES) as RTCIceCandidateInit[];
        const link = this.links.get(peer);
        if (link) {
          link.addCandidates(candidates);
        } else if (this.rows.has(peer)) {
          const early = [...(this.earlyCandidates.get(peer) ?? []), ...candidates];
          this.earlyCandidates.set(peer, early.slice(0, MAX_EARLY_CANDIDATES));
        }
        return;
      }
      case "bye": {
        const link = this.links.get(peer);
        if (link?.state === "connecting") link.close("the other side gave up connecting", false);
        return;
      }
    }
  }

  private async onOffer(peer: string, sdp: string, mac: string): Promise<void> {
    if (!(await this.bound(peer, sdp, mac))) {
      this.refuseUnbound(peer);
      return;
    }
    if (this.left || this.blocked.has(peer)) return;
    const row = this.row(peer);
    Object.assign(row, { state: "connecting", reason: undefined });
    const link = this.newLink(peer, await this.iceServers());
    try {
      await link.answer(sdp, (local) => this.bind(peer, local));
    } catch (error) {
      link.close(`could not answer: ${String(error)}`, true);
    }
  }

  private async onAnswer(peer: string, sdp: string, mac: string): Promise<void> {
    const link = this.links.get(peer);
    if (!link) return;
    if (!(await this.bound(peer, sdp, mac))) {
      this.refuseUnbound(peer);
      return;
    }
    try {
      await link.accept(sdp);
    } catch (error) {
      link.close(`could not take the answer: ${String(error)}`, true);
    }
  }

  private refuseUnbound(peer: string): void {
    this.links.get(peer)?.close("did not prove it knows the gallery name", true);
    this.signal(peer, { kind: "bye", reason: "bad_binding" });
    this.notify(
      "error",
      "Refused a connection that did not prove it knows the gallery's name (an old link, or someone between you and the hub).",
    );
  }

  private signal(to: string, payload: Record<string, unknown>): void {
    if (this.left) return;
    this.signals.push({ to, payload: { p2pos: "gallery", ...payload } });
    this.pumpSignals();
  }

  private pumpSignals(): void {
    clearTimeout(this.signalTimer);
    const now = Date.now();
    for (const { to, payload } of this.signals.due(now)) {
      this.hub.signal(to, payload, (error: HubError) => {
        if (error.code === "peer_unavailable") this.links.get(to)?.close("left the gallery", false);
      });
    }
    const next = this.signals.nextAt(now);
    if (next !== undefined) this.signalTimer = setTimeout(() => this.pumpSignals(), Math.max(10, next - now));
  }

  private tick(): void {
    const now = Date.now();
    this.core.tick(now);
    for (const [peer, row] of this.rows) {
      if (row.state === "connecting" && !this.links.has(peer) && now - row.since > 30_000) {
        Object.assign(row, { state: "closed", reason: "never connected" });
        this.changed();
      }
    }
    this.flush();
  }

  /** Carries out what the core asked for, and refreshes the view (inputs change it without outputs). */
  private flush(): void {
    for (const output of this.core.drain()) {
      switch (output.kind) {
        case "send":
          this.links.get(output.peer)?.enqueue(output.frame);
          break;
        case "close": {
          this.blocked.add(output.peer);
          const row = this.row(output.peer);
          Object.assign(row, { state: "closed", reason: `closed by you: it ${output.reason}` });
          this.links.get(output.peer)?.close(output.reason, true);
          break;
        }
        case "serve":
          this.links.get(output.peer)?.serve(output.req, output.bytes);
          break;
        case "unserve":
          this.links.get(output.peer)?.unserve(output.req);
          break;
        case "event":
          this.onEvent(output.event);
          break;
      }
    }
    this.changed();
  }

  private onEvent(event: GalleryEvent): void {
    switch (event.type) {
      case "pulled": {
        // The thumbnail came from whoever announced it; make our own from the verified bytes.
        const image = this.core.image(event.id);
        if (!image) return;
        void makeThumbnail(new Blob([image.bytes as Uint8Array<ArrayBuffer>], { type: image.type })).then(
          (thumb) => {
            if (this.left) return;
            this.core.replaceThumbnail(event.id, thumb);
            this.flush();
          },
          () => undefined,
        );
        return;
      }
      case "pull_failed":
        this.notify("error", `Could not get image ${event.id.slice(0, 8)}: ${describePullFailure(event.reason)}.`);
        return;
      case "violation":
        this.notify(
          "error",
          `Closed the connection to ${event.nick ?? "a peer"}: it ${event.reason}. What it sent was dropped.`,
        );
        return;
    }
  }

  private notify(tone: GalleryNotice["tone"], text: string): void {
    this.notices = [...this.notices, { id: this.nextNotice++, tone, text }].slice(-MAX_NOTICES);
    this.changed();
  }

  /** Something changed: rebuild the snapshot soon (many frames arrive in a burst). */
  private changed(): void {
    this.emitTimer ??= setTimeout(() => this.emitNow(), 50);
  }

  private emitNow(): void {
    clearTimeout(this.emitTimer);
    this.emitTimer = undefined;
    this.snapshot = this.buildSnapshot();
    for (const listener of this.listeners) listener();
  }

  private buildSnapshot(): GallerySnapshot {
    const views = new Map(this.core.peerViews().map((view) => [view.peer, view]));
    return {
      status: this.left ? "left" : "joined",
      name: this.name,
      link: galleryLink(location.origin, this.name),
      me: { peer: this.hub.peer, nick: this.identity.nick, tag: this.identity.tag },
      hubLost: this.hubLost,
      items: this.core.items(),
      peers: [...this.rows].map(([peer, row]) => {
        const view = views.get(peer);
        return {
          peer,
          nick: view?.nick,
          tag: view?.tag,
          state: row.state === "connected" && !view ? "connecting" : row.state,
          reason: row.reason,
          holds: view?.holds ?? 0,
          path: row.path,
        };
      }),
      notices: this.notices,
      held: this.core.heldSummary(),
      adding: this.adding,
    };
  }
}
