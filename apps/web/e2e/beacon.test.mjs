// @ts-check
// The hub's beacon (docs/PROTOCOL.md, "Beacon"), seen from real pages in Chromium: joining the
// `network` namespace or an `rv:` name needs a token that the hub hands only to its own pages
// (`GET /v1/beacon`, no CORS) and that is good for two 10-minute slots. A page of the hub joins;
// a page on another origin can neither read a token nor use one copied to it; a stale or forged
// token is refused with close code 4012 and a reason that says which. Spam mitigation, not DRM.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";

import { DIST, launchBrowser, newPage, startHub } from "./support.mjs";

/** The hub's beacon key: known to the test, so it can make tokens of any slot. */
const SECRET = "beacon-e2e-secret-0123456789abcdef0123456789";
const SLOT_SECS = 600;

/** @type {import("./support.mjs").P2posHub} */
let hub;
/** @type {import("playwright-core").Browser} */
let browser;
/** @type {http.Server} */
let foreignServer;
let foreignUrl = "";
let wsUrl = "";

/**
 * A token as the hub makes it (crates/p2pos-signal/src/beacon.rs): `b1.<slot>.<b64u(HMAC[..16])>`.
 * @param {number} slot
 * @param {string} origin
 * @param {string} [key]
 */
function tokenFor(slot, origin, key = SECRET) {
  const mac = createHmac("sha256", key).update(`p2pos-beacon-v1|${slot}|${origin}`).digest().subarray(0, 16);
  return `b1.${slot}.${mac.toString("base64url")}`;
}

const currentSlot = () => Math.floor(Date.now() / 1000 / SLOT_SECS);

/**
 * In the page: a native hub connection that says hello, then joins `ns` with `beacon` (left out
 * when undefined). Resolves to what happened: joined, an error reply, or the close.
 * @param {{ wsUrl: string, ns: string, beacon: string | undefined }} args
 * @returns {Promise<{ joined?: string, error?: string, code?: number, reason?: string }>}
 */
function joinInPage({ wsUrl, ns, beacon }) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    ws.onopen = () => ws.send(JSON.stringify({ type: "hello", v: 1 }));
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type === "welcome") ws.send(JSON.stringify({ type: "join", ns, beacon }));
      else if (message.type === "joined") {
        resolve({ joined: message.ns });
        ws.close();
      } else if (message.type === "error") resolve({ error: message.code });
    };
    ws.onclose = (event) => resolve({ code: event.code, reason: event.reason });
  });
}

before(async () => {
  hub = await startHub(DIST, ["--beacon-secret", SECRET]);
  if (hub.wsUrl === undefined) throw new Error("the hub printed no native WebSocket URL");
  wsUrl = hub.wsUrl;
  browser = await launchBrowser();
  foreignServer = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>another site</title>");
  });
  await /** @type {Promise<void>} */ (new Promise((resolve) => foreignServer.listen(0, "127.0.0.1", resolve)));
  const address = foreignServer.address();
  if (address === null || typeof address === "string") throw new Error("the foreign server has no port");
  foreignUrl = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await browser?.close();
  foreignServer?.close();
  await hub?.stop();
});

test("a page of the hub gets a beacon token and joins network and an rv: name with it", async () => {
  const context = await browser.newContext();
  const page = await newPage(context, `${hub.url}/drop`, "hub page");
  const beacon = await page.evaluate(async () => (await (await fetch("/v1/beacon")).json()).token);
  assert.match(beacon, /^b1\.\d+\.[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(await page.evaluate(joinInPage, { wsUrl, ns: "network", beacon }), { joined: "network" });
  assert.deepEqual(await page.evaluate(joinInPage, { wsUrl, ns: "rv:e2e-name", beacon }), { joined: "rv:e2e-name" });
  // Without a token: refused, and the reason says what to do.
  const bare = await page.evaluate(joinInPage, { wsUrl, ns: "network", beacon: undefined });
  assert.equal(bare.code, 4012, JSON.stringify(bare));
  assert.match(bare.reason ?? "", /beacon token missing/);
  await context.close();
});

test("a page on another origin can neither read a token nor use one copied to it", async () => {
  const context = await browser.newContext();
  const page = await newPage(context, foreignUrl, "foreign page");
  assert.notEqual(new URL(foreignUrl).origin, new URL(hub.url).origin);
  // The browser refuses to hand the hub's answer to a page of another origin (no CORS headers).
  const read = await page.evaluate(
    (url) =>
      fetch(`${url}/v1/beacon`).then(
        () => "read",
        () => "blocked",
      ),
    hub.url,
  );
  assert.equal(read, "blocked");
  // A token made for the hub's own pages, copied into the foreign page by a script.
  const copied = await (await fetch(`${hub.url}/v1/beacon`, { headers: { Origin: hub.url } })).json();
  const result = await page.evaluate(joinInPage, { wsUrl, ns: "network", beacon: copied.token });
  assert.deepEqual(result, { code: 4012, reason: "beacon token made for another origin" });
  await context.close();
});

test("a stale or forged token is refused with 4012 and a reason that says which; a current one joins", async () => {
  const context = await browser.newContext();
  const page = await newPage(context, `${hub.url}/drop`, "hub page");
  const origin = new URL(hub.url).origin;
  // Two slots old: past its slot and the next one. (Made with the hub's key, so only age is wrong.)
  const stale = await page.evaluate(joinInPage, { wsUrl, ns: "network", beacon: tokenFor(currentSlot() - 2, origin) });
  assert.deepEqual(stale, { code: 4012, reason: "stale beacon token: reload the page" });
  const forged = tokenFor(currentSlot(), origin, "some-other-key-that-is-not-the-hubs-0123456");
  assert.deepEqual(await page.evaluate(joinInPage, { wsUrl, ns: "rv:e2e-name", beacon: forged }), {
    code: 4012,
    reason: "forged beacon token: its MAC does not verify",
  });
  // The control: the same page, a token of the previous slot (still good) made the same way.
  const previous = tokenFor(currentSlot() - 1, origin);
  assert.deepEqual(await page.evaluate(joinInPage, { wsUrl, ns: "network", beacon: previous }), { joined: "network" });
  await context.close();
});
