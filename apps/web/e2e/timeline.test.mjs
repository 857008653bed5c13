// @ts-check
// Photos (issue 15): the timeline of 10,000 photo records on the real binary in Chromium. A browser
// identity is created on an empty node, which stops; `seed_vault` (the example, SEED_BIN) fills a
// data dir with a family that has it as an admin and one album of TIMELINE_PHOTOS photos whose
// sealed metas carry varied dates taken (1,250 days, in an order unrelated to the records'),
// cameras and shapes; the node starts again on the same port. Then: open Photos and wait until
// every photo is indexed; scroll to the end collecting Chromium's long tasks (PerformanceObserver
// 'longtask') and frame times; search; open the viewer from the timeline; reload (the sealed copy
// shows the timeline at once). The figures are printed, not asserted; the assertions are
// functional: month and day groups present, days in order of date taken, search finds the seeded
// caption, the viewer steps in timeline order, nothing of the index readable in IndexedDB, and
// nothing of it left there after signing out.
// With P2POS_SCREENSHOTS=<dir>, it saves photos-1280.png, photos-390.png, photos-dark-1280.png,
// photos-search-1280.png and photos-search-390.png there.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { DIST, REPO_ROOT, createIdentity, freePort, launchBrowser, newPage, startNode } from "./support.mjs";

const PHOTOS = Number(process.env.TIMELINE_PHOTOS ?? 10_000);
const SEED_BIN = process.env.SEED_BIN ?? path.join(REPO_ROOT, "target/debug/examples/seed_vault");
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** The calendar day (UTC) `days` before 2026-11-30, as the seeder dates photo n. */
function seededDay(days) {
  return new Date(Date.UTC(2026, 10, 30) - days * 86_400_000).toISOString().slice(0, 10);
}
const SPAN = Math.max(1, Math.floor(PHOTOS / 8));
const days = new Set(Array.from({ length: PHOTOS }, (_, n) => seededDay((n * 7919) % SPAN)));
const newestDay = [...days].sort().at(-1);
const oldestDay = [...days].sort()[0];
const november = Array.from({ length: PHOTOS }, (_, n) => seededDay((n * 7919) % SPAN)).filter((d) =>
  d.startsWith("2026-11"),
).length;

let browser;
let node;
let dataDir = "";

before(async () => {
  assert.ok(
    existsSync(SEED_BIN),
    `seed_vault not found at ${SEED_BIN}: cargo build -p p2pos-node --example seed_vault`,
  );
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test(
  `Photos: ${PHOTOS} photos by date taken, virtualised, searchable, opening the viewer`,
  { timeout: 300_000 },
  async () => {
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    // Browser time zone: UTC, so the seeded file dates (noon UTC) fall on the seeded days.
    const context = await browser.newContext({ viewport: WIDE, timezoneId: "UTC" });
    await context.addInitScript(() => {
      const w = /** @type {any} */ (window);
      w.longTasks = [];
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) w.longTasks.push(entry.duration);
      }).observe({ type: "longtask", buffered: true });
    });

    // 1. An identity in this browser, on an empty node at the port the seeded node will use.
    const empty = await startNode(DIST, { listen });
    const page = await newPage(context, empty.url, "timeline");
    const me = await createIdentity(page, "Ada", "a long and careful timeline passphrase");
    await empty.stop();

    // 2. The seeded data dir.
    dataDir = await mkdtemp(path.join(tmpdir(), "p2pos-timeline-"));
    let started = Date.now();
    execFileSync(SEED_BIN, [dataDir, me.id ?? "", me.recipient, String(PHOTOS)], { stdio: "ignore" });
    const seedMs = Date.now() - started;
    node = await startNode(DIST, { listen, dataDir });

    // 3. Photos, first visit: everything indexed (progress shown meanwhile).
    await page.goto("about:blank");
    started = Date.now();
    // `?test-hooks`: the page tells the last walk's figures (window.p2posPhotoIndex).
    await page.goto(`${node.url}/?test-hooks#/photos`);
    await page.getByTestId("timeline-page").waitFor({ timeout: 60_000 });
    await page.waitForFunction(
      (n) => {
        const section = document.querySelector('[data-testid="timeline-page"]');
        const status = document.querySelector('[data-testid="timeline-status"]');
        return section?.getAttribute("data-indexed") === String(n) && status?.getAttribute("data-synced") === "true";
      },
      PHOTOS,
      { timeout: 180_000, polling: 100 },
    );
    const indexMs = Date.now() - started;
    const lastSync = await page.evaluate(() => /** @type {any} */ (window).p2posPhotoIndex?.lastSync);
    assert.equal(lastSync?.opened, PHOTOS, "every meta decrypted once");
    const indexTasks = await page.evaluate(() => /** @type {any} */ (window).longTasks.slice());
    assert.match(
      (await page.getByTestId("timeline-status").textContent()) ?? "",
      new RegExp(`^${PHOTOS.toLocaleString("en")} photos$`),
    );
    // Groups: the newest month and day first.
    const firstMonth = page.getByTestId("timeline-month").first();
    assert.equal(
      await firstMonth.textContent(),
      new Date(`${newestDay}T12:00:00Z`).toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" }),
    );
    assert.equal(await page.getByTestId("timeline-day").first().getAttribute("data-day"), newestDay);
    assert.equal(await page.getByTestId("thumb-name").count(), 0, "file names hidden by default");
    await page.locator('[data-testid="thumb-image"]').first().waitFor({ timeout: 30_000 });
    await screenshot(page, "photos");
    if (process.env.P2POS_SCREENSHOTS) {
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: path.join(process.env.P2POS_SCREENSHOTS, "photos-dark-1280.png") });
      await page.emulateMedia({ colorScheme: "light" });
    }

    // 4. Scroll to the end in steps of half a screen a frame: frame times, long tasks, day headers seen.
    await page.evaluate(() => /** @type {any} */ (window.longTasks = []));
    started = Date.now();
    const scroll = await page.evaluate(async () => {
      const seen = [];
      const frames = [];
      let last = performance.now();
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      for (;;) {
        for (const h of document.querySelectorAll('[data-testid="timeline-day"]')) {
          const day = h.getAttribute("data-day") ?? "";
          if (seen.at(-1) !== day && !seen.includes(day)) seen.push(day);
        }
        const atEnd = window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2;
        if (atEnd) break;
        window.scrollBy(0, window.innerHeight / 2);
        await frame();
        const now = performance.now();
        frames.push(now - last);
        last = now;
      }
      // Day headers seen, in document order: sorted by where they were.
      return { seen, frames, height: document.documentElement.scrollHeight };
    });
    const scrollMs = Date.now() - started;
    await page.waitForTimeout(500);
    const scrollTasks = await page.evaluate(() => /** @type {any} */ (window).longTasks.slice());
    const sortedFrames = [...scroll.frames].sort((a, b) => a - b);
    const p95 = sortedFrames[Math.floor(sortedFrames.length * 0.95)] ?? 0;
    // Every day present, newest first, each once: ordered by date taken.
    assert.equal(scroll.seen.length, days.size, "one group per seeded day");
    assert.deepEqual(scroll.seen, [...scroll.seen].sort().reverse(), "days newest first");
    assert.equal(scroll.seen[0], newestDay);
    assert.equal(scroll.seen.at(-1), oldestDay);
    const elements = await page.evaluate(() => document.querySelectorAll("*").length);

    // 5. Search: accents and case folded, every term a word prefix; dates by name.
    await page.evaluate(() => window.scrollTo(0, 0));
    const search = page.getByTestId("timeline-search");
    started = Date.now();
    await search.fill("crème GRAND");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="timeline-status"]')?.textContent === "1 photo",
      null,
      { timeout: 10_000, polling: 10 },
    );
    const searchMs = Date.now() - started;
    const found = page.getByTestId("photo-thumb");
    assert.equal(await found.count(), 1);
    assert.equal(await found.first().getAttribute("data-name"), "IMG_000000.png");
    await search.fill("november 2026");
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="timeline-status"]')?.textContent === `${n} photos`,
      november,
      { timeout: 10_000 },
    );
    await page.locator('[data-testid="thumb-image"]').first().waitFor({ timeout: 30_000 });
    await screenshot(page, "photos-search");

    // 6. The viewer over the timeline, stepping in the order shown (the search results).
    const cells = await page
      .getByTestId("photo-thumb")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-photo-id")));
    await page.getByTestId("photo-thumb").first().locator("a").click();
    const viewer = page.getByTestId("photo-viewer");
    await viewer.waitFor({ timeout: 10_000 });
    assert.equal(await viewer.getAttribute("data-photo-id"), cells[0]);
    assert.match((await viewer.getAttribute("aria-label")) ?? "", new RegExp(`photo 1 of ${november}$`));
    assert.match(page.url(), new RegExp(`#/photos/${cells[0]}$`));
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction(
      (id) => document.querySelector('[data-testid="photo-viewer"]')?.getAttribute("data-photo-id") === id,
      cells[1],
      { timeout: 10_000 },
    );
    await page.keyboard.press("Escape");
    await viewer.waitFor({ state: "detached", timeout: 10_000 });
    assert.match(page.url(), /#\/photos$/);
    assert.equal(await search.inputValue(), "november 2026", "the search stays");

    // 7. Nothing of the index readable at rest: every stored record is sealed bytes.
    const stored = await storedIndex(page);
    assert.ok(stored.records >= 2, "a head and chunks");
    assert.equal(stored.clear, false, "no file name in clear");

    // 8. Second visit: the sealed copy shows the timeline before the walk ends.
    started = Date.now();
    await page.reload();
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="timeline-page"]')?.getAttribute("data-indexed") === String(n),
      PHOTOS,
      { timeout: 60_000, polling: 20 },
    );
    const reloadMs = Date.now() - started;
    await page.waitForFunction(
      () => document.querySelector('[data-testid="timeline-status"]')?.getAttribute("data-synced") === "true",
      null,
      { timeout: 60_000 },
    );
    const resync = await page.evaluate(() => /** @type {any} */ (window).p2posPhotoIndex?.lastSync);
    assert.equal(resync?.opened, 0, "nothing decrypted again");

    // 9. Signing out removes the sealed copy from this browser.
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("sign-out").click();
    await page.waitForFunction(() => !document.querySelector('[data-testid="vault-shell"]'), null, {
      timeout: 10_000,
    });
    assert.equal((await storedIndex(page)).records, 0, "the index is gone after signing out");

    const figures = {
      photos: PHOTOS,
      seedMs,
      firstIndex: {
        ms: indexMs,
        walk: lastSync,
        longTasks: indexTasks.length,
        maxLongTaskMs: Math.round(Math.max(0, ...indexTasks)),
      },
      scroll: {
        ms: scrollMs,
        heightPx: scroll.height,
        frames: scroll.frames.length,
        p95FrameMs: Math.round(p95 * 10) / 10,
        maxFrameMs: Math.round((sortedFrames.at(-1) ?? 0) * 10) / 10,
        longTasks: scrollTasks.length,
        maxLongTaskMs: Math.round(Math.max(0, ...scrollTasks)),
        elementsAtEnd: elements,
      },
      searchToResultMs: searchMs,
      stored,
      secondVisit: { shownMs: reloadMs, walk: resync },
    };
    console.log(`timeline figures: ${JSON.stringify(figures)}`);
    await context.close();
  },
);

/**
 * What the sealed index in IndexedDB holds: how many records, their bytes, and whether any
 * contains a seeded file name in clear.
 * @param {import("playwright-core").Page} page
 * @returns {Promise<{ records: number, bytes: number, clear: boolean }>}
 */
function storedIndex(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("p2pos-index");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction("chunks").objectStore("chunks").getAll();
          all.onsuccess = () => {
            const records = /** @type {{ iv: Uint8Array, data: ArrayBuffer }[]} */ (all.result);
            resolve({
              records: records.length,
              bytes: records.reduce((n, r) => n + r.data.byteLength, 0),
              clear: records.some((r) => new TextDecoder("latin1").decode(r.data).includes("IMG_0")),
            });
          };
        };
      }),
  );
}

/**
 * The viewport (not the whole virtual page) at 1280 and at 390 px, if asked.
 * @param {import("playwright-core").Page} page
 * @param {string} name
 */
async function screenshot(page, name) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (!dir) return;
  await page.screenshot({ path: path.join(dir, `${name}-1280.png`) });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(300);
  await page.locator('[data-testid="thumb-image"]').first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(dir, `${name}-390.png`) });
  await page.setViewportSize(WIDE);
  await page.waitForTimeout(300);
}
