/**
 * The Chat page's driver: everything between the sans-IO machines (`machine.ts`) and the world.
 *
 * It owns two hub connections. The **anonymous** one says hello with the nearby profile
 * (`{"app":"chat","v":1,"name","s","t"}`), joins `network` (with the beacon, network proofs for the
 * hub's other origins, hidden while "Visible on this network" is off) and carries requests to and
 * from strangers, by hub peer id only. The **authenticated** one proves this browser's identity
 * with `allow: "contacts"` and the saved contacts' ids, so only contacts can ring it by identity;
 * it carries calls to contacts by identity and the `rv:` names of special contacts.
 *
 * Each conversation attempt is one `ChatSession` over one `PeerLink` (label `p2pos/chat`): the
 * session's signals go through the hub, its frames over the channel, its WebRTC steps to the link,
 * its timeouts from `pollTimeout`. The link is made only at the session's `offer`/`answer` step,
 * i.e. after acceptance, so no candidate exists before it. A session that opens is the contact's
 * live session (online = a proven session is open); its outbox is flushed then. Contacts, history
 * and images go to the sealed `ChatStore`. One `Rendezvous` per special contact says which `rv:`
 * names to be in.
 *
 * The page reads `getSnapshot()` (through `subscribe`) and calls the commands.
 */
import {
  BEACON_CLOSE_CODE,
  fetchBeacon,
  fetchNetworkProof,
  HubClient,
  HubError,
  sameOriginHubUrl,
  type HubPeer,
  type HubSignal,
} from "../lib/hubClient.ts";
import { PeerLink, type PathKind } from "../lib/peerLink.ts";
import { nearbyTags, randomB64u16 } from "./crypto.ts";
import {
  ChatSession,
  DEFAULT_TIMING,
  Rendezvous,
  type ChatEvent,
  type Contact,
  type Me,
  type Phase,
  type RvState,
  type SquatterReason,
  type Timing,
} from "./machine.ts";
import { mergeNearby, shortId, type NearbyEntry } from "./nearby.ts";
import { CHANNEL_LABEL, MAX_IMAGE, parseSignal, signalPayload, validName } from "./protocol.ts";
import { ChatStore, secretBytes, secretText, type SavedContact, type StoredMessage } from "./store.ts";

export type Via = "nearby" | "identity" | "rv";

/** One attempt at a conversation, as the page sees it. */
export interface ConnView {
  rq: string;
  direction: "out" | "in";
  via: Via;
  /** The other side's name (from its request, or the contact's). */
  name: string;
  /** The other side's hub peer id (or the contact's identity while a call by identity rings). */
  peer: string;
  /** A short id of the other side's hub peer id (strangers). */
  shortId: string;
  /** The contact this is with, once known (a call, or after the proof). */
  contact?: string;
  phase: Phase;
  /** How the packets travel, once open. */
  path?: "direct" | "relayed";
  /** Why it ended, in words. */
  ended?: string;
}

export interface Impostor {
  /** The hub peer id that failed the proof. */
  peer: string;
  /** Who it was taken for (a contact's name, or the name it showed). */
  claimedName: string;
  /** The identity its hello claimed. */
  claimedId: string;
  reason: SquatterReason["kind"];
  at: number;
}

export interface ContactView extends SavedContact {
  online: boolean;
  /** How the open session was found: on this network, by identity through the hub, or in `rv:`. */
  via?: Via;
  path?: "direct" | "relayed";
  /** The hub peer ids on this network whose tag names it (more than one: someone replays it). */
  nearbyPeers: string[];
  rv?: RvState;
  /** The last proof that failed for it (someone claimed to be it). */
  impostor?: Impostor;
  /** A call is under way. */
  calling: boolean;
  /** "typing…" arrived in the last 5 s. */
  typing: boolean;
  unread: number;
  pausePrompt: boolean;
}

export interface ChatSnapshot {
  status: "connecting" | "ready" | "failed";
  error?: string;
  me: { id: string; name: string; visible: boolean; peer?: string };
  nearby: NearbyEntry[];
  /** Requests, calls and chats under way (also ended ones, until dismissed). */
  conns: ConnView[];
  contacts: ContactView[];
  impostors: Impostor[];
  /** Conversations by contact id, oldest first. */
  messages: Record<string, StoredMessage[]>;
  notices: string[];
}

interface Conn {
  rq: string;
  session: ChatSession;
  hub: HubClient;
  via: Via;
  direction: "out" | "in";
  /** The peer the session knows: a hub peer id, or the contact's identity for a call by identity. */
  sessionPeer: string;
  /** Where signals go: a hub peer id; `undefined` while a call by identity has had no answer. */
  wire: string | undefined;
  name: string;
  contact: string | undefined;
  link: PeerLink | undefined;
  ops: Promise<void>;
  sends: Promise<void>;
  timer: ReturnType<typeof setTimeout> | undefined;
  path: PathKind | undefined;
  ended: string | undefined;
  /** This attempt was dropped on purpose (glare, offline): say nothing when it ends. */
  quiet: boolean;
}

export interface ChatClientOptions {
  identity: { id: string; signingKey: CryptoKey };
  store: ChatStore;
  hubUrl?: string;
}

/** What the test hooks may change (`testHooks.ts`). */
export interface ChatTestControls {
  clockOffsetMs: number;
  timing: Timing;
  /** Replace the nearby profile (a squatter replaying someone else's). */
  profileOverride: Record<string, unknown> | undefined;
  /** Answer calls from anyone as if they were a contact (a squatter's page). */
  squat: boolean;
  /** Everything the hub sent this page, in order (kept only with the test hooks). */
  hubLog: unknown[] | undefined;
  /** Skip calling contacts at start (a page that must not find its contacts by identity). */
  noAutoCall: boolean;
}

export const testControls: ChatTestControls = {
  clockOffsetMs: 0,
  timing: { ...DEFAULT_TIMING },
  profileOverride: undefined,
  squat: false,
  hubLog: undefined,
  noAutoCall: false,
};

const now = () => Date.now() + testControls.clockOffsetMs;

/** Images larger than this are refused before they are read. */
export const MAX_IMAGE_BYTES = MAX_IMAGE;
/** Most connection requests waiting for an answer at once (as `p2pos chat`). */
export const MAX_WAITING = 16;

export class ChatClient {
  private readonly identity: { id: string; signingKey: CryptoKey };
  private readonly store: ChatStore;
  private readonly hubUrl: string;
  private anon: HubClient | undefined;
  private authed: HubClient | undefined;
  private readonly nearbyPeers = new Map<string, HubPeer>();
  private nearby: NearbyEntry[] = [];
  private readonly conns = new Map<string, Conn>();
  /** The open session of each contact. */
  private readonly live = new Map<string, Conn>();
  private readonly rendezvous = new Map<string, { rv: Rendezvous; timer?: ReturnType<typeof setTimeout> }>();
  private readonly blacklist = new Set<string>();
  private readonly pausePrompts = new Set<string>();
  private readonly typing = new Map<string, ReturnType<typeof setTimeout>>();
  private contactsList: SavedContact[] = [];
  private messages: Record<string, StoredMessage[]> = {};
  private impostors: Impostor[] = [];
  private notices: string[] = [];
  private profileName = "";
  private visible = true;
  private snapshot: ChatSnapshot;
  private readonly listeners = new Set<() => void>();
  private closed = false;
  private nearbyGeneration = 0;
  private readonly cleanup: (() => void)[] = [];

  constructor(options: ChatClientOptions) {
    this.identity = options.identity;
    this.store = options.store;
    this.hubUrl = options.hubUrl ?? sameOriginHubUrl();
    this.snapshot = this.build("connecting");
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ChatSnapshot => this.snapshot;

  /** Whether a hub peer failed the identity proof here (never called again). */
  isBlacklisted(peer: string): boolean {
    return this.blacklist.has(peer);
  }

  /** The test clock moved: every rendezvous looks at its names again. */
  clockChanged(): void {
    for (const [contactId, { rv }] of this.rendezvous) {
      void rv.handleTimeout(now()).then(() => this.pumpRv(contactId));
    }
  }

  /** The `rv:` names this page is in, by contact (tests). */
  rvJoined(): Record<string, readonly string[]> {
    return Object.fromEntries([...this.rendezvous].map(([id, { rv }]) => [id, rv.joined]));
  }

  /** Sends any payload to a hub peer on the anonymous connection (tests: a misbehaving peer). */
  rawSignal(to: string, payload: Record<string, unknown>): void {
    this.anon?.signal(to, payload);
  }

  /**
   * Rings a nearby peer as if this page were the contact whose profile it replays (tests: a
   * squatter calling its victim). Its hello carries its own identity, as an impostor's must.
   */
  squatCall(peer: string): void {
    const anon = this.anon;
    if (!anon || !testControls.squat) return;
    const rq = randomB64u16();
    const fake = this.squatterContact();
    const session = ChatSession.call(this.me(), peer, rq, asContact(fake), testControls.timing, now());
    this.addOutgoingNearby(anon, rq, session, peer, fake.name);
  }

  /** A contact a squatter's page pretends to have (tests). */
  private squatterContact(): SavedContact {
    return {
      id: this.identity.id,
      name: "?",
      secret: secretText(crypto.getRandomValues(new Uint8Array(32))),
      lastSeen: 0,
      addedAt: 0,
      rendezvous: false,
    };
  }

  /** Says hello again with the current profile (tests: a squatter replaying someone's). */
  rehello(): Promise<void> {
    return this.reconnectAnon();
  }

  /** The peer id of the anonymous connection (tests). */
  get anonPeer(): string | undefined {
    return this.anon?.peer;
  }

  /** Loads the store, connects both ways, joins `network`, calls the contacts. */
  async start(): Promise<void> {
    const profile = await this.store.profile();
    this.profileName = profile?.name ?? "";
    this.visible = profile?.visible ?? true;
    this.contactsList = await this.store.contacts();
    for (const contact of this.contactsList) this.messages[contact.id] = await this.store.messages(contact.id);
    this.emit("connecting");
    try {
      await this.connectAnon();
      await this.connectAuthed();
    } catch (error) {
      this.emit("failed", describeHubError(error));
      return;
    }
    this.emit("ready");
    for (const contact of this.contactsList) if (contact.rendezvous) await this.startRendezvous(contact);
    if (!testControls.noAutoCall) this.callAll();
    const onVisible = () => {
      if (document.visibilityState === "visible") this.callAll();
    };
    document.addEventListener("visibilitychange", onVisible);
    this.cleanup.push(() => document.removeEventListener("visibilitychange", onVisible));
    // The browser came back online, maybe somewhere else: special contacts hear of the new
    // address (`announcing`, a call by identity), the others are rung as on load.
    const onOnline = () => {
      for (const [contactId, { rv }] of this.rendezvous) {
        void rv.addressChanged(now()).then(() => this.pumpRv(contactId));
      }
      this.callAll();
    };
    window.addEventListener("online", onOnline);
    this.cleanup.push(() => window.removeEventListener("online", onOnline));
  }

  /** Ends every session and both connections. */
  stop(): void {
    this.closed = true;
    for (const conn of this.conns.values()) {
      clearTimeout(conn.timer);
      void conn.session.leave().then(() => this.pump(conn));
    }
    for (const { timer } of this.rendezvous.values()) clearTimeout(timer);
    for (const off of this.cleanup) off();
    this.anon?.close();
    this.authed?.close();
  }

  // ---- commands ------------------------------------------------------------------------------

  async setName(name: string): Promise<void> {
    const trimmed = name.trim();
    if (!validName(trimmed)) throw new Error("A name is 1 to 64 characters, without control characters.");
    this.profileName = trimmed;
    await this.store.saveProfile({ name: trimmed, visible: this.visible });
    // The name is in the nearby profile, which the hub takes at hello: say hello again.
    await this.reconnectAnon();
  }

  /** "Visible on this network": leave `network`, join again with the other visibility. */
  async setVisible(visible: boolean): Promise<void> {
    this.visible = visible;
    this.emit();
    await this.store.saveProfile({ name: this.profileName, visible });
    const anon = this.anon;
    if (anon) {
      await anon.request({ type: "leave", ns: "network" }).catch(() => undefined);
      this.nearbyPeers.clear();
      await this.joinNetwork(anon);
    }
    this.emit();
  }

  /**
   * Ask a nearby stranger to connect. A nearby peer recognised as a contact is called by identity
   * instead ("Ping"): its tag alone proves nothing (anyone who saw it can replay it), and a call by
   * identity reaches only the connection the hub proved is that contact's, never a replayer.
   */
  connect(peer: string): void {
    const anon = this.anon;
    if (!anon) return;
    const entry = this.nearby.find((e) => e.peer === peer);
    if (entry?.contact !== undefined && this.contactsList.some((c) => c.id === entry.contact)) {
      this.ping(entry.contact);
      return;
    }
    const rq = randomB64u16();
    const k = crypto.getRandomValues(new Uint8Array(32));
    const session = ChatSession.request(this.me(), peer, rq, k, testControls.timing, now());
    this.addOutgoingNearby(anon, rq, session, peer, entry?.name ?? "someone");
  }

  /** An attempt this page starts towards a nearby hub peer, on the anonymous connection. */
  private addOutgoingNearby(anon: HubClient, rq: string, session: ChatSession, peer: string, name: string): void {
    this.add({
      rq,
      session,
      hub: anon,
      via: "nearby",
      direction: "out",
      sessionPeer: peer,
      wire: peer,
      name,
      contact: undefined,
    });
  }

  async accept(rq: string): Promise<void> {
    const conn = this.conns.get(rq);
    if (!conn) return;
    await conn.session.accept(now());
    this.pump(conn);
  }

  async decline(rq: string): Promise<void> {
    const conn = this.conns.get(rq);
    if (!conn) return;
    await conn.session.decline();
    this.pump(conn);
  }

  async cancel(rq: string): Promise<void> {
    const conn = this.conns.get(rq);
    if (!conn) return;
    await conn.session.cancel();
    this.pump(conn);
  }

  /** Forget an ended attempt in the list. */
  dismiss(rq: string): void {
    const conn = this.conns.get(rq);
    if (conn?.session.isFinal) {
      this.conns.delete(rq);
      this.emit();
    }
  }

  /**
   * "Ping": reach a saved contact wherever it is, through the hub by identity. `evenIfOpen`: also
   * when a session is open (announcing a new address: the old session may be dead already; a
   * new one that opens replaces it).
   */
  ping(contactId: string, evenIfOpen = false): void {
    const contact = this.contactsList.find((c) => c.id === contactId);
    const authed = this.authed;
    if (!contact || !authed || (this.live.has(contactId) && !evenIfOpen)) return;
    // One attempt at a time (the open session itself does not count).
    const ringing = (c: Conn) => c.contact === contactId && !c.session.isFinal && c.session.phase !== "open";
    if ([...this.conns.values()].some(ringing)) return;
    const rq = randomB64u16();
    const session = ChatSession.call(this.me(), contact.id, rq, asContact(contact), testControls.timing, now());
    this.add({
      rq,
      session,
      hub: authed,
      via: "identity",
      direction: "out",
      sessionPeer: contact.id,
      wire: undefined,
      name: contact.name,
      contact: contact.id,
    });
  }

  async sendText(contactId: string, text: string, re?: string): Promise<void> {
    const message: StoredMessage = {
      id: randomB64u16(),
      from: "me",
      at: now(),
      text,
      status: "queued",
      ...(re ? { re } : {}),
    };
    await this.store.addMessage(contactId, message);
    await this.reload(contactId);
    const conn = this.live.get(contactId);
    if (conn) await this.flush(contactId, conn);
    else this.ping(contactId);
  }

  async sendImage(contactId: string, file: File): Promise<void> {
    if (file.size === 0 || file.size > MAX_IMAGE_BYTES)
      throw new Error(`An image is 1 byte to ${MAX_IMAGE_BYTES / 1048576} MiB.`);
    if (!file.type.startsWith("image/")) throw new Error("Only images can be sent.");
    const bytes = new Uint8Array(await file.arrayBuffer());
    const id = randomB64u16();
    await this.store.putImage(id, bytes);
    const name = Array.from(file.name || "image")
      .slice(0, 255)
      .join("");
    await this.store.addMessage(contactId, {
      id,
      from: "me",
      at: now(),
      image: { name, type: file.type, size: bytes.length },
      status: "queued",
    });
    await this.reload(contactId);
    const conn = this.live.get(contactId);
    if (conn) await this.flush(contactId, conn);
    else this.ping(contactId);
  }

  /** The person looked at the conversation: read receipts for what arrived. */
  async markRead(contactId: string): Promise<void> {
    const conn = this.live.get(contactId);
    const unread = (this.messages[contactId] ?? []).filter((m) => m.from === "them" && m.status === "received");
    if (unread.length === 0) return;
    for (const message of unread) {
      if (conn) {
        await conn.session.markRead(message.id).catch(() => undefined);
        this.pump(conn);
      }
      await this.store.setStatus(contactId, message.id, "read");
    }
    await this.reload(contactId);
  }

  async typingNow(contactId: string): Promise<void> {
    const conn = this.live.get(contactId);
    if (conn?.session.phase !== "open") return;
    await conn.session.typing().catch(() => undefined);
    this.pump(conn);
  }

  async deleteMessage(contactId: string, id: string): Promise<void> {
    await this.store.deleteMessage(contactId, id);
    await this.reload(contactId);
  }

  async deleteChat(contactId: string): Promise<void> {
    await this.store.deleteChat(contactId);
    await this.reload(contactId);
  }

  async deleteContact(contactId: string): Promise<void> {
    const conn = this.live.get(contactId);
    if (conn) {
      await conn.session.leave();
      this.pump(conn);
    }
    this.stopRendezvous(contactId);
    await this.store.deleteContact(contactId);
    this.contactsList = await this.store.contacts();
    this.messages = Object.fromEntries(Object.entries(this.messages).filter(([id]) => id !== contactId));
    await this.authed?.setContacts(this.contactsList.map((c) => c.id)).catch(() => undefined);
    this.emit();
  }

  async setRendezvous(contactId: string, on: boolean): Promise<void> {
    await this.store.updateContact(contactId, { rendezvous: on });
    this.contactsList = await this.store.contacts();
    const contact = this.contactsList.find((c) => c.id === contactId);
    if (on && contact) await this.startRendezvous(contact);
    if (!on) this.stopRendezvous(contactId);
    this.pausePrompts.delete(contactId);
    this.emit();
  }

  /** An image's bytes from the store. */
  image(id: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    return this.store.image(id);
  }

  search(query: string): Promise<{ contact: string; message: StoredMessage }[]> {
    return this.store.search(query);
  }

  dismissNotice(index: number): void {
    this.notices = this.notices.filter((_, i) => i !== index);
    this.emit();
  }

  /** The nearby profile this page says hello with (tests read it to play a squatter). */
  nearbyProfile: Record<string, unknown> | undefined;

  // ---- hub connections -----------------------------------------------------------------------

  private async connectAnon(): Promise<void> {
    const secrets = this.contactsList.slice(0, 32).map((c) => secretBytes(c));
    const s = randomB64u16();
    const profile = testControls.profileOverride ?? {
      app: "chat",
      v: 1,
      name: this.profileName,
      s,
      t: await nearbyTags(secrets, s),
    };
    this.nearbyProfile = profile;
    const anon = await HubClient.connect(this.hubUrl, { profile });
    this.anon = anon;
    this.nearbyPeers.clear();
    anon.onSignal((signal) => this.onHubSignal(anon, signal));
    anon.onMessage((message) => {
      testControls.hubLog?.push(message);
      if (message.type !== "presence" || message["ns"] !== "network") return;
      const peer = message["peer"] as HubPeer | undefined;
      if (!peer || typeof peer.peer !== "string") return;
      if (message["event"] === "join") this.nearbyPeers.set(peer.peer, peer);
      else this.nearbyPeers.delete(peer.peer);
      void this.refreshNearby();
    });
    anon.onClosed((reason) => {
      if (this.anon !== anon || this.closed) return;
      this.nearbyPeers.clear();
      void this.refreshNearby();
      this.notice(
        anon.closeCode === BEACON_CLOSE_CODE
          ? `The hub refused this page's beacon: ${reason}. Reload the page.`
          : `Lost the hub (${reason}). Reload the page to see who is on this network.`,
      );
    });
    await this.joinNetwork(anon);
  }

  private async joinNetwork(anon: HubClient): Promise<void> {
    const also: string[] = [];
    try {
      const grant = await fetchBeacon(this.hubUrl);
      for (const origin of grant.altOrigins.slice(0, 2)) {
        // Another address family of this browser; a hub origin it cannot reach simply adds nothing.
        try {
          also.push(await fetchNetworkProof(origin));
        } catch {
          // Unreachable over that family: this side is nearby on the one it has.
        }
      }
    } catch {
      // `join` fetches its own token and reports a refusal.
    }
    const peers = await anon.join("network", { also, hidden: !this.visible });
    for (const peer of peers) this.nearbyPeers.set(peer.peer, peer);
    await this.refreshNearby();
  }

  private async reconnectAnon(): Promise<void> {
    const old = this.anon;
    this.anon = undefined;
    // Sessions on the old connection keep it until they end; the list comes from the new one.
    if (old && ![...this.conns.values()].some((c) => c.hub === old && !c.session.isFinal)) old.close();
    try {
      await this.connectAnon();
    } catch (error) {
      this.notice(describeHubError(error));
    }
    this.emit();
  }

  private async connectAuthed(): Promise<void> {
    const authed = await HubClient.connect(this.hubUrl, {
      signer: this.identity,
      allow: "contacts",
      profile: {},
    });
    this.authed = authed;
    await authed.setContacts(this.contactsList.map((c) => c.id));
    authed.onSignal((signal) => this.onHubSignal(authed, signal));
    authed.onMessage((message) => {
      testControls.hubLog?.push(message);
      const ns = message["ns"];
      if (message.type === "presence" && typeof ns === "string" && ns.startsWith("rv:")) {
        // The newcomer calls (see `joinRv`); this side waits for its call and knows it came through rv.
        const peer = message["peer"] as HubPeer | undefined;
        if (peer && typeof peer.peer === "string") this.rvSeen.add(peer.peer);
      }
    });
    authed.onClosed((reason) => {
      if (this.closed) return;
      this.notice(`Lost the hub (${reason}): contacts cannot reach this page. Reload it.`);
    });
  }

  private async refreshNearby(): Promise<void> {
    const generation = ++this.nearbyGeneration;
    const contacts = this.contactsList.map((c) => ({ id: c.id, secret: secretBytes(c) }));
    const merged = await mergeNearby([...this.nearbyPeers.values()], contacts, this.anon?.peer);
    if (generation !== this.nearbyGeneration) return;
    this.nearby = merged;
    this.emit();
  }

  // ---- signals -------------------------------------------------------------------------------

  private onHubSignal(hub: HubClient, hubSignal: HubSignal): void {
    testControls.hubLog?.push({
      type: "signal",
      from: hubSignal.from,
      fromId: hubSignal.fromId,
      payload: hubSignal.payload,
    });
    let signal;
    try {
      signal = parseSignal(hubSignal.payload);
    } catch {
      return;
    }
    if (!signal || this.closed) return;
    const conn = this.conns.get(signal.rq);
    if (conn) {
      if (conn.hub !== hub) return;
      if (conn.wire === undefined) {
        // A call by identity: the first answer must come from that identity's connection.
        if (hubSignal.fromId !== conn.contact) return;
        conn.wire = hubSignal.from;
      } else if (hubSignal.from !== conn.wire) {
        return;
      }
      void conn.session.handleSignal(conn.sessionPeer, signal, now()).then(() => this.pump(conn));
      return;
    }
    if (this.blacklist.has(hubSignal.from)) return;
    if (signal.t === "request" && hub === this.anon) {
      // A request is a stranger's, whatever its tags say: only the proof names the other side.
      // A neighbour cannot flood the page: one waiting request per hub peer, MAX_WAITING in all;
      // more are dropped unseen (the asker's attempt times out, as if nobody answered).
      const waiting = [...this.conns.values()].filter((c) => c.direction === "in" && c.session.phase === "asked");
      if (waiting.length >= MAX_WAITING || waiting.some((c) => c.wire === hubSignal.from)) return;
      const k = crypto.getRandomValues(new Uint8Array(32));
      const session = ChatSession.asked(
        this.me(),
        hubSignal.from,
        signal.rq,
        signal.name,
        k,
        testControls.timing,
        now(),
      );
      this.add({
        rq: signal.rq,
        session,
        hub,
        via: "nearby",
        direction: "in",
        sessionPeer: hubSignal.from,
        wire: hubSignal.from,
        name: signal.name,
        contact: undefined,
      });
      return;
    }
    if (signal.t === "call") this.onCall(hub, hubSignal, signal.rq);
  }

  private onCall(hub: HubClient, hubSignal: HubSignal, rq: string): void {
    let contact: SavedContact | undefined;
    let via: Via;
    if (hub === this.authed) {
      contact = this.contactsList.find((c) => c.id === hubSignal.fromId);
      via = this.rvPeer(hubSignal.from) ? "rv" : "identity";
    } else {
      // In `network` nobody's identity shows: a call there is from the contact its tag names.
      const entry = this.nearby.find((e) => e.peer === hubSignal.from);
      contact = this.contactsList.find((c) => c.id === entry?.contact);
      via = "nearby";
    }
    if (!contact && testControls.squat) contact = this.squatterContact();
    if (!contact) return;
    const pending = this.pendingCall(contact.id);
    if (pending) {
      // Both rang at once: the side with the smaller id keeps its own call. A call known only by
      // its tag is unproven, so this side's own call stays until the other one opens ("open").
      if (this.identity.id < contact.id) return;
      if (via !== "nearby") this.cancelQuietly(pending);
    }
    // A nearby call is the contact's by its tag alone (tags are public and can be replayed):
    // this side says who it is only after the caller proved it is that contact.
    const answer = via === "nearby" ? ChatSession.calledByTag.bind(ChatSession) : ChatSession.called.bind(ChatSession);
    const session = answer(this.me(), hubSignal.from, rq, asContact(contact), testControls.timing, now());
    this.add({
      rq,
      session,
      hub,
      via,
      direction: "in",
      sessionPeer: hubSignal.from,
      wire: hubSignal.from,
      name: contact.name,
      contact: contact.id,
    });
  }

  /** This side's own call to `contact` that has not opened yet, if any. */
  private pendingCall(contact: string): Conn | undefined {
    return [...this.conns.values()].find(
      (c) => c.contact === contact && c.direction === "out" && !c.session.isFinal && c.session.phase !== "open",
    );
  }

  private cancelQuietly(conn: Conn): void {
    conn.quiet = true;
    void conn.session.cancel().then(() => this.pump(conn));
  }

  // ---- sessions ------------------------------------------------------------------------------

  private add(init: Omit<Conn, "link" | "ops" | "sends" | "timer" | "path" | "ended" | "quiet">): void {
    const conn: Conn = {
      ...init,
      link: undefined,
      ops: Promise.resolve(),
      sends: Promise.resolve(),
      timer: undefined,
      path: undefined,
      ended: undefined,
      quiet: false,
    };
    this.conns.set(conn.rq, conn);
    this.pump(conn);
  }

  /** Carries out everything the session asked for, in order, and sets its timer. */
  private pump(conn: Conn): void {
    for (let out = conn.session.pollOutput(); out !== undefined; out = conn.session.pollOutput()) {
      switch (out.type) {
        case "signal": {
          const to = conn.wire ?? conn.sessionPeer;
          const payload = signalPayload(out.signal);
          const kind = out.signal.t;
          conn.hub.signal(to, payload, (error) => this.refused(conn, kind, error));
          break;
        }
        case "text":
        case "binary": {
          const data = out.type === "text" ? out.text : out.frame;
          conn.sends = conn.sends.then(async () => {
            const link = conn.link;
            if (!link) return;
            try {
              await link.drain();
              link.send(data);
            } catch {
              // The link ended: its `closed` tells the session.
            }
          });
          break;
        }
        case "rtc": {
          const step = out.step;
          conn.ops = conn.ops.then(() => this.rtc(conn, step)).catch(() => undefined);
          break;
        }
        case "event":
          void this.onEvent(conn, out.event);
          break;
      }
    }
    clearTimeout(conn.timer);
    const due = conn.session.pollTimeout();
    if (due !== undefined) {
      conn.timer = setTimeout(
        () => {
          void conn.session.handleTimeout(now()).then(() => this.pump(conn));
        },
        Math.max(0, due - now()),
      );
    }
    this.emit();
  }

  /** The path of an open link; the stats may need a moment to name the selected pair. */
  private async readPath(conn: Conn, link: PeerLink): Promise<void> {
    for (let attempt = 0; attempt < 5 && link.state === "open"; attempt++) {
      const path = await link.path().catch(() => undefined);
      if (path !== undefined) {
        conn.path = path;
        this.emit();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async rtc(conn: Conn, step: import("./machine.ts").RtcStep): Promise<void> {
    switch (step.kind) {
      case "offer":
      case "answer": {
        const link = new PeerLink({
          iceServers: await conn.hub.iceServers().catch(() => []),
          channel: { label: CHANNEL_LABEL },
          // The session keeps the deadlines (connecting 30 s, proving 10 s).
          connectTimeoutMs: null,
          signal: async (signal) => {
            if (signal.kind === "candidates")
              await conn.session.localCandidates(signal.candidates as Record<string, unknown>[]);
            else await conn.session.localDescription(signal.sdp);
            this.pump(conn);
          },
          on: {
            open: () => {
              void conn.session.channelOpen(now()).then(() => this.pump(conn));
              void this.readPath(conn, link);
            },
            message: (data) => {
              const input =
                typeof data === "string"
                  ? conn.session.handleText(data)
                  : conn.session.handleBinary(new Uint8Array(data));
              void input.then(() => this.pump(conn));
            },
            closed: (error) => {
              void conn.session.channelClosed(error.message).then(() => this.pump(conn));
            },
          },
        });
        conn.link = link;
        if (step.kind === "offer") await link.offer();
        else await link.answer(step.offer);
        return;
      }
      case "apply_answer":
        await conn.link?.applyAnswer(step.answer);
        return;
      case "add_candidates":
        conn.link?.addCandidates(step.candidates);
        return;
      case "close":
        // Let what was queued (a `bye`) leave first.
        await conn.sends;
        conn.link?.close();
        return;
    }
  }

  private refused(conn: Conn, kind: string, error: HubError): void {
    if (conn.session.isFinal) return;
    conn.quiet = conn.via === "identity";
    if (error.code === "peer_unavailable" || error.code === "not_allowed") {
      // By identity the hub answers "not connected" also when the contact no longer takes calls
      // from this identity: it never tells who is online to someone it may not ring.
      conn.ended = conn.via === "identity" ? `${conn.name} is offline.` : `${conn.name} is no longer on this network.`;
      // Nobody to tell: end the session here.
      void conn.session.leave().then(() => this.pump(conn));
    } else if (kind !== "ice") {
      this.notice(`The hub refused a signal: ${error.message}`);
    }
  }

  private async onEvent(conn: Conn, event: ChatEvent): Promise<void> {
    switch (event.type) {
      case "open": {
        conn.contact = event.id;
        const existing = this.contactsList.find((c) => c.id === event.id);
        const at = now();
        if (event.secret !== undefined) {
          await this.store.saveContact({
            id: event.id,
            name: event.name,
            secret: secretText(event.secret),
            lastSeen: at,
            addedAt: at,
            rendezvous: existing?.rendezvous ?? false,
          });
        } else {
          await this.store.updateContact(event.id, { name: event.name, lastSeen: at });
        }
        conn.name = event.name;
        this.contactsList = await this.store.contacts();
        if (!existing) {
          this.messages[event.id] = await this.store.messages(event.id);
          await this.authed?.setContacts(this.contactsList.map((c) => c.id)).catch(() => undefined);
          void this.refreshNearby();
        }
        const previous = this.live.get(event.id);
        this.live.set(event.id, conn);
        if (previous && previous !== conn) {
          previous.quiet = true;
          void previous.session.leave().then(() => this.pump(previous));
        }
        const pending = this.pendingCall(event.id);
        if (pending && pending !== conn) this.cancelQuietly(pending);
        await this.rendezvous.get(event.id)?.rv.connected(at);
        this.pumpRv(event.id);
        await this.flush(event.id, conn);
        break;
      }
      case "message":
        if (conn.contact === undefined) break;
        await this.store.addMessage(conn.contact, {
          id: event.id,
          from: "them",
          at: event.at,
          text: event.text,
          status: "received",
          ...(event.re ? { re: event.re } : {}),
        });
        clearTimeout(this.typing.get(conn.contact));
        this.typing.delete(conn.contact);
        await this.reload(conn.contact);
        break;
      case "image":
        if (conn.contact === undefined) break;
        await this.store.putImage(event.img.id, event.bytes);
        await this.store.addMessage(conn.contact, {
          id: event.img.id,
          from: "them",
          at: event.img.at,
          image: { name: event.img.name, type: event.img.type, size: event.img.size },
          status: "received",
          ...(event.img.re ? { re: event.img.re } : {}),
        });
        await this.reload(conn.contact);
        break;
      case "receipt":
        if (conn.contact === undefined) break;
        await this.store.setStatus(conn.contact, event.id, event.kind);
        await this.reload(conn.contact);
        break;
      case "typing":
        if (conn.contact !== undefined) {
          const contact = conn.contact;
          clearTimeout(this.typing.get(contact));
          // "typing…" fades on its own after 5 s.
          this.typing.set(
            contact,
            setTimeout(() => {
              this.typing.delete(contact);
              this.emit();
            }, 5_000),
          );
        }
        this.emit();
        break;
      case "squatter": {
        const peer = conn.wire ?? conn.sessionPeer;
        const impostor: Impostor = {
          peer,
          claimedName: conn.name,
          claimedId: event.claimed,
          reason: event.reason.kind,
          at: now(),
        };
        this.impostors = [impostor, ...this.impostors.filter((i) => i.peer !== peer)];
        this.blacklist.add(peer);
        conn.ended = `Impostor: it did not prove it is ${conn.name}. Refused.`;
        if (conn.contact !== undefined) {
          await this.rendezvous.get(conn.contact)?.rv.squatterSeen(peer, now());
          this.pumpRv(conn.contact);
        }
        break;
      }
      case "closed": {
        if (!conn.ended && !conn.quiet) conn.ended = describeClose(event, conn.name);
        if (conn.contact !== undefined && this.live.get(conn.contact) === conn) {
          this.live.delete(conn.contact);
          await this.store.updateContact(conn.contact, { lastSeen: now() });
          this.contactsList = await this.store.contacts();
          await this.rendezvous.get(conn.contact)?.rv.connectionLost(now());
          this.pumpRv(conn.contact);
        }
        if (conn.quiet) this.conns.delete(conn.rq);
        break;
      }
      case "declined":
        conn.ended = `${conn.name} declined.`;
        break;
      case "asked":
      case "accepted":
        break;
    }
    this.emit();
  }

  /** Sends the contact's outbox over its open session, oldest first. */
  private async flush(contactId: string, conn: Conn): Promise<void> {
    for (const message of await this.store.outbox(contactId)) {
      if (conn.session.phase !== "open") return;
      try {
        if (message.image) {
          const bytes = await this.store.image(message.id);
          if (!bytes) continue;
          await conn.session.sendImage(
            message.id,
            message.image.name,
            message.image.type,
            bytes,
            message.re,
            message.at,
          );
        } else if (message.text !== undefined) {
          await conn.session.sendText(message.id, message.text, message.re, message.at);
        }
      } catch (error) {
        this.notice(`A message could not be sent: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      this.pump(conn);
      await this.store.setStatus(contactId, message.id, "sent");
    }
    await this.reload(contactId);
  }

  // ---- contacts reached by identity ------------------------------------------------------------

  /** Calls every saved contact that is not online, once. `peer_unavailable` means offline. */
  private callAll(): void {
    for (const contact of this.contactsList) this.ping(contact.id);
  }

  // ---- rendezvous ----------------------------------------------------------------------------

  private async startRendezvous(contact: SavedContact): Promise<void> {
    if (this.rendezvous.has(contact.id)) return;
    const rv = await Rendezvous.create(secretBytes(contact), contact.lastSeen, now());
    this.rendezvous.set(contact.id, { rv });
    if (this.live.has(contact.id)) await rv.connected(now());
    this.pumpRv(contact.id);
  }

  private stopRendezvous(contactId: string): void {
    const entry = this.rendezvous.get(contactId);
    if (!entry) return;
    clearTimeout(entry.timer);
    for (const name of entry.rv.joined) {
      void this.authed?.request({ type: "leave", ns: name }).catch(() => undefined);
    }
    this.rendezvous.delete(contactId);
  }

  private rvPeer(peer: string): boolean {
    return this.rvSeen.has(peer);
  }

  private readonly rvSeen = new Set<string>();

  private pumpRv(contactId: string): void {
    const entry = this.rendezvous.get(contactId);
    if (!entry) return;
    const { rv } = entry;
    for (let out = rv.pollOutput(); out !== undefined; out = rv.pollOutput()) {
      switch (out.type) {
        case "join":
          void this.joinRv(contactId, out.name);
          break;
        case "leave":
          void this.authed?.request({ type: "leave", ns: out.name }).catch(() => undefined);
          break;
        case "blacklist":
          this.blacklist.add(out.peer);
          break;
        case "announce":
          this.ping(contactId, true);
          break;
        case "pause_prompt":
          this.pausePrompts.add(contactId);
          break;
        case "state":
          break;
      }
    }
    clearTimeout(entry.timer);
    const due = rv.pollTimeout(now());
    if (due !== undefined) {
      // A timer of more than 2^31 - 1 ms fires at once: wake up at least daily.
      const wait = Math.min(Math.max(0, due - now()), 86_400_000);
      entry.timer = setTimeout(() => {
        void rv.handleTimeout(now()).then(() => this.pumpRv(contactId));
      }, wait);
    }
    this.emit();
  }

  /** Joins an `rv:` name; whoever is already there is called (the newcomer calls). */
  private async joinRv(contactId: string, name: string): Promise<void> {
    const authed = this.authed;
    if (!authed) return;
    let peers: HubPeer[];
    try {
      peers = await authed.join(name);
    } catch (error) {
      this.notice(`Could not meet in rendezvous: ${describeHubError(error)}`);
      return;
    }
    const contact = this.contactsList.find((c) => c.id === contactId);
    if (!contact || this.live.has(contactId)) return;
    for (const peer of peers) {
      if (peer.peer === authed.peer || this.blacklist.has(peer.peer)) continue;
      this.rvSeen.add(peer.peer);
      if ([...this.conns.values()].some((c) => c.contact === contactId && !c.session.isFinal)) return;
      const rq = randomB64u16();
      const session = ChatSession.call(this.me(), peer.peer, rq, asContact(contact), testControls.timing, now());
      this.add({
        rq,
        session,
        hub: authed,
        via: "rv",
        direction: "out",
        sessionPeer: peer.peer,
        wire: peer.peer,
        name: contact.name,
        contact: contactId,
      });
      return;
    }
  }

  // ---- snapshot ------------------------------------------------------------------------------

  private me(): Me {
    return { id: this.identity.id, name: this.profileName, signingKey: this.identity.signingKey };
  }

  private async reload(contactId: string): Promise<void> {
    this.messages = { ...this.messages, [contactId]: await this.store.messages(contactId) };
    this.emit();
  }

  private notice(text: string): void {
    this.notices = [...this.notices.slice(-4), text];
    this.emit();
  }

  private emit(status?: ChatSnapshot["status"], error?: string): void {
    this.snapshot = this.build(status ?? this.snapshot.status, error ?? this.snapshot.error);
    for (const listener of this.listeners) listener();
  }

  private build(status: ChatSnapshot["status"], error?: string): ChatSnapshot {
    const conns: ConnView[] = [...this.conns.values()].map((c) => ({
      rq: c.rq,
      direction: c.direction,
      via: c.via,
      name: c.name,
      peer: c.wire ?? c.sessionPeer,
      shortId: shortId(c.wire ?? c.sessionPeer),
      phase: c.session.phase,
      ...(c.contact === undefined ? {} : { contact: c.contact }),
      ...(c.path === undefined ? {} : { path: c.path === "relay" ? ("relayed" as const) : ("direct" as const) }),
      ...(c.ended === undefined ? {} : { ended: c.ended }),
    }));
    const contacts: ContactView[] = this.contactsList.map((c) => {
      const live = this.live.get(c.id);
      const near = this.nearby.filter((e) => e.contact === c.id && !this.blacklist.has(e.peer)).map((e) => e.peer);
      const impostor = this.impostors.find((i) => i.claimedName === c.name || i.claimedId === c.id);
      const rv = this.rendezvous.get(c.id)?.rv.state;
      return {
        ...c,
        online: live !== undefined,
        ...(live === undefined ? {} : { via: live.via }),
        ...(live?.path === undefined
          ? {}
          : { path: live.path === "relay" ? ("relayed" as const) : ("direct" as const) }),
        nearbyPeers: near,
        ...(rv === undefined ? {} : { rv }),
        ...(impostor ? { impostor } : {}),
        calling: [...this.conns.values()].some(
          (x) => x.contact === c.id && !x.session.isFinal && x.session.phase !== "open",
        ),
        typing: this.typing.has(c.id),
        unread: (this.messages[c.id] ?? []).filter((m) => m.from === "them" && m.status === "received").length,
        pausePrompt: this.pausePrompts.has(c.id),
      };
    });
    const known = new Set(this.contactsList.map((c) => c.id));
    return {
      status,
      ...(error === undefined ? {} : { error }),
      me: {
        id: this.identity.id,
        name: this.profileName,
        visible: this.visible,
        ...(this.anon ? { peer: this.anon.peer } : {}),
      },
      // A contact recognised nearby is listed under contacts ("● on this network"), not here.
      nearby: this.nearby.filter((e) => e.contact === undefined || !known.has(e.contact) || this.blacklist.has(e.peer)),
      conns,
      contacts,
      impostors: this.impostors,
      messages: this.messages,
      notices: this.notices,
    };
  }
}

function asContact(contact: SavedContact): Contact {
  return { id: contact.id, name: contact.name, secret: secretBytes(contact) };
}

function describeClose(event: Extract<ChatEvent, { type: "closed" }>, name: string): string {
  const reason = event.reason;
  switch (reason.kind) {
    case "cancelled":
      return "Cancelled.";
    case "peer_cancelled":
      return `${name} cancelled.`;
    case "left":
      return "You left the chat.";
    case "peer_left":
      return `${name} left the chat.`;
    case "timeout":
      return reason.phase === "requesting" || reason.phase === "asked"
        ? "No answer in time."
        : `The connection did not come up in time (${reason.phase}).`;
    case "channel_closed":
      return `The connection to ${name} closed.`;
    case "violation":
      return `${name} broke the protocol (${reason.violation}): closed.`;
  }
}

export function describeHubError(error: unknown): string {
  if (error instanceof HubError) {
    if (error.code === "beacon") return `The hub refused this page: ${error.message}`;
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
