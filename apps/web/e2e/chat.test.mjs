// @ts-check
// Chat in three real Chromium contexts through a real hub (`p2pos signal`), with a recording
// proxy between the pages and the hub:
// - Ann, Ben and Cid share a public address and see each other under "On this network"; Ben
//   declines Cid, and Cid learned nothing (no sdp, no ice, no identity reached Cid's page).
// - Ann and Ben connect, prove their identities, chat with text and an image and receipts, reload
//   and find their history, and recognise each other on the network by tag.
// - Ann moves to another network and "Ping" still reaches Ben, by identity, through the hub.
// - A squatter replays Ben's nearby profile under its own hub id. Ann's "Connect here" on the
//   "Ben" it shows goes by identity and never reaches it; when it rings Ann as Ben, her page waits
//   for its proof before saying who she is, the proof fails, and it is flagged and refused. Ann
//   and Ben then meet through rendezvous (`rv:` names) under a test clock that crosses a slot
//   boundary.
// - Privacy: no message text, no image byte and no identity passes through the hub where it must not.
//
// The proxy plays the networks: each context carries a cookie naming its public address, which
// the proxy passes to the hub as X-Forwarded-For (the hub trusts the proxy, `--trusted-proxy`), so
// all three share one page origin (and Ann keeps her IndexedDB when she "moves"). It also records
// every WebSocket frame in both directions.
//
// `P2POS_WEB_DIST` chooses the built web app, `P2POS_BIN` the p2pos binary (support.mjs).
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import { DIST, launchBrowser, startHub, submitNewIdentity } from "./support.mjs";

const HOME = "198.51.100.7";
const ELSEWHERE = "203.0.113.9";
const PASSPHRASE = "a long and careful chat passphrase";
const SLOT_MS = 600_000;

// ---------------------------------------------------------------------------------------------
// A test image (PNG with noise, so it spans more than one 64 KiB chunk)
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(/** @type {Uint8Array} */ bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(/** @type {string} */ type, /** @type {Buffer} */ data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function testPng(/** @type {number} */ width, /** @type {number} */ height) {
  let seed = 4242;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) & 0xff;
  };
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set([noise(), 120, noise()], row + 1 + x * 3);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

const IMAGE = testPng(320, 240);

// ---------------------------------------------------------------------------------------------
// The recording proxy
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {{ conn: number, net: string, dir: "up" | "down", opcode: number, text: string, bytes: Buffer }} Frame
 */

/** The network a request comes from: the `net` cookie of its context. */
function networkOf(/** @type {http.IncomingMessage} */ req) {
  const cookie = req.headers.cookie ?? "";
  return /(?:^|;\s*)net=([0-9.]+)/.exec(cookie)?.[1] ?? HOME;
}

/** Reads WebSocket frames out of a byte stream (after `skipHttp`, the handshake's response). */
function frameReader(/** @type {(opcode: number, payload: Buffer) => void} */ onFrame, skipHttp = false) {
  let buffer = Buffer.alloc(0);
  let inHeaders = skipHttp;
  return (/** @type {Buffer} */ chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (inHeaders) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      buffer = buffer.subarray(end + 4);
      inHeaders = false;
    }
    for (;;) {
      if (buffer.length < 2) return;
      const opcode = (buffer[0] ?? 0) & 0x0f;
      const masked = ((buffer[1] ?? 0) & 0x80) !== 0;
      let length = (buffer[1] ?? 0) & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        at = 10;
      }
      const mask = masked ? buffer.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (buffer.length < at + length) return;
      const payload = Buffer.from(buffer.subarray(at, at + length));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      buffer = buffer.subarray(at + length);
      onFrame(opcode, payload);
    }
  };
}

/** An HTTP and WebSocket proxy in front of the hub that records every frame; see the file doc. */
async function startProxy(/** @type {number} */ hubPort) {
  /** @type {Frame[]} */
  const frames = [];
  let nextConn = 1;
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, "x-forwarded-for": networkOf(req) };
    const upstream = http.request(
      { host: "127.0.0.1", port: hubPort, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req, socket, head) => {
    const conn = nextConn++;
    const network = networkOf(req);
    const upstream = net.connect(hubPort, "127.0.0.1");
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] ?? "";
      // No compression, so the recorder reads what the hub reads.
      if (/^(sec-websocket-extensions|x-forwarded-for)$/i.test(name)) continue;
      lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
    }
    lines.push(`X-Forwarded-For: ${network}`);
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    const record = (/** @type {"up" | "down"} */ dir) => (/** @type {number} */ opcode, /** @type {Buffer} */ bytes) =>
      frames.push({ conn, net: network, dir, opcode, text: opcode === 1 ? bytes.toString("utf8") : "", bytes });
    const up = frameReader(record("up"));
    const down = frameReader(record("down"), true);
    socket.on("data", (chunk) => {
      up(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      down(chunk);
      socket.write(chunk);
    });
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = /** @type {net.AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    frames,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------------------------

/** @typedef {import("playwright-core").Page} Page */
/** @typedef {import("playwright-core").BrowserContext} BrowserContext */

const nearby = (/** @type {Page} */ page, /** @type {string} */ name) =>
  page.locator(`[data-testid="nearby-entry"][data-name="${name}"]`);
const contact = (/** @type {Page} */ page, /** @type {string} */ name) =>
  page.locator(`[data-testid="contact"][data-name="${name}"]`);

async function waitReady(/** @type {Page} */ page) {
  await page.locator('[data-testid="chat-main"][data-status="ready"]').waitFor({ timeout: 30_000 });
}

/** This page's identity id, from the store the app keeps it in. */
async function identityId(/** @type {Page} */ page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("p2pos");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const request = open.result.transaction("identity").objectStore("identity").get("current");
          request.onsuccess = () => resolve(request.result?.id);
          request.onerror = () => reject(request.error);
        };
      }),
  );
}

/**
 * With `CHAT_SCREENSHOTS=<dir>`, saves a screenshot of the page as `<dir>/chat-<name>.png` (the
 * images in docs/APPS.md come from here: `CHAT_SCREENSHOTS=../../docs/img`).
 */
async function shot(/** @type {Page} */ page, /** @type {string} */ name) {
  const dir = process.env.CHAT_SCREENSHOTS;
  if (!dir) return;
  await page.screenshot({ path: path.join(dir, `chat-${name}.png`), fullPage: true, animations: "disabled" });
}

/** The hub's log of this page (`?test-hooks`). */
async function hubLog(/** @type {Page} */ page) {
  return /** @type {Record<string, unknown>[]} */ (await page.evaluate(() => window.p2posChatTest?.hubLog() ?? []));
}

// ---------------------------------------------------------------------------------------------

describe("Chat: nearby, contacts, messages, moving, squatters and rendezvous", { timeout: 180_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startHub>>} */
  let hub;
  /** @type {Awaited<ReturnType<typeof startProxy>>} */
  let proxy;
  /** @type {import("playwright-core").Browser} */
  let browser;

  before(async () => {
    hub = await startHub(DIST, ["--trusted-proxy", "127.0.0.1"]);
    proxy = await startProxy(hub.port);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    proxy?.close();
    await hub?.stop();
  });

  /** A context on network `network`, its chat page open with the test hooks. */
  async function person(/** @type {string} */ label, network = HOME) {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    await context.addCookies([{ name: "net", value: network, url: proxy.url }]);
    const page = await context.newPage();
    page.on("pageerror", (error) => console.error(`[${label} page error]`, error));
    await page.goto(`${proxy.url}/chat?test-hooks`);
    return { context, page };
  }

  /** First visit: create the identity (the vault's form), then the chat name. */
  async function signUp(/** @type {Page} */ page, /** @type {string} */ name) {
    await submitNewIdentity(page, name, PASSPHRASE);
    const form = page.getByTestId("chat-name-form");
    await form.waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId("chat-name-input").inputValue(), name, "the vault name is offered");
    await page.getByTestId("chat-name-save").click();
    await waitReady(page);
  }

  async function moveTo(/** @type {BrowserContext} */ context, /** @type {string} */ network) {
    await context.clearCookies();
    await context.addCookies([{ name: "net", value: network, url: proxy.url }]);
  }

  test("the whole story", async () => {
    const ann = await person("ann");
    const ben = await person("ben");
    const cid = await person("cid");
    await Promise.all([signUp(ann.page, "Ann"), signUp(ben.page, "Ben"), signUp(cid.page, "Cid")]);
    const ids = {
      ann: String(await identityId(ann.page)),
      ben: String(await identityId(ben.page)),
      cid: String(await identityId(cid.page)),
    };

    // --- On this network: everyone sees the two others, as strangers.
    for (const [page, others] of [
      [ann.page, ["Ben", "Cid"]],
      [ben.page, ["Ann", "Cid"]],
      [cid.page, ["Ann", "Ben"]],
    ]) {
      for (const other of /** @type {string[]} */ (others)) await nearby(/** @type {Page} */ (page), other).waitFor();
    }

    await shot(ann.page, "nearby");

    // --- Ben declines Cid; Cid learned nothing.
    await nearby(cid.page, "Ben").getByTestId("connect").click();
    const request = ben.page.locator('[data-testid="request"][data-name="Cid"]');
    await request.waitFor();
    // Nor can Cid flood Ben: while one request of his waits, more are dropped unseen (eight here:
    // the hub itself throttles a connection beyond a burst of 20 messages).
    const floods = await cid.page.evaluate(
      (to) => {
        for (let i = 0; i < 8; i++) {
          const rq = `flood${String(i).padStart(2, "0")}`.padEnd(22, "A");
          window.p2posChatTest?.sendSignal(to ?? "", { p2pos: "chat", t: "request", name: `Cid ${i}`, rq });
        }
        return 8;
      },
      await nearby(cid.page, "Ben").getAttribute("data-peer"),
    );
    await ben.page.waitForFunction(
      (n) => (window.p2posChatTest?.hubLog() ?? []).filter((m) => JSON.stringify(m).includes("flood")).length === n,
      floods,
    );
    assert.equal(await ben.page.locator('[data-testid="request"]').count(), 1, "one waiting request per neighbour");
    // Cid breaks the rules: an offer and a candidate before Ben answered. Ben's page must not
    // take them (no answer, no candidate of Ben's goes back).
    await cid.page.evaluate(
      async (to) => {
        const hooks = window.p2posChatTest;
        const rq = hooks?.conns().find((c) => c.peer === to)?.rq;
        if (!hooks || !to || !rq) throw new Error("no request to Ben");
        const pc = new RTCPeerConnection();
        pc.createDataChannel("p2pos/chat");
        await pc.setLocalDescription(await pc.createOffer());
        const candidate = {
          candidate: "candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host",
          sdpMid: "0",
          sdpMLineIndex: 0,
        };
        hooks.sendSignal(to, {
          p2pos: "chat",
          t: "sdp",
          sdp: { type: "offer", sdp: pc.localDescription?.sdp ?? "" },
          rq,
        });
        hooks.sendSignal(to, { p2pos: "chat", t: "ice", c: [candidate], rq });
        pc.close();
      },
      await nearby(cid.page, "Ben").getAttribute("data-peer"),
    );
    await ben.page.waitForFunction(() =>
      (window.p2posChatTest?.hubLog() ?? []).some((m) => JSON.stringify(m).includes('"t":"ice"')),
    );
    // Give a page that wrongly took the offer the time to answer it, then look at what Cid got.
    await cid.page.waitForTimeout(1_000);
    assert.ok(
      !JSON.stringify(await hubLog(cid.page)).includes('"t":"sdp"'),
      "Ben's page answered an offer it was never allowed to take",
    );
    await request.getByTestId("decline").click();
    await cid.page.getByText("Ben declined.").waitFor();
    const cidLog = await hubLog(cid.page);
    const benPeer = await nearby(cid.page, "Ben").getAttribute("data-peer");
    const fromBen = cidLog.filter((m) => m["type"] === "signal" && m["from"] === benPeer);
    assert.deepEqual(
      fromBen.map((m) => /** @type {Record<string, unknown>} */ (m["payload"])["t"]),
      ["decline"],
      "all Cid got from Ben is the decline",
    );
    const cidText = JSON.stringify(cidLog);
    for (const [who, id] of [
      ["Ann", ids.ann],
      ["Ben", ids.ben],
    ]) {
      assert.ok(!cidText.includes(id), `${who}'s identity never reached Cid's page`);
    }
    assert.ok(!/"t":"(sdp|ice)"/.test(cidText) && !cidText.includes("a=candidate"), "no sdp or ice reached Cid");
    assert.ok(
      cidLog.every((m) => m["fromId"] === undefined),
      "no signal reached Cid with an identity",
    );
    // --- "Visible on this network" off: Cid watches without being listed, and comes back.
    await cid.page.getByTestId("chat-visible").uncheck();
    await nearby(ann.page, "Cid").waitFor({ state: "detached" });
    await nearby(ben.page, "Cid").waitFor({ state: "detached" });
    await cid.page.reload();
    await waitReady(cid.page);
    assert.equal(await cid.page.getByTestId("chat-visible").isChecked(), false, "the choice is kept");
    await nearby(cid.page, "Ann").waitFor();
    await nearby(cid.page, "Ben").waitFor();
    assert.equal(await nearby(ann.page, "Cid").count(), 0, "a hidden watcher is not listed");
    await cid.page.getByTestId("chat-visible").check();
    await nearby(ann.page, "Cid").waitFor();

    const acceptedAt = proxy.frames.length;
    const beforeAccept = proxy.frames.slice(0, acceptedAt);

    // --- Ann and Ben connect and prove their identities.
    await nearby(ann.page, "Ben").getByTestId("connect").click();
    await ben.page.locator('[data-testid="request"][data-name="Ann"]').waitFor();
    await shot(ben.page, "request");
    await ben.page.locator('[data-testid="request"][data-name="Ann"]').getByTestId("accept").click();
    await contact(ann.page, "Ben").and(ann.page.locator('[data-online="yes"]')).waitFor({ timeout: 30_000 });
    await contact(ben.page, "Ann").and(ben.page.locator('[data-online="yes"]')).waitFor({ timeout: 30_000 });
    assert.equal(await contact(ann.page, "Ben").getAttribute("data-id"), ids.ben, "Ann saved Ben's proven identity");
    assert.equal(await contact(ben.page, "Ann").getAttribute("data-id"), ids.ann, "Ben saved Ann's proven identity");

    // --- They chat: text, an image, receipts; the path is shown.
    await contact(ann.page, "Ben").getByTestId("open-chat").click();
    await contact(ben.page, "Ann").getByTestId("open-chat").click();
    const SECRET_TEXT = "Lunch at the blue door, noon?";
    await ann.page.getByTestId("composer").fill(SECRET_TEXT);
    await ann.page.getByTestId("send").click();
    await ben.page.locator('[data-testid="message"][data-from="them"]').getByText(SECRET_TEXT).waitFor();
    await ann.page.locator('[data-testid="message"][data-from="me"][data-status="read"]').waitFor({ timeout: 15_000 });
    await ben.page.getByTestId("image-input").setInputFiles({ name: "door.png", mimeType: "image/png", buffer: IMAGE });
    const shown = ann.page.locator('[data-testid="message"][data-from="them"] [data-testid="message-image"]');
    await shown.waitFor({ timeout: 20_000 });
    await ann.page.waitForFunction(() => {
      const img = document.querySelector('[data-testid="message-image"]');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 320;
    });
    await ben.page.locator('[data-testid="message"][data-from="me"][data-status="read"]').waitFor({ timeout: 15_000 });
    assert.equal(await ann.page.getByTestId("conv-path").getAttribute("data-path"), "direct");
    await shot(ann.page, "conversation");

    // --- Reload: the history is still there, and they find each other again by identity and by tag.
    await Promise.all([ann.page.reload(), ben.page.reload()]);
    await Promise.all([waitReady(ann.page), waitReady(ben.page)]);
    await contact(ann.page, "Ben").and(ann.page.locator('[data-online="yes"]')).waitFor({ timeout: 30_000 });
    await contact(ann.page, "Ben").getByTestId("contact-nearby").waitFor();
    assert.equal(await nearby(ann.page, "Ben").count(), 0, "a contact nearby is listed once, as the contact");
    await shot(ann.page, "contacts");
    // The history is searchable (it is decrypted in the page, never on the hub).
    await ann.page.getByTestId("chat-search").fill("BLUE door");
    await ann.page.getByTestId("chat-result").filter({ hasText: SECRET_TEXT }).waitFor();
    await ann.page.getByTestId("chat-search").fill("");
    await contact(ann.page, "Ben").getByTestId("open-chat").click();
    await ann.page.locator('[data-testid="message"][data-from="me"]').getByText(SECRET_TEXT).waitFor();
    await ann.page.locator('[data-testid="message"][data-from="them"] [data-testid="message-image"]').waitFor();
    await ann.page.getByTestId("back").click();

    // --- Ann moves to another network: nobody nearby there, and Ping still reaches Ben.
    await moveTo(ann.context, ELSEWHERE);
    await ann.page.goto(`${proxy.url}/chat?test-hooks&no-auto-call`);
    await waitReady(ann.page);
    await ann.page.getByTestId("nearby-empty").waitFor();
    await contact(ann.page, "Ben").and(ann.page.locator('[data-online="no"]')).waitFor();
    assert.equal(await contact(ann.page, "Ben").getAttribute("data-nearby"), "no");
    await contact(ann.page, "Ben").getByTestId("ping").click();
    await contact(ann.page, "Ben").and(ann.page.locator('[data-online="yes"]')).waitFor({ timeout: 30_000 });
    await contact(ben.page, "Ann").and(ben.page.locator('[data-online="yes"]')).waitFor({ timeout: 30_000 });

    // --- Rendezvous: both opt in for each other while connected.
    for (const [page, other] of /** @type {const} */ ([
      [ann.page, "Ben"],
      [ben.page, "Ann"],
    ])) {
      await contact(page, other).getByTestId("open-chat").click();
      // The box follows the stored choice: it ticks once the store has it.
      await page.getByTestId("rendezvous").click();
      await page.locator('[data-testid="rendezvous"]:checked').waitFor();
      await page.getByTestId("back").click();
      await page.locator(`[data-testid="contact"][data-name="${other}"][data-rv="connected"]`).waitFor();
    }

    // --- A squatter: Ben leaves; Cid replays Ben's nearby profile under its own hub id.
    const benProfile = await ben.page.evaluate(() => window.p2posChatTest?.me()?.profile);
    assert.ok(benProfile, "Ben's nearby profile");
    await ben.page.close();
    await cid.page.evaluate(async (profile) => {
      window.p2posChatTest?.squat(true);
      await window.p2posChatTest?.replayProfile(profile);
    }, benProfile);

    // Ann comes home, her clock 10 s before a rendezvous slot boundary.
    const boundary = (Math.floor(Date.now() / SLOT_MS) + 3) * SLOT_MS;
    await moveTo(ann.context, HOME);
    await ann.page.goto(`${proxy.url}/chat?test-hooks&no-auto-call&clock-at=${boundary - 10_000}`);
    await waitReady(ann.page);
    const before = await ann.page.evaluate(() => window.p2posChatTest?.rvJoined() ?? {});
    const namesBefore = before[ids.ben] ?? [];
    assert.equal(namesBefore.length, 3, "Ann waits for Ben in three rv: names");
    // The squatter's replayed tag makes it look like Ben, on this network. "Connect here" calls
    // Ben by identity: the hub routes it to Ben's proven connection (gone), never to the squatter.
    const claimed = ann.page.locator('[data-testid="contact"][data-name="Ben"][data-nearby="yes"]');
    await claimed.getByTestId("connect-nearby").click();
    await ann.page.waitForFunction(() => (window.p2posChatTest?.conns() ?? []).every((c) => c.phase === "closed"));
    assert.deepEqual(await cid.page.evaluate(() => window.p2posChatTest?.conns()), [], "the call never reached it");
    // The squatter rings Ann as Ben. Her page waits for the caller's proof before it says who
    // she is: the proof fails, and the squatter is flagged, blacklisted, and learned nothing.
    const annPeer = await ann.page.evaluate(() => window.p2posChatTest?.me()?.peer);
    assert.ok(annPeer, "Ann's nearby peer id");
    await cid.page.evaluate((peer) => window.p2posChatTest?.squatCall(peer), annPeer);
    await ann.page.locator('[data-testid="impostor"]').waitFor({ timeout: 20_000 });
    const cidHeard = await cid.page.evaluate(() => window.p2posChatTest?.hubLog() ?? []);
    assert.ok(!JSON.stringify(cidHeard).includes(ids.ann), "no identity of Ann reached the squatter's page");
    // Had Ann's hello reached it, the squatter's own session would have checked it (and failed).
    const squatting = await cid.page.evaluate(() => window.p2posChatTest?.conns() ?? []);
    assert.ok(squatting.length === 1 && squatting[0].phase !== "squatter", JSON.stringify(squatting));
    assert.match((await ann.page.getByTestId("impostor").textContent()) ?? "", /claimed to be Ben.*wrong identity/s);
    await ann.page
      .locator('[data-testid="contact"][data-name="Ben"][data-rv="recovering"][data-online="no"]')
      .waitFor();
    assert.equal(
      await contact(ann.page, "Ben").getAttribute("data-nearby"),
      "no",
      "the impostor is no longer taken for Ben",
    );
    assert.ok((await ann.page.evaluate(() => window.p2posChatTest?.now() ?? 0)) < boundary, "all before the boundary");

    // Ann writes to Ben while he is away: the message waits in her outbox.
    const QUEUED_TEXT = "Are you there? Someone here says they are you.";
    await contact(ann.page, "Ben").getByTestId("open-chat").click();
    await ann.page.locator('[data-testid="conv-status"][data-online="no"]').waitFor();
    await ann.page.getByTestId("composer").fill(QUEUED_TEXT);
    await ann.page.getByTestId("send").click();
    const queued = ann.page.locator('[data-testid="message"][data-from="me"]').filter({ hasText: QUEUED_TEXT });
    assert.equal(await queued.getAttribute("data-status"), "queued");
    await ann.page.getByTestId("back").click();

    // The slot boundary passes on Ann's clock: her rv: names roll over.
    await ann.page.waitForFunction(
      ({ id, old }) => {
        const names = window.p2posChatTest?.rvJoined()[id] ?? [];
        return names.length === 3 && names.some((n) => !old.includes(n));
      },
      { id: ids.ben, old: namesBefore },
      { timeout: 20_000 },
    );
    const namesAfter = (await ann.page.evaluate(() => window.p2posChatTest?.rvJoined() ?? {}))[ids.ben] ?? [];
    assert.equal(namesAfter.filter((n) => namesBefore.includes(n)).length, 2, "two names overlap across the boundary");

    // Ben comes back after the boundary (his clock with Ann's), calls nobody by identity, and
    // finds Ann in a rendezvous name.
    const benNow = await ann.page.evaluate(() => window.p2posChatTest?.now() ?? 0);
    assert.ok(benNow >= boundary);
    const benAgain = await ben.context.newPage();
    benAgain.on("pageerror", (error) => console.error("[ben page error]", error));
    await benAgain.goto(`${proxy.url}/chat?test-hooks&no-auto-call&clock-at=${benNow}`);
    await waitReady(benAgain);
    await ann.page
      .locator('[data-testid="contact"][data-name="Ben"][data-online="yes"][data-via="rv"]')
      .waitFor({ timeout: 30_000 });
    await benAgain
      .locator('[data-testid="contact"][data-name="Ann"][data-online="yes"][data-via="rv"]')
      .waitFor({ timeout: 30_000 });
    await ann.page.locator('[data-testid="contact"][data-name="Ben"][data-rv="connected"]').waitFor();
    // The outbox went out once they met.
    await benAgain.locator('[data-testid="contact"][data-name="Ann"]').getByTestId("open-chat").click();
    await benAgain.locator('[data-testid="message"][data-from="them"]').getByText(QUEUED_TEXT).waitFor();
    await contact(ann.page, "Ben").getByTestId("open-chat").click();
    await ann.page
      .locator('[data-testid="message"][data-from="me"][data-status="read"]')
      .filter({ hasText: QUEUED_TEXT })
      .waitFor({ timeout: 15_000 });
    // Delete one message here, and Ben deletes the whole chat there; both stay deleted.
    const mine = ann.page.locator('[data-testid="message"]').filter({ hasText: QUEUED_TEXT });
    await mine.getByTestId("delete-message").click();
    await mine.waitFor({ state: "detached" });
    benAgain.once("dialog", (dialog) => void dialog.accept());
    await benAgain.getByTestId("delete-chat").click();
    await benAgain.locator('[data-testid="message"]').first().waitFor({ state: "detached" });
    await Promise.all([ann.page.reload(), benAgain.reload()]);
    await Promise.all([waitReady(ann.page), waitReady(benAgain)]);
    await contact(ann.page, "Ben").getByTestId("open-chat").click();
    await ann.page.locator('[data-testid="message"]').getByText(SECRET_TEXT).waitFor();
    assert.equal(await ann.page.locator('[data-testid="message"]').filter({ hasText: QUEUED_TEXT }).count(), 0);
    await benAgain.locator('[data-testid="contact"][data-name="Ann"]').getByTestId("open-chat").click();
    await benAgain.getByTestId("messages").getByText("No messages yet.").waitFor();

    // --- Privacy: what the hub saw.
    const all = proxy.frames;
    const image = IMAGE.subarray(1000, 1032);
    for (const frame of all) {
      assert.ok(!frame.text.includes(SECRET_TEXT), "no message text passed through the hub");
      assert.ok(!frame.text.includes(QUEUED_TEXT), "no queued message passed through the hub");
      assert.ok(!frame.bytes.includes(image), "no image byte passed through the hub");
    }
    // Before acceptance, no identity but the connection's own (its auth) passed through the hub.
    for (const frame of beforeAccept) {
      for (const id of Object.values(ids)) {
        if (!frame.text.includes(id)) continue;
        // Only a connection's own login names it; no contact list, no signal, no presence does.
        const { type } = JSON.parse(frame.text);
        assert.ok(type === "auth" || type === "authed", `an identity in ${frame.text.slice(0, 200)}`);
      }
    }
    // In `network` (the anonymous connections) no identity ever passes, either way.
    const anonConns = new Set(all.filter((f) => f.dir === "up" && f.text.includes('"app":"chat"')).map((f) => f.conn));
    assert.ok(anonConns.size >= 3, "the anonymous connections were recorded");
    for (const frame of all.filter((f) => anonConns.has(f.conn))) {
      for (const id of Object.values(ids))
        assert.ok(!frame.text.includes(id), `an identity on an anonymous connection: ${frame.text.slice(0, 200)}`);
    }
  });
});
