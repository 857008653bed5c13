// @ts-check
// Accessibility: axe-core (injected into the page) on every vault page (the identity screen, the
// backup step, the claim screen, dashboard, albums, an album with photos, Photos and a search in
// it, members, nodes, identity, settings) and on Drop, Gallery and Chat, at 1280×800 and at 390 px.
// On the way, the album's controls: no "No photos yet" above a working queue, file names hidden
// until asked (remembered), files dropped anywhere on the page are uploaded. The test fails on any
// serious or critical violation and prints the counts per page (docs/notes/issue-15-onboard.md has them).
// With P2POS_SCREENSHOTS=<dir> it also saves <page>-1280.png and <page>-390.png of the identity,
// backup, claim, dashboard and album screens there (docs/screenshots holds the committed ones).
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  DIST,
  axeViolations,
  backUpThroughUi,
  launchBrowser,
  startHub,
  startNode,
  submitNewIdentity,
  tempDir,
} from "./support.mjs";

/** @typedef {import("playwright-core").Page} Page */

const PASSPHRASE = "a long and careful family passphrase";
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let node;
let hub;
let browser;
let temp;
/** @type {{ page: string, width: number, total: number, serious: number, rules: string }[]} */
const results = [];
/** Serious and critical violations, per page: the test fails unless this stays empty. */
const failures = [];

before(async () => {
  [node, hub, browser, temp] = await Promise.all([
    startNode(DIST, { args: ["--name", "Oak"] }),
    startHub(DIST),
    launchBrowser(),
    tempDir("a11y"),
  ]);
});

after(async () => {
  if (results.length > 0) {
    console.log("axe-core violations per page (serious or critical / all):");
    for (const r of results)
      console.log(`  ${r.page} @${r.width}: ${r.serious} / ${r.total}${r.rules ? `  (${r.rules})` : ""}`);
  }
  await browser?.close();
  await Promise.all([node?.stop(), hub?.stop(), temp?.cleanup()]);
});

/**
 * Run axe on the page as it is and record the counts; fail on a serious or critical violation.
 * @param {Page} page
 * @param {string} name
 */
async function audit(page, name) {
  const violations = await axeViolations(page);
  const width = page.viewportSize()?.width ?? 0;
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  results.push({
    page: name,
    width,
    total: violations.length,
    serious: serious.length,
    rules: violations.map((v) => `${v.id}:${v.impact}`).join(", "),
  });
  if (serious.length > 0) failures.push({ page: `${name} at ${width} px`, serious });
}

/**
 * Audit at the page's width, then at 390 px (and back), saving screenshots at both if asked.
 * @param {Page} page
 * @param {string} name
 * @param {{ shoot?: boolean }} [options]
 */
async function auditBothWidths(page, name, { shoot = false } = {}) {
  await audit(page, name);
  await screenshot(page, name, shoot);
  await page.setViewportSize(PHONE);
  await audit(page, name);
  await screenshot(page, name, shoot);
  await page.setViewportSize(WIDE);
}

/**
 * @param {Page} page
 * @param {string} name
 * @param {boolean} shoot
 */
async function screenshot(page, name, shoot) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (!dir || !shoot) return;
  const width = page.viewportSize()?.width ?? 0;
  await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true });
}

/**
 * Photos drawn in the browser (soft gradients with noise, so thumbnails look like something), as files.
 * @param {Page} page
 * @param {number} count
 * @returns {Promise<string[]>}
 */
async function drawPhotos(page, count) {
  const encoded = await page.evaluate(async (count) => {
    const out = [];
    for (let i = 0; i < count; i += 1) {
      const canvas = new OffscreenCanvas(640, 480);
      const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const gradient = ctx.createLinearGradient(0, 0, 640, 480);
      gradient.addColorStop(0, `hsl(${(i * 67) % 360} 60% 55%)`);
      gradient.addColorStop(1, `hsl(${(i * 67 + 120) % 360} 55% 35%)`);
      ctx.fillStyle = gradient;
      ctx.fillRect(0, 0, 640, 480);
      ctx.fillStyle = "rgb(255 255 255 / 35%)";
      ctx.beginPath();
      ctx.arc(200 + i * 40, 180, 90, 0, Math.PI * 2);
      ctx.fill();
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.8 });
      out.push(Array.from(new Uint8Array(await blob.arrayBuffer())));
    }
    return out;
  }, count);
  const paths = [];
  for (const [i, bytes] of encoded.entries()) {
    const file = path.join(temp.dir, `IMG_20260712_${String(i + 1).padStart(3, "0")}.jpg`);
    await writeFile(file, Uint8Array.from(bytes));
    paths.push(file);
  }
  return paths;
}

test(
  "every vault page, Drop, Gallery and Chat: no serious or critical axe violation",
  { timeout: 300_000 },
  async () => {
    const context = await browser.newContext({ viewport: WIDE });
    const page = await context.newPage();
    page.on("pageerror", (error) => console.error("[page error]", error));
    await page.goto(`${node.url}/`);

    await page.getByTestId("create-identity").waitFor();
    await auditBothWidths(page, "identity", { shoot: true });

    await submitNewIdentity(page, "Ada", PASSPHRASE);
    await page.getByTestId("backup-step").waitFor({ timeout: 60_000 });
    await auditBothWidths(page, "backup", { shoot: true });
    await backUpThroughUi(page, PASSPHRASE);

    await page.getByTestId("claim-node").waitFor({ timeout: 30_000 });
    await auditBothWidths(page, "claim", { shoot: true });
    await page.getByTestId("claim-code").fill(node.setupCode ?? "");
    await page.getByTestId("claim-submit").click();
    await page.getByTestId("dashboard-storage").waitFor({ timeout: 30_000 });
    await audit(page, "dashboard (new family)");

    await page.getByTestId("nav-albums").click();
    await page.getByTestId("album-title-input").fill("Summer 2026");
    await page.getByTestId("album-create").click();
    await page.getByTestId("album-page").waitFor({ timeout: 30_000 });
    await audit(page, "album (empty)");
    const photos = await drawPhotos(page, 7);
    await page.getByTestId("upload-input").setInputFiles(photos.slice(0, 6));
    // While the queue works, the page does not say the album is empty.
    await page.getByTestId("upload-item").first().waitFor();
    const emptyTexts = await page.getByTestId("album-empty").allTextContents();
    assert.ok(
      emptyTexts.every((text) => !/No photos yet/.test(text)),
      `no "No photos yet" above a working queue: ${emptyTexts}`,
    );
    assert.ok(!/0 items/.test((await page.getByTestId("album-count").textContent()) ?? ""), "no '0 items'");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="thumb-image"]').length === 6, null, {
      timeout: 90_000,
    });
    // File names stay hidden until asked for; the choice is remembered.
    assert.equal(await page.getByTestId("thumb-name").count(), 0, "no file names by default");
    await page.getByTestId("show-file-names").check();
    assert.equal(await page.getByTestId("thumb-name").count(), 6);
    await page.reload();
    await page.getByTestId("thumb-name").first().waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId("thumb-name").count(), 6, "remembered after a reload");
    await page.getByTestId("show-file-names").uncheck();
    assert.equal(await page.getByTestId("thumb-name").count(), 0);
    // Files dropped anywhere on the page (here on the heading) are added to the album.
    const dropped = await readFile(photos[6]);
    await page.evaluate(async (bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(bytes)], "IMG_dropped.jpg", { type: "image/jpeg" }));
      const target = /** @type {HTMLElement} */ (document.querySelector('[data-testid="album-heading"]'));
      target.dispatchEvent(new DragEvent("dragenter", { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }, Array.from(dropped));
    await page.getByTestId("page-drop-overlay").waitFor();
    await page.evaluate(async (bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(bytes)], "IMG_dropped.jpg", { type: "image/jpeg" }));
      const target = /** @type {HTMLElement} */ (document.querySelector('[data-testid="album-heading"]'));
      target.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }, Array.from(dropped));
    await page.getByTestId("page-drop-overlay").waitFor({ state: "detached" });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="thumb-image"]').length === 7, null, {
      timeout: 90_000,
    });
    await page.getByTestId("photo-thumb").and(page.locator('[data-name="IMG_dropped.jpg"]')).waitFor();
    await page.getByTestId("upload-clear").click();
    // Where each photo is stored ("Oak ✓") shows with the next status poll: audit it too.
    await page.getByTestId("placement").first().waitFor({ timeout: 30_000 });
    await auditBothWidths(page, "album", { shoot: true });

    // Photos (the timeline), and a search in it.
    await page.getByTestId("nav-photos").click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="thumb-image"]').length === 7, null, {
      timeout: 60_000,
    });
    await auditBothWidths(page, "photos");
    await page.getByTestId("timeline-search").fill("dropped");
    await page.getByTestId("timeline-status").filter({ hasText: "1 photo" }).waitFor();
    await audit(page, "photos (search)");
    await page.getByTestId("timeline-search").fill("");

    await page.getByTestId("nav-albums").click();
    await page.getByTestId("album-card").waitFor();
    await audit(page, "albums");
    await page.getByTestId("nav-members").click();
    await page.getByTestId("member-row").waitFor();
    await audit(page, "members");
    // The profile photo picker open (the crop preview and zoom), then the photo in the table and header.
    await page.getByTestId("profile-photo-input").setInputFiles(photos.slice(0, 1));
    await page.getByTestId("profile-photo-preview").waitFor();
    await auditBothWidths(page, "members (profile photo picker)");
    await page.getByTestId("profile-photo-save").click();
    await page.locator('[data-testid="member-avatar"][data-kind="photo"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="own-avatar"][data-kind="photo"]').waitFor({ timeout: 30_000 });
    await audit(page, "members (with a photo)");
    await screenshot(page, "members", true);
    await page.getByTestId("nav-nodes").click();
    await page.getByTestId("this-node-name").waitFor();
    await audit(page, "nodes");
    await screenshot(page, "nodes", true);
    await page.getByTestId("nav-identity").click();
    await page.getByTestId("identity-view").waitFor();
    await audit(page, "identity page");
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("settings-page").waitFor();
    await audit(page, "settings");
    await page.getByTestId("nav-dashboard").click();
    await page.getByTestId("dashboard-storage").waitFor();
    await auditBothWidths(page, "dashboard", { shoot: true });
    // Dark mode keeps its contrast too.
    await page.emulateMedia({ colorScheme: "dark" });
    await audit(page, "dashboard (dark)");
    await page.getByTestId("nav-albums").click();
    await page.getByTestId("album-card").locator("a").click();
    await page.getByTestId("placement").first().waitFor({ timeout: 30_000 });
    await audit(page, "album (dark)");
    await screenshot(page, "album-dark", true);
    await page.getByTestId("nav-photos").click();
    await page.getByTestId("thumb-image").first().waitFor({ timeout: 30_000 });
    await audit(page, "photos (dark)");
    await context.close();

    // Drop, Gallery and Chat, served by the hub, each in a fresh browser.
    for (const [name, url, ready] of [
      ["drop", `${hub.url}/drop`, "drop-send"],
      ["gallery", `${hub.url}/gallery/`, "gallery-nick"],
      ["chat", `${hub.url}/chat`, "create-identity"],
    ]) {
      const other = await browser.newContext({ viewport: WIDE });
      const otherPage = await other.newPage();
      otherPage.on("pageerror", (error) => console.error(`[${name} page error]`, error));
      await otherPage.goto(url);
      await otherPage.getByTestId(ready).waitFor({ state: "attached", timeout: 30_000 });
      await auditBothWidths(otherPage, name);
      await other.close();
    }
    assert.deepEqual(failures, [], "serious or critical accessibility violations");
  },
);
