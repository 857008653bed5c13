// @ts-check
// Plumbing for the WebRTC browser tests: the harness page that bundles peerjs (dist-harness/webrtc.html),
// free loopback ports, a real coturn, TURN REST credentials, and the relay case every TURN server must pass.
import { createHmac, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import path from "node:path";
import { DIST_HARNESS, P2POS_BIN, runCli, spawnTracked, startHub, tempDir } from "./support.mjs";

/** @typedef {import("playwright-core").Browser} Browser */
/** @typedef {import("playwright-core").Page} Page */
/** @typedef {import("./support.mjs").Exit} Exit */
/**
 * A TURN server under test (`TURN_BACKENDS`), started for one shared secret.
 * @typedef {object} TurnServer
 * @property {string} turnUrl the `turn:` URL the hub must hand out
 * @property {string[]} hubArgs flags for `p2pos signal`
 * @property {[number, number] | null} relayPorts
 * @property {() => string} output
 * @property {() => Promise<void>} stop
 */
/**
 * @typedef {object} TurnBackend
 * @property {string} name
 * @property {number} authRefusalCode
 * @property {() => Promise<true | string>} available
 * @property {(secret: string) => Promise<TurnServer>} start
 */

export const TURN_BINARY = process.env.TURNSERVER_PATH ?? "turnserver";

/**
 * A fresh context (own cookies, storage, WebSockets) with the WebRTC harness page loaded from `hubUrl`.
 * @param {Browser} browser
 * @param {string} hubUrl
 */
export async function openWebrtcPage(browser, hubUrl) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("[webrtc page error]", error));
  await page.goto(`${hubUrl}/webrtc.html`);
  await page.waitForFunction(() => window.p2posWebrtc !== undefined, null, { timeout: 30_000 });
  return { context, page };
}

/**
 * Start the hub serving dist-harness/ (so pages come from its origin) with extra flags.
 * @param {string[]} [extraArgs]
 */
export function startHarnessHub(extraArgs = []) {
  return startHub(DIST_HARNESS, extraArgs);
}

// --- Ports -----------------------------------------------------------------------------------------------

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function udpBindable(port) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function tcpBindable(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port the kernel just gave out for UDP and that is also free for TCP.
 * @returns {Promise<number>}
 */
export async function freeUdpTcpPort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const socket = dgram.createSocket("udp4");
    await /** @type {Promise<void>} */ (new Promise((resolve) => socket.bind(0, "127.0.0.1", resolve)));
    const { port } = socket.address();
    await /** @type {Promise<void>} */ (new Promise((resolve) => socket.close(resolve)));
    if (await tcpBindable(port)) return port;
  }
  throw new Error("no free UDP+TCP loopback port found");
}

/**
 * `count` consecutive UDP ports free on loopback, away from the ephemeral range; [min, max].
 * @param {number} count
 * @returns {Promise<[number, number]>}
 */
export async function freeUdpRange(count) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 20_000 + Math.floor(Math.random() * 10_000);
    let ok = true;
    for (let port = min; port < min + count && ok; port++) ok = await udpBindable(port);
    if (ok) return [min, min + count - 1];
  }
  throw new Error(`no ${count} consecutive free UDP ports found`);
}

// --- TURN ------------------------------------------------------------------------------------------------

/** A random shared secret (64 characters, well over the hub's 32-byte minimum). */
export function newTurnSecret() {
  return randomBytes(48).toString("base64url");
}

/**
 * TURN REST credentials (coturn's use-auth-secret): password = base64(HMAC-SHA1(secret, username)).
 * @param {string} secret
 * @param {string} username
 */
export function turnRestCredential(secret, username) {
  return createHmac("sha1", secret).update(username).digest("base64");
}

/**
 * Resolves once a STUN Binding request to 127.0.0.1:port gets a Binding success response.
 * @param {number} port
 * @param {number} timeoutMs
 * @param {() => boolean} isDead
 * @returns {Promise<void>}
 */
async function waitForStun(port, timeoutMs, isDead) {
  const socket = dgram.createSocket("udp4");
  const transaction = randomBytes(12);
  const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), transaction]);
  try {
    return await /** @type {Promise<void>} */ (
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        socket.on("message", (response) => {
          if (
            response.length >= 20 &&
            response.readUInt16BE(0) === 0x0101 &&
            response.subarray(8, 20).equals(transaction)
          ) {
            resolve();
          }
        });
        socket.on("error", () => {});
        const tick = () => {
          if (isDead()) return reject(new Error("exited before answering STUN"));
          if (Date.now() > deadline) return reject(new Error(`no STUN answer on 127.0.0.1:${port} in ${timeoutMs} ms`));
          socket.send(request, port, "127.0.0.1");
          timer = setTimeout(tick, 100);
        };
        let timer = setTimeout(tick, 0);
        socket.once("close", () => clearTimeout(timer));
      })
    );
  } finally {
    socket.close();
  }
}

/**
 * Real coturn on loopback with REST credentials (`--use-auth-secret`), on free ports, relaying to loopback
 * peers unless `allowLoopbackPeers` is false; resolves to
 * { port, turnUrl, stunUrl, relayPorts, output, stop }. Ready once it answers a STUN Binding request.
 * @param {string} secret
 * @param {{ allowLoopbackPeers?: boolean }} [options]
 */
export async function startCoturn(secret, { allowLoopbackPeers = true } = {}) {
  const port = await freeUdpTcpPort();
  const [minPort, maxPort] = await freeUdpRange(16);
  const temp = await tempDir("coturn");
  const proc = spawnTracked(TURN_BINARY, [
    "-n", // no configuration file: only these flags
    "--listening-ip=127.0.0.1",
    "--relay-ip=127.0.0.1",
    `--listening-port=${port}`,
    `--min-port=${minPort}`,
    `--max-port=${maxPort}`,
    "--use-auth-secret",
    `--static-auth-secret=${secret}`,
    "--realm=test.local",
    "--fingerprint",
    "--no-tls",
    "--no-dtls",
    "--no-cli",
    // Both test peers relay through 127.0.0.1, so each one's peer is a loopback address. (coturn
    // refuses --allow-loopback-peers with an empty CLI password.)
    ...(allowLoopbackPeers ? ["--allow-loopback-peers", "--cli-password=unused"] : []),
    "--log-file=stdout",
    "--simple-log",
    `--pidfile=${path.join(temp.dir, "turnserver.pid")}`,
    `--userdb=${path.join(temp.dir, "turndb")}`,
  ]);
  const stop = async () => {
    await proc.stop();
    await temp.cleanup();
  };
  /** @type {Exit | null} */
  let exit = null;
  void proc.exited.then((result) => (exit = result));
  try {
    await waitForStun(port, 15_000, () => exit !== null);
  } catch (error) {
    await stop();
    const hint =
      /** @type {Exit | null} */ (exit)?.error?.code === "ENOENT"
        ? `${TURN_BINARY} not found: apt-get install coturn, or set TURNSERVER_PATH`
        : `exit ${JSON.stringify(exit)}`;
    throw new Error(`coturn did not start: ${/** @type {Error} */ (error).message} (${hint})\n${proc.output()}`, {
      cause: error,
    });
  }
  return {
    port,
    relayPorts: /** @type {[number, number]} */ ([minPort, maxPort]),
    turnUrl: `turn:127.0.0.1:${port}?transport=udp`,
    stunUrl: `stun:127.0.0.1:${port}`,
    output: proc.output,
    stop,
  };
}

/**
 * The TURN servers e2e/turn-relay.test.mjs runs its cases against, each in its own suite.
 * `available()` resolves to true or to the reason to skip; `authRefusalCode` is the STUN error a bad
 * credential gets; `start(secret)` resolves to
 * { turnUrl, hubArgs, relayPorts: [min, max] | null, output, stop }: the hub is started with `hubArgs` and
 * must hand out `turnUrl` with credentials for `secret`.
 * @type {{ coturn: TurnBackend, embedded: TurnBackend }}
 */
export const TURN_BACKENDS = {
  /** coturn, a separate process sharing the hub's secret. */
  coturn: {
    name: "coturn",
    /** The STUN error code an Allocate with bad credentials gets (RFC 5389 §10.2.2: 401 Unauthorized). */
    authRefusalCode: 401,
    async available() {
      return true;
    },
    async start(secret) {
      const coturn = await startCoturn(secret);
      return {
        turnUrl: coturn.turnUrl,
        hubArgs: ["--turn-secret", secret, "--turn-url", coturn.turnUrl, "--stun-url", coturn.stunUrl],
        output: coturn.output,
        relayPorts: coturn.relayPorts,
        stop: coturn.stop,
      };
    },
  },
  /**
   * The hub's own STUN/TURN server (`p2pos signal --embedded-turn UDP_ADDR`), which advertises its
   * `turn:`/`stun:` URLs itself. Runs only if `p2pos signal --help` lists `--embedded-turn`; otherwise
   * the suite is reported as skipped.
   */
  embedded: {
    name: "the hub's embedded TURN server",
    // The `turn` crate (0.17.2) answers an unknown user or a wrong MESSAGE-INTEGRITY with 400 Bad Request,
    // where RFC 5389 §10.2.2 (and coturn) say 401. Browsers give up either way, so the hub keeps it.
    authRefusalCode: 400,
    async available() {
      const help = await runCli(["signal", "--help"]);
      return help.code === 0 && help.stdout.includes("--embedded-turn")
        ? true
        : `${P2POS_BIN} signal has no --embedded-turn flag`;
    },
    async start(secret) {
      const port = await freeUdpTcpPort();
      const [minPort, maxPort] = await freeUdpRange(16);
      return {
        turnUrl: `turn:127.0.0.1:${port}?transport=udp`,
        hubArgs: [
          "--turn-secret",
          secret,
          "--embedded-turn",
          `127.0.0.1:${port}`,
          "--turn-min-port",
          String(minPort),
          "--turn-max-port",
          String(maxPort),
          // Both peers are on loopback; by default the embedded server relays to public
          // addresses only (see is_public in crates/p2pos-signal/src/embedded_turn.rs).
          "--turn-allow-private-peers",
        ],
        relayPorts: [minPort, maxPort],
        // The server runs inside the hub: its output is the hub's.
        output: () => "",
        stop: async () => {},
      };
    },
  },
};

// --- The relay case ----------------------------------------------------------------------------------------

/**
 * Two RTCPeerConnections in `page` (the WebRTC harness), both `iceTransportPolicy: "relay"` with
 * `iceServers`, open a data channel and echo a message. Resolves to the page's report:
 * { connected, echo, elapsedMs, gathered: {a, b}, gatheringComplete, candidateErrors, iceState,
 *   selected: {a: {local, remote} | null, b} }. Runs against any TURN server: coturn, or the hub's own.
 * @param {Page} page
 * @param {{ iceServers: RTCIceServer[], timeoutMs?: number, message?: string }} options
 */
export async function runRelayCase(page, { iceServers, timeoutMs = 8_000, message }) {
  return page.evaluate((options) => window.p2posWebrtc.relayCase(options), { iceServers, timeoutMs, message });
}

/**
 * Ask the hub for ICE servers over its native `/v1/ws` from `page`; { welcome, reply }.
 * @param {Page} page
 * @param {string} hubUrl
 */
export async function hubIceServers(page, hubUrl) {
  const wsUrl = `${hubUrl.replace(/^http/, "ws")}/v1/ws`;
  return page.evaluate((url) => window.p2posWebrtc.hubIceServers(url), wsUrl);
}
