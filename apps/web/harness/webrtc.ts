/**
 * WebRTC inside a real browser, for the e2e tests (e2e/peerjs.test.mjs, e2e/turn-relay.test.mjs):
 *
 *  - `peer*`: the real npm `peerjs` client against the hub's PeerJS-compatible endpoint (one Peer per page);
 *  - `hubIceServers`: ICE servers with TURN credentials, asked of the hub over its native `/v1/ws`;
 *  - `relayCase`: two RTCPeerConnections in this page, forced through TURN (`iceTransportPolicy: "relay"`),
 *    that open a data channel and echo a message; reports which candidate pair carried it.
 *
 * Every WebSocket the page opens is recorded (frames received, close code and reason), so the tests can
 * assert exactly what the hub said. Everything crosses page.evaluate as JSON.
 */
import { Peer, type DataConnection } from "peerjs";

// --- WebSocket recording -----------------------------------------------------------------------------

export interface SocketRecord {
  url: string;
  received: string[];
  closed: { code: number; reason: string; wasClean: boolean } | null;
}

const sockets: SocketRecord[] = [];

/** Installed before any Peer exists: PeerJS looks up the global WebSocket when it connects. */
class RecordingWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols);
    const record: SocketRecord = { url: String(url), received: [], closed: null };
    sockets.push(record);
    this.addEventListener("message", (event: MessageEvent) => {
      record.received.push(typeof event.data === "string" ? event.data : "<binary>");
    });
    this.addEventListener("close", (event: CloseEvent) => {
      record.closed = { code: event.code, reason: event.reason, wasClean: event.wasClean };
    });
  }
}
window.WebSocket = RecordingWebSocket;

// --- Small helpers -----------------------------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` every 20 ms until it returns something other than undefined; reject after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

function describeError(error: unknown): { type: string; message: string } {
  if (error instanceof Error) {
    const type = (error as { type?: unknown }).type;
    return { type: typeof type === "string" ? type : error.name, message: error.message };
  }
  return { type: "unknown", message: String(error) };
}

// --- PeerJS --------------------------------------------------------------------------------------------

export interface PeerServer {
  host: string;
  port: number;
  path: string;
  key: string;
}

export interface PeerMessage {
  from: string;
  data: unknown;
}

interface PeerState {
  peer: Peer;
  connections: Map<string, DataConnection>;
  inbox: PeerMessage[];
  errors: { type: string; message: string }[];
  events: string[];
}

let current: PeerState | undefined;

function requirePeer(): PeerState {
  if (!current) throw new Error("no Peer: call peerOpen first");
  return current;
}

function track(state: PeerState, connection: DataConnection): void {
  state.connections.set(connection.peer, connection);
  connection.on("data", (data) => state.inbox.push({ from: connection.peer, data }));
  connection.on("error", (error) => state.errors.push(describeError(error)));
}

/**
 * `new Peer(id?, options)` against `server`; resolves with the id once the server said OPEN, or with
 * the PeerJS error (`unavailable-id` for ID-TAKEN) if it refused.
 */
async function peerOpen(
  server: PeerServer,
  id: string | null,
  timeoutMs = 15_000,
): Promise<{ id: string } | { error: { type: string; message: string } }> {
  if (current) throw new Error("this page already has a Peer");
  // No STUN/TURN: both ends are in this browser, host candidates on loopback do.
  const options = { ...server, secure: false, config: { iceServers: [] } };
  // peerjs types its options as a class it does not export; its docs pass plain objects, as here.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  const peer = id === null ? new Peer(options) : new Peer(id, options);
  const state: PeerState = { peer, connections: new Map(), inbox: [], errors: [], events: [] };
  current = state;
  peer.on("connection", (connection) => {
    state.events.push(`connection:${connection.peer}`);
    track(state, connection);
  });
  peer.on("disconnected", () => state.events.push("disconnected"));
  peer.on("close", () => state.events.push("close"));
  peer.on("error", (error) => state.errors.push(describeError(error)));
  return waitFor("the Peer to open or fail", timeoutMs, () => {
    const [error] = state.errors;
    if (error) return { error };
    if (peer.open) return { id: peer.id };
    return undefined;
  });
}

/**
 * Open a DataConnection to `remoteId` and wait until it is usable, or until the Peer reports an error
 * (e.g. `peer-unavailable` once the server answers EXPIRE for an absent id).
 */
async function peerConnect(
  remoteId: string,
  timeoutMs = 15_000,
): Promise<{ open: true } | { error: { type: string; message: string } }> {
  const state = requirePeer();
  const errorsBefore = state.errors.length;
  const connection = state.peer.connect(remoteId, { reliable: true });
  track(state, connection);
  return waitFor(`the DataConnection to ${remoteId} to open`, timeoutMs, () => {
    const error = state.errors[errorsBefore];
    if (error) return { error };
    return connection.open ? { open: true as const } : undefined;
  });
}

/** Drop the connection to the server and make a new one with the same id and token. */
async function peerReconnect(timeoutMs = 15_000): Promise<{ id: string }> {
  const { peer } = requirePeer();
  peer.disconnect();
  await waitFor("the Peer to disconnect", timeoutMs, () => (peer.disconnected ? true : undefined));
  peer.reconnect();
  return waitFor("the Peer to reopen", timeoutMs, () => (peer.open ? { id: peer.id } : undefined));
}

/** Send on the (open) DataConnection with `remoteId`; waits for an incoming one to open first. */
async function peerSend(remoteId: string, data: unknown, timeoutMs = 15_000): Promise<void> {
  const state = requirePeer();
  const connection = await waitFor(`an open DataConnection with ${remoteId}`, timeoutMs, () => {
    const c = state.connections.get(remoteId);
    return c?.open ? c : undefined;
  });
  await connection.send(data);
}

/** The next message from `remoteId` (removed from the inbox). */
async function peerReceive(remoteId: string, timeoutMs = 15_000): Promise<unknown> {
  const state = requirePeer();
  const message = await waitFor(`a message from ${remoteId}`, timeoutMs, () => {
    const index = state.inbox.findIndex((m) => m.from === remoteId);
    return index < 0 ? undefined : state.inbox.splice(index, 1)[0];
  });
  return message.data;
}

function peerStatus(): {
  id: string | null;
  open: boolean;
  disconnected: boolean;
  destroyed: boolean;
  errors: { type: string; message: string }[];
  events: string[];
} {
  const state = requirePeer();
  const { peer } = state;
  return {
    id: peer.id || null,
    open: peer.open,
    disconnected: peer.disconnected,
    destroyed: peer.destroyed,
    errors: state.errors,
    events: state.events,
  };
}

function peerDestroy(): void {
  current?.peer.destroy();
}

// --- The hub's native protocol: ICE servers ----------------------------------------------------------

export interface HubIceServers {
  welcome: unknown;
  reply: { type: string; rid?: number; ttl_secs?: number; ice_servers?: RTCIceServer[] } & Record<string, unknown>;
}

/** `/v1/ws`: hello, then `{"type":"turn"}`; resolves with the welcome and the reply, then closes. */
async function hubIceServers(wsUrl: string, timeoutMs = 10_000): Promise<HubIceServers> {
  const socket = new WebSocket(wsUrl);
  const inbox: unknown[] = [];
  socket.addEventListener("message", (event: MessageEvent) => {
    inbox.push(JSON.parse(String(event.data)));
  });
  const next = (what: string) =>
    waitFor(what, timeoutMs, () => {
      if (inbox.length > 0) return inbox.shift();
      if (socket.readyState >= WebSocket.CLOSING) throw new Error(`the hub closed the socket waiting for ${what}`);
      return undefined;
    });
  try {
    await waitFor("the socket to open", timeoutMs, () => {
      if (socket.readyState > WebSocket.OPEN) throw new Error("the socket to the hub failed");
      return socket.readyState === WebSocket.OPEN ? true : undefined;
    });
    socket.send(JSON.stringify({ type: "hello", v: 1 }));
    const welcome = await next("welcome");
    socket.send(JSON.stringify({ type: "turn", rid: 1 }));
    const reply = (await next("the turn reply")) as HubIceServers["reply"];
    return { welcome, reply };
  } finally {
    socket.close(1000, "done");
  }
}

// --- Two RTCPeerConnections through TURN ---------------------------------------------------------------

export interface RelayCaseOptions {
  iceServers: RTCIceServer[];
  /** How long to wait for the echo before calling the case failed. */
  timeoutMs: number;
  message?: string;
}

export interface CandidateInfo {
  candidateType: string | null;
  protocol: string | null;
  address: string | null;
  port: number | null;
  relayProtocol?: string | null;
  url?: string | null;
}

export interface RelayCaseReport {
  /** The echo came back: data went both ways over the data channel. */
  connected: boolean;
  echo: string | null;
  elapsedMs: number;
  /** Candidates each side gathered (from onicecandidate). */
  gathered: { a: CandidateInfo[]; b: CandidateInfo[] };
  gatheringComplete: { a: boolean; b: boolean };
  /** icecandidateerror events: TURN refusals show up here (e.g. 401). */
  candidateErrors: { side: "a" | "b"; url: string; errorCode: number; errorText: string }[];
  iceState: { a: RTCIceConnectionState; b: RTCIceConnectionState };
  /** The transport's selected candidate pair on each side (getStats), null if none. */
  selected: {
    a: { local: CandidateInfo; remote: CandidateInfo } | null;
    b: { local: CandidateInfo; remote: CandidateInfo } | null;
  };
}

function candidateInfo(candidate: RTCIceCandidate): CandidateInfo {
  return {
    candidateType: candidate.type,
    protocol: candidate.protocol,
    address: candidate.address,
    port: candidate.port,
  };
}

function statsCandidate(stats: RTCStatsReport, id: string | undefined): CandidateInfo | null {
  if (id === undefined) return null;
  const entry = stats.get(id) as Record<string, unknown> | undefined;
  if (!entry) return null;
  const string = (key: string) => (typeof entry[key] === "string" ? entry[key] : null);
  return {
    candidateType: string("candidateType"),
    protocol: string("protocol"),
    address: string("address"),
    port: typeof entry["port"] === "number" ? entry["port"] : null,
    relayProtocol: string("relayProtocol"),
    url: string("url"),
  };
}

/** The candidate pair the ICE transport selected: transport.selectedCandidatePairId → its two candidates. */
async function selectedPair(pc: RTCPeerConnection): Promise<{ local: CandidateInfo; remote: CandidateInfo } | null> {
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((entry: Record<string, unknown>) => {
    if (entry["type"] === "transport" && typeof entry["selectedCandidatePairId"] === "string") {
      pairId = entry["selectedCandidatePairId"];
    }
  });
  if (pairId === undefined) return null;
  const pair = stats.get(pairId) as { localCandidateId?: string; remoteCandidateId?: string } | undefined;
  const local = statsCandidate(stats, pair?.localCandidateId);
  const remote = statsCandidate(stats, pair?.remoteCandidateId);
  return local && remote ? { local, remote } : null;
}

/**
 * Two RTCPeerConnections in this page, both `iceTransportPolicy: "relay"` with `iceServers`, negotiate
 * directly (no signaling server), open a data channel and echo `message`. Never rejects on a failed
 * connection: the report says what happened within `timeoutMs`.
 */
async function relayCase(options: RelayCaseOptions): Promise<RelayCaseReport> {
  const started = performance.now();
  const message = options.message ?? "hello through TURN";
  const config: RTCConfiguration = { iceServers: options.iceServers, iceTransportPolicy: "relay" };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const report: RelayCaseReport = {
    connected: false,
    echo: null,
    elapsedMs: 0,
    gathered: { a: [], b: [] },
    gatheringComplete: { a: false, b: false },
    candidateErrors: [],
    iceState: { a: "new", b: "new" },
    selected: { a: null, b: null },
  };
  const wire = (from: RTCPeerConnection, to: RTCPeerConnection, side: "a" | "b") => {
    from.addEventListener("icecandidate", (event: RTCPeerConnectionIceEvent) => {
      if (event.candidate) {
        report.gathered[side].push(candidateInfo(event.candidate));
        to.addIceCandidate(event.candidate).catch(() => undefined);
      } else {
        report.gatheringComplete[side] = true;
      }
    });
    from.addEventListener("icecandidateerror", (event: Event) => {
      const e = event as RTCPeerConnectionIceErrorEvent;
      report.candidateErrors.push({ side, url: e.url, errorCode: e.errorCode, errorText: e.errorText });
    });
  };
  wire(a, b, "a");
  wire(b, a, "b");
  b.addEventListener("datachannel", (event: RTCDataChannelEvent) => {
    const channel = event.channel;
    channel.addEventListener("message", (m: MessageEvent) => {
      channel.send(`echo: ${String(m.data)}`);
    });
  });
  const channel = a.createDataChannel("relay-case");
  channel.addEventListener("open", () => {
    channel.send(message);
  });
  channel.addEventListener("message", (m: MessageEvent) => {
    report.echo = String(m.data);
    report.connected = report.echo === `echo: ${message}`;
  });

  try {
    await a.setLocalDescription(await a.createOffer());
    if (!a.localDescription) throw new Error("no local offer");
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    if (!b.localDescription) throw new Error("no local answer");
    await a.setRemoteDescription(b.localDescription);
    await waitFor("the echo", options.timeoutMs, () => (report.echo !== null ? true : undefined)).catch(() => false);
    report.selected = { a: await selectedPair(a), b: await selectedPair(b) };
  } finally {
    report.iceState = { a: a.iceConnectionState, b: b.iceConnectionState };
    report.elapsedMs = Math.round(performance.now() - started);
    a.close();
    b.close();
  }
  return report;
}

// --- window.p2posWebrtc --------------------------------------------------------------------------------

const webrtc = {
  peerOpen,
  peerConnect,
  peerReconnect,
  peerSend,
  peerReceive,
  peerStatus,
  peerDestroy,
  hubIceServers,
  relayCase,
  /** Every WebSocket this page opened: what it received, how it closed. */
  sockets(): SocketRecord[] {
    return sockets;
  },
};

declare global {
  interface Window {
    p2posWebrtc: typeof webrtc;
  }
}

window.p2posWebrtc = webrtc;
const status = document.getElementById("status");
if (status) status.textContent = "ready";
