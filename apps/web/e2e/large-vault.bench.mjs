// The large-vault benchmark (docs/BENCHMARKS.md): one album of N photos on a node, opened in
// Debian Chromium. Measures the first screen (time until the first 20 thumbnails are decrypted and
// shown, and bytes on the wire by kind), an idle open page (bytes per second over 20 s), and
// scrolling to the end a screen at a time (time, Chromium long tasks from PerformanceObserver
// 'longtask').
//
//   P2POS_BIN=<release p2pos> SEED_BIN=<release seed_vault example> P2POS_WEB_DIST=<built app> \
//     PHOTOS=100000 node e2e/large-vault.bench.mjs
//
// A browser identity is created through the UI on an empty node, which then stops; `seed_vault`
// fills a data dir with a family that has that identity as an admin and one album of N photos
// (signed records through `p2pos_node::bulk::import`); the node starts again on the same port.
import { execFileSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DIST, createIdentity, freePort, launchBrowser, newPage, startNode } from "./support.mjs";

const PHOTOS = Number(process.env.PHOTOS ?? 100_000);
const SEED_BIN = process.env.SEED_BIN ?? "";
const ALBUM = "largealbumaaaaaaaaaaaaaaaa";
const FIRST_SCREEN = 20;
const SCROLL_LIMIT_MS = Number(process.env.SCROLL_LIMIT_MS ?? 600_000);
// How many photos the scroll goes through (all of them unless SCROLL_PHOTOS says fewer: then it
// stops once that many are loaded), scrolling a screen (800 px) every 100 ms, a fast fling.
const SCROLL_PHOTOS = Math.min(PHOTOS, Number(process.env.SCROLL_PHOTOS ?? PHOTOS));
const SCROLL_STEP_PX = Number(process.env.SCROLL_STEP_PX ?? 800);
const SCROLL_EVERY_MS = Number(process.env.SCROLL_EVERY_MS ?? 100);

const port = await freePort();
const listen = `127.0.0.1:${port}`;
const browser = await launchBrowser();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await context.addInitScript(() => {
  window.longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
});

// 1. An identity in this browser, on an empty node at the port the seeded node will use.
const empty = await startNode(DIST, { listen });
const page = await newPage(context, empty.url, "bench");
if (process.env.BENCH_DEBUG) page.on("console", (m) => console.error("console:", m.type(), m.text()));
const me = await createIdentity(page, "Bench", "a long and careful benchmark passphrase");
await empty.stop();

// 2. The seeded data dir.
const dataDir = await mkdtemp(path.join(tmpdir(), "p2pos-large-"));
let started = Date.now();
execFileSync(SEED_BIN, [dataDir, me.id ?? "", me.recipient, String(PHOTOS)], { stdio: "inherit" });
const seedMs = Date.now() - started;
const node = await startNode(DIST, { listen, dataDir });

// Bytes on the wire (Chromium's encodedDataLength: headers and body), by kind.
const cdp = await context.newCDPSession(page);
await cdp.send("Network.enable");
const urls = new Map();
const bytes = { api: 0, blobs: 0, app: 0 };
// WATERFALL=1: print the first screen's requests: sent, first byte and finished (ms, Chromium's
// clock, from the first request), bytes.
/** @type {[number, number, number, number, string][] | null} */
const waterfall = process.env.WATERFALL ? [] : null;
/** @type {Map<string, number>} */
const sent = new Map();
/** @type {Map<string, number>} */
const answered = new Map();
let origin = 0;
cdp.on("Network.requestWillBeSent", (e) => {
  urls.set(e.requestId, e.request.url);
  if (origin === 0) origin = e.timestamp;
  sent.set(e.requestId, e.timestamp);
});
cdp.on("Network.responseReceived", (e) => answered.set(e.requestId, e.timestamp));
cdp.on("Network.loadingFinished", (e) => {
  const url = urls.get(e.requestId) ?? "";
  const kind = url.includes("/v1/blobs/") ? "blobs" : url.includes("/v1/") ? "api" : "app";
  bytes[kind] += e.encodedDataLength;
  const ms = (/** @type {number | undefined} */ t) => Math.round(((t ?? origin) - origin) * 1000);
  waterfall?.push([
    ms(sent.get(e.requestId)),
    ms(answered.get(e.requestId)),
    ms(e.timestamp),
    e.encodedDataLength,
    url.replace(/^https?:\/\/[^/]+/, ""),
  ]);
});
const reset = () => Object.assign(bytes, { api: 0, blobs: 0, app: 0 });

/** @param {string | undefined} path */
const startTrace = async (path) => {
  await browser.startTracing(page, {
    path,
    categories: [
      "devtools.timeline",
      "disabled-by-default-devtools.timeline",
      "v8.execute",
      "disabled-by-default-v8.cpu_profiler",
      "blink.user_timing",
    ],
  });
};

// 3. First screen: open the album (a fresh load of the app), until 20 thumbnails are shown.
// FIRST_TRACE=<file>: a Chromium trace of it (as TRACE below).
await page.goto("about:blank");
origin = 0;
if (process.env.FIRST_TRACE) await startTrace(process.env.FIRST_TRACE);
reset();
started = Date.now();
await page.goto(`${node.url}/#/albums/${ALBUM}`);
await page
  .waitForFunction(
    (n) =>
      [...document.querySelectorAll('img[data-testid="thumb-image"]')].filter(
        (i) => i instanceof HTMLImageElement && i.complete && i.naturalWidth > 0,
      ).length >= n,
    FIRST_SCREEN,
    { timeout: Number(process.env.FIRST_LIMIT_MS ?? 300_000), polling: 50 },
  )
  .catch(async (error) => {
    console.error(await page.evaluate(() => document.body.innerText.slice(0, 2000)));
    console.error(
      await page.evaluate(() =>
        [...document.querySelectorAll('[data-testid="photo-thumb"]')].slice(0, 5).map((t) => t.outerHTML.slice(0, 300)),
      ),
    );
    throw error;
  });
const firstScreen = { ms: Date.now() - started, ...bytes };
if (process.env.FIRST_TRACE) await browser.stopTracing();
if (waterfall) {
  for (const [from, first, to, size, url] of waterfall.sort((a, b) => a[0] - b[0])) {
    if (url.startsWith("data:")) continue;
    console.error([from, first, to, size].map((n) => String(n).padStart(6)).join(" "), url.slice(0, 90));
  }
  waterfall.length = 0;
}

// 4. Idle: 5 s to settle, then 20 s of an open page doing nothing.
await page.waitForTimeout(5_000);
reset();
await page.waitForTimeout(20_000);
const idle = { bytesPerSecond: Math.round((bytes.api + bytes.blobs + bytes.app) / 20), ...bytes };

// 5. Scroll to the end: the long tasks while doing it. With TRACE=<file>, a Chromium trace of the
// scroll (devtools.timeline and V8 samples) is written there; `e2e/trace-summary.mjs` tells what
// the long tasks were made of. (Tracing slows the page: figures come from a run without it.)
await page.evaluate(() => (window.longTasks = []));
// TRACE_FROM=<n>: start tracing only once n photos are loaded (the end of a long album).
const TRACE_FROM = Number(process.env.TRACE_FROM ?? 0);
let tracing = false;
reset();
started = Date.now();
let loaded;
for (;;) {
  const state = await page.evaluate((step) => {
    window.scrollBy(0, step);
    const grid = document.querySelector('[data-testid="photo-grid"]');
    const root = document.documentElement;
    return {
      loaded: Number(
        grid?.getAttribute("data-loaded") ?? document.querySelectorAll('[data-testid="photo-thumb"]').length,
      ),
      done: grid?.getAttribute("data-done") !== "false",
      bottom: window.scrollY + window.innerHeight >= root.scrollHeight - 2,
    };
  }, SCROLL_STEP_PX);
  loaded = state.loaded;
  if (process.env.TRACE && !tracing && loaded >= TRACE_FROM) {
    tracing = true;
    await startTrace(process.env.TRACE);
  }
  const finished = SCROLL_PHOTOS < PHOTOS ? loaded >= SCROLL_PHOTOS : state.done && state.bottom && loaded >= PHOTOS;
  if (finished || Date.now() - started > SCROLL_LIMIT_MS) break;
  await page.waitForTimeout(SCROLL_EVERY_MS);
}
await page.waitForTimeout(1_000);
if (tracing) await browser.stopTracing();
const tasks = await page.evaluate(() => window.longTasks);
const scroll = {
  ms: Date.now() - started,
  loaded,
  longTasks: tasks.length,
  maxLongTaskMs: Math.round(Math.max(0, ...tasks)),
  over50: tasks.filter((d) => d > 50).length,
  ...bytes,
};

console.log(JSON.stringify({ photos: PHOTOS, seedMs, firstScreen, idle, scroll }, null, 1));
await browser.close();
await node.stop();
