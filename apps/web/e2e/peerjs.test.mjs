// @ts-check
// The real npm `peerjs` client (bundled in dist-harness/webrtc.html) against the hub's PeerJS-compatible
// endpoint: two browsers open a DataConnection and talk both ways; a third claiming a taken id gets
// `unavailable-id` (the server's ID-TAKEN) and does not disturb the owner; a Peer without an id gets one
// from GET /peerjs/id and can use it. A PeerJS app is a static page on its own origin, so the last test
// serves the same page from a second loopback port (another origin) and needs the hub's CORS on
// GET /peerjs/id, as the `peer` server has it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { DIST_HARNESS, launchBrowser } from "./support.mjs";
import { openWebrtcPage, startHarnessHub } from "./webrtc-support.mjs";

/** What GET /peerjs/id hands out: 20 characters of lowercase base32. */
const SERVER_ID = /^[a-z2-7]{20}$/;

let hub;
let browser;
let server;
/** A plain static server for dist-harness/ on another port: the PeerJS app's own origin. */
let appServer;
let appUrl = "";

/** Serves DIST_HARNESS on a free loopback port; no CORS headers of its own. */
async function startAppServer() {
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };
  const httpServer = http.createServer(async (request, response) => {
    const name = new URL(request.url ?? "/", "http://x").pathname.replace(/^\/+/, "") || "webrtc.html";
    const file = path.join(DIST_HARNESS, path.normalize(name));
    if (!file.startsWith(DIST_HARNESS + path.sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      const type = types[/** @type {keyof typeof types} */ (path.extname(file))] ?? "application/octet-stream";
      response.writeHead(200, { "content-type": type }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await /** @type {Promise<void>} */ (new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve)));
  const address = httpServer.address();
  if (address === null || typeof address === "string") throw new Error("the app server has no port");
  return { httpServer, url: `http://127.0.0.1:${address.port}` };
}

before(async () => {
  hub = await startHarnessHub();
  server = { host: "127.0.0.1", port: hub.port, path: "/", key: "peerjs" };
  browser = await launchBrowser();
  ({ httpServer: appServer, url: appUrl } = await startAppServer());
});

after(async () => {
  await browser?.close();
  appServer?.close();
  await hub?.stop();
});

/** A browser context with its own Peer; `call(name, ...args)` runs window.p2posWebrtc[name] in it. */
async function newPeerPage(pageUrl = hub.url) {
  const { page } = await openWebrtcPage(browser, pageUrl);
  const call = (name, ...args) => page.evaluate(([n, a]) => window.p2posWebrtc[n](...a), [name, args]);
  return { page, call };
}

/** The PeerJS server frames one page's sockets received, parsed; and how each socket closed. */
async function peerjsSockets(call) {
  const sockets = (await call("sockets")).filter((s) => new URL(s.url).pathname === "/peerjs");
  return sockets.map((s) => ({ ...s, received: s.received.map((text) => JSON.parse(text)) }));
}

function diagnosed(body) {
  return async () => {
    try {
      await body();
    } catch (error) {
      /** @type {Error} */ (error).message += `\n--- hub output\n${hub?.output()}`;
      throw error;
    }
  };
}

test(
  "GET /peerjs/id hands out fresh ids; an unknown key gets none",
  diagnosed(async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${hub.url}/peerjs/id`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
      ids.push(await response.text());
    }
    for (const id of ids) assert.match(id, SERVER_ID);
    assert.equal(new Set(ids).size, ids.length, "every id is new");

    // Only the configured key has PeerJS routes; other paths belong to the web app (here its
    // single-page fallback), so an unknown key gets no id.
    const wrongKey = await fetch(`${hub.url}/not-the-key/id`);
    assert.doesNotMatch(await wrongKey.text(), SERVER_ID, "an unknown key gets no id");
    assert.doesNotMatch(wrongKey.headers.get("content-type") ?? "", /^text\/plain/);
  }),
);

const suffix = randomBytes(4).toString("hex");
const aliceId = `alice-${suffix}`;
const bobId = `bob-${suffix}`;
/** Pages (separate browser contexts), each with one Peer; the tests below run in order. */
let alice;
let bob;

test(
  "two browsers open Peers with ids of their choosing and talk both ways over a DataConnection",
  diagnosed(async () => {
    alice = await newPeerPage();
    bob = await newPeerPage();
    assert.deepEqual(await alice.call("peerOpen", server, aliceId), { id: aliceId });
    assert.deepEqual(await bob.call("peerOpen", server, bobId), { id: bobId });
    const [aliceSocket] = await peerjsSockets(alice.call);
    const socketUrl = new URL(aliceSocket.url);
    assert.equal(socketUrl.origin, hub.url.replace(/^http/, "ws"));
    assert.equal(socketUrl.searchParams.get("key"), "peerjs");
    assert.equal(socketUrl.searchParams.get("id"), aliceId);
    assert.ok(socketUrl.searchParams.get("token"), "the client sends its token");
    assert.deepEqual(aliceSocket.received[0], { type: "OPEN" }, "the hub's first frame is OPEN");

    // PeerJS's default binary serialization; above 16 KB it chunks.
    assert.deepEqual(await bob.call("peerConnect", aliceId), { open: true });
    const hello = { text: "hi Alice, the summer album is up", photos: [1, 2, 3] };
    await bob.call("peerSend", aliceId, hello);
    assert.deepEqual(await alice.call("peerReceive", bobId), hello, "alice got bob's message");
    const big = "🌳".repeat(20_000); // 80 KB of UTF-8: several PeerJS chunks
    await alice.call("peerSend", bobId, { reply: "thanks Bob", big });
    assert.deepEqual(await bob.call("peerReceive", aliceId), { reply: "thanks Bob", big }, "bob got alice's reply");
  }),
);

test(
  "a third browser claiming a taken id gets unavailable-id (ID-TAKEN); the owner is undisturbed",
  diagnosed(async () => {
    assert.ok(alice && bob, "the previous test opened alice and bob");
    const mallory = await newPeerPage();
    const refused = await mallory.call("peerOpen", server, aliceId);
    assert.deepEqual(refused, { error: { type: "unavailable-id", message: `ID "${aliceId}" is taken` } });
    const [mallorySocket] = await peerjsSockets(mallory.call);
    assert.deepEqual(
      mallorySocket.received,
      [{ type: "ID-TAKEN", payload: { msg: "ID is taken" } }],
      "the hub sent ID-TAKEN and nothing else",
    );
    console.log(`taken id: the socket closed with ${JSON.stringify(mallorySocket.closed)}`);
    assert.equal((await mallory.call("peerStatus")).destroyed, true, "PeerJS gives up on a taken id");

    const aliceStatus = await alice.call("peerStatus");
    assert.equal(aliceStatus.open, true);
    assert.deepEqual(aliceStatus.errors, []);
    await bob.call("peerSend", aliceId, "still there?");
    assert.equal(await alice.call("peerReceive", bobId), "still there?");
    await alice.call("peerSend", bobId, "yes");
    assert.equal(await bob.call("peerReceive", aliceId), "yes");
  }),
);

test(
  "after disconnect() and reconnect() a Peer keeps its id and can be reached again",
  diagnosed(async () => {
    assert.ok(alice, "alice is open");
    assert.deepEqual(await alice.call("peerReconnect"), { id: aliceId });
    const sockets = await peerjsSockets(alice.call);
    assert.equal(sockets.length, 2, "a second socket");
    assert.deepEqual(sockets[1].received[0], { type: "OPEN" }, "the hub says OPEN to the reconnected socket");
    console.log(`reconnect: the first socket closed with ${JSON.stringify(sockets[0].closed)}`);
  }),
);

test(
  "a Peer without an id gets one from GET /peerjs/id and connects with it",
  diagnosed(async () => {
    assert.ok(alice, "alice is open");
    const anon = await newPeerPage();
    const opened = await anon.call("peerOpen", server, null);
    assert.ok("id" in opened, `an id-less Peer opens: ${JSON.stringify(opened)}`);
    assert.match(opened.id, SERVER_ID, "the id comes from the hub");
    const [anonSocket] = await peerjsSockets(anon.call);
    assert.equal(new URL(anonSocket.url).searchParams.get("id"), opened.id, "the socket uses the fetched id");
    // Signalled through alice's new socket (after the reconnect above).
    assert.deepEqual(await anon.call("peerConnect", aliceId), { open: true });
    await anon.call("peerSend", aliceId, { from: "anon" });
    assert.deepEqual(await alice.call("peerReceive", opened.id), { from: "anon" });
    await alice.call("peerSend", opened.id, { to: "anon" });
    assert.deepEqual(await anon.call("peerReceive", aliceId), { to: "anon" });
  }),
);

test(
  "connecting to an id nobody holds ends in peer-unavailable (the hub's EXPIRE) within seconds",
  diagnosed(async () => {
    assert.ok(bob, "bob is open");
    const ghost = `ghost-${suffix}`;
    const started = Date.now();
    const result = await bob.call("peerConnect", ghost, 20_000);
    const elapsed = Date.now() - started;
    assert.deepEqual(result, { error: { type: "peer-unavailable", message: `Could not connect to peer ${ghost}` } });
    const expires = (await peerjsSockets(bob.call)).flatMap((s) => s.received).filter((m) => m.type === "EXPIRE");
    assert.deepEqual(expires, [{ type: "EXPIRE", src: ghost, dst: bobId }], "one EXPIRE, from the absent id");
    assert.ok(elapsed < 15_000, `EXPIRE came after ${elapsed} ms`);
    console.log(`absent peer: EXPIRE after ${elapsed} ms`);
    assert.equal((await bob.call("peerStatus")).open, true, "peer-unavailable is not fatal to the Peer");
  }),
);

test(
  "a Peer with the wrong key gets server-error (the hub's ERROR) and nothing else",
  diagnosed(async () => {
    const stranger = await newPeerPage();
    const refused = await stranger.call("peerOpen", { ...server, key: "not-the-key" }, `stranger-${suffix}`);
    assert.deepEqual(refused, { error: { type: "server-error", message: "Invalid key provided" } });
    const [socket] = await peerjsSockets(stranger.call);
    assert.deepEqual(socket.received, [{ type: "ERROR", payload: { msg: "Invalid key provided" } }]);
    console.log(`wrong key: the socket closed with ${JSON.stringify(socket.closed)}`);
  }),
);

test(
  "a PeerJS app on another origin gets an id from GET /peerjs/id (CORS) and talks, with and without a chosen id",
  diagnosed(async () => {
    assert.notEqual(new URL(appUrl).origin, new URL(hub.url).origin, "the page is on another origin");
    const chosen = await newPeerPage(appUrl);
    assert.equal(await chosen.page.evaluate(() => location.origin), appUrl);
    const chosenId = `crossorigin-${suffix}`;
    assert.deepEqual(await chosen.call("peerOpen", server, chosenId), { id: chosenId });

    const anon = await newPeerPage(appUrl);
    const opened = await anon.call("peerOpen", server, null);
    assert.ok("id" in opened, `an id-less Peer on another origin opens: ${JSON.stringify(opened)}`);
    assert.match(opened.id, SERVER_ID, "the id comes from the hub");

    assert.deepEqual(await anon.call("peerConnect", chosenId), { open: true });
    await anon.call("peerSend", chosenId, { hello: "from another origin" });
    assert.deepEqual(await chosen.call("peerReceive", opened.id), { hello: "from another origin" });
    await chosen.call("peerSend", opened.id, "and back");
    assert.equal(await anon.call("peerReceive", chosenId), "and back");

    // What the browser checked: the hub reflects the page's origin and says the answer varies by it.
    for (const route of ["/peerjs/id", "/peerjs/peers"]) {
      const response = await fetch(`${hub.url}${route}`, { headers: { origin: appUrl } });
      assert.equal(response.headers.get("access-control-allow-origin"), appUrl, route);
      assert.match(response.headers.get("vary") ?? "", /origin/i, route);
      await response.body?.cancel();
    }
  }),
);
