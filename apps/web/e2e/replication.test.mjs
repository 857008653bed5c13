// @ts-check
// The replication demo end to end, in Chromium against real processes: a hub and two nodes, Oak
// and Pine, on one machine. At Oak: create an identity, claim, make an album, upload 5 photos,
// download the identity backup; the grid says they are on Oak only. Enrol Pine from Oak's Nodes
// page (the token goes to `p2pos peer add` on Pine's data dir); the grid shows "Oak ✓ Pine ✓" and
// the Nodes page Pine green over a direct WebRTC path. Oak is killed; at Pine, a fresh browser
// restores the identity, opens the album and decrypts every original; 2 more photos are uploaded
// there. Oak comes back and catches up by itself: both UIs show 7 photos on both nodes. Then the
// vault from anywhere: the hub's page opens Oak over a WebRTC data channel (the nodes' HTTP
// origins blocked), decrypts a photo and uploads one; a stranger is refused.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  createIdentity as createIdentityWith,
  DIST,
  freePort,
  launchBrowser,
  newPage,
  readQrCanvas,
  restoreThroughUi,
  runCli,
  startHub,
  startNode,
  submitNewIdentity,
  backUpThroughUi,
  tempDir,
} from "./support.mjs";

const PASSPHRASE = "a long and careful family passphrase";
const createIdentity = (page, name) => createIdentityWith(page, name, PASSPHRASE);
const TITLE = "Summer 2026";

let hub;
let oak;
let pine;
let browser;
let temp;
const nodeSetup = {};

/** `p2pos node` flags for one of the demo's nodes: its name, the hub, loopback WebRTC, 1 s syncs. */
function nodeOptions(name, port, dataDir) {
  return {
    listen: `127.0.0.1:${port}`,
    dataDir,
    args: [
      "--name",
      name,
      "--hub",
      hub.wsUrl,
      "--rtc-bind",
      "127.0.0.1:0",
      "--public-url",
      `http://127.0.0.1:${port}`,
      "--sync-interval-secs",
      "1",
    ],
  };
}

before(async () => {
  temp = await tempDir("replication");
  hub = await startHub(DIST);
  assert.match(
    hub.wsUrl ?? "",
    /^ws:\/\/127\.0\.0\.1:\d+\/v1\/ws$/,
    `the hub printed its WebSocket URL: ${hub.output()}`,
  );
  for (const name of ["Oak", "Pine"]) {
    const dataDir = path.join(temp.dir, name.toLowerCase());
    await mkdir(dataDir);
    nodeSetup[name] = nodeOptions(name, await freePort(), dataDir);
  }
  [oak, pine] = await Promise.all([startNode(DIST, nodeSetup.Oak), startNode(DIST, nodeSetup.Pine)]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all([oak?.stop(), pine?.stop()]);
  await hub?.stop();
  await temp?.cleanup();
});

/** With P2POS_SCREENSHOTS=<dir>, save a screenshot of each step there (for reviewing the UI). */
async function shot(page, name) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `replication-${name}.png`), fullPage: true });
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** JPEGs drawn on a canvas in the browser (noise, so every file is distinct), as bytes. */
async function drawPhotos(page, seeds) {
  const encoded = await page.evaluate(async (seeds) => {
    const out = [];
    for (const seed of seeds) {
      const canvas = new OffscreenCanvas(640, 480);
      const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const image = ctx.createImageData(640, 480);
      let x = seed * 2654435761;
      for (let i = 0; i < image.data.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        image.data[i] = i % 4 === 3 ? 255 : x >>> 24;
      }
      ctx.putImageData(image, 0, 0);
      ctx.fillStyle = `hsl(${seed * 47} 70% 50%)`;
      ctx.fillRect(160, 120, 320, 240);
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out.push(btoa(binary));
    }
    return out;
  }, seeds);
  const files = [];
  for (const [i, seed] of seeds.entries()) {
    const name = `summer-${String(seed).padStart(2, "0")}.jpg`;
    const bytes = Buffer.from(encoded[i], "base64");
    const file = path.join(temp.dir, name);
    await writeFile(file, bytes);
    files.push({ name, path: file, sha256: sha256(bytes) });
  }
  return files;
}

/** Upload through the album page's picker and wait until all are done. */
async function upload(page, files) {
  const before = await page.locator('[data-testid="upload-item"][data-status="done"]').count();
  await page.getByTestId("upload-input").setInputFiles(files.map((f) => f.path));
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="upload-item"][data-status="done"]').length === n,
    before + files.length,
    { timeout: 60_000, polling: 250 },
  );
  assert.equal(await page.locator('[data-testid="upload-item"][data-status="failed"]').count(), 0);
}

/**
 * Wait until the grid shows `count` photos, every thumbnail decrypted, each stored on exactly the
 * nodes of `nodes` in their states ({ Oak: "ok", Pine: "pending" }), or as `except[name]` says for
 * some photos; on timeout, fail with what the grid showed.
 */
async function waitForGrid(page, count, nodes, { except = {}, timeout = 60_000 } = {}) {
  const wanted = (states) =>
    Object.entries(states)
      .map(([name, state]) => `${name}:${state}`)
      .sort()
      .join(" ");
  const expected = {
    count,
    nodes: wanted(nodes),
    except: Object.fromEntries(Object.entries(except).map(([name, states]) => [name, wanted(states)])),
  };
  try {
    await page.waitForFunction(
      (expected) => {
        const cells = [...document.querySelectorAll('[data-testid="photo-thumb"]')].map((cell) => {
          const img = /** @type {HTMLImageElement | null} */ (cell.querySelector('[data-testid="thumb-image"]'));
          return {
            name: cell.getAttribute("data-name") ?? "",
            shown: Boolean(img?.complete && img.naturalWidth > 0),
            nodes: [...cell.querySelectorAll('[data-testid="placement"]')]
              .map((b) => `${b.getAttribute("data-node-name")}:${b.getAttribute("data-state")}`)
              .sort()
              .join(" "),
          };
        });
        // Kept for the failure message.
        window.lastGrid = cells;
        return (
          cells.length === expected.count &&
          cells.every((cell) => cell.shown && cell.nodes === (expected.except[cell.name] ?? expected.nodes))
        );
      },
      expected,
      { timeout, polling: 250 },
    );
  } catch (error) {
    const shown = await page.evaluate(() => window.lastGrid).catch(() => "(page gone)");
    throw new Error(
      `the grid did not show ${JSON.stringify(expected)} within ${timeout} ms; it shows ${JSON.stringify(shown, null, 1)}`,
      { cause: error },
    );
  }
}

/** Open an album from the Albums page by its title. */
async function openAlbum(page, title) {
  await page.getByTestId("nav-albums").click();
  const card = page.locator('[data-testid="album-card"]', { hasText: title });
  await card.waitFor({ timeout: 30_000 });
  await card.locator("a").click();
  await page.getByTestId("album-page").waitFor();
}

/**
 * Wait for a peer row on the Nodes page in the given health (and path, when given).
 * @param {import("playwright-core").Page} page
 * @param {string} name
 * @param {string} health
 * @param {{ path?: string, timeout?: number }} [options]
 */
async function waitForPeer(page, name, health, { path: pathKind, timeout = 60_000 } = {}) {
  const selector =
    `[data-testid="peer-row"][data-node-name="${name}"][data-health="${health}"]` +
    (pathKind ? `[data-path="${pathKind}"]` : "");
  try {
    await page.locator(selector).waitFor({ timeout });
  } catch (error) {
    const rows = await page
      .getByTestId("peer-row")
      .evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-node-name")}: ${r.textContent}`));
    throw new Error(`no ${health} peer row for ${name} within ${timeout} ms; rows: ${JSON.stringify(rows)}`, {
      cause: error,
    });
  }
  return page.locator(selector);
}

test("two nodes: enrol, replicate, lose one, restore at the other, catch up", { timeout: 420_000 }, async () => {
  const started = Date.now();
  const log = (step) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${step}`);
  assert.match(oak.setupCode ?? "", /^[A-Z0-9]{5}-[A-Z0-9]{5}$/, "Oak printed a setup code");

  // --- At Oak: identity, claim, album, 5 photos
  const oakContext = await browser.newContext({ acceptDownloads: true });
  const atOak = await newPage(oakContext, oak.url, "Oak");
  await createIdentity(atOak, "Ada");
  await atOak.getByTestId("claim-node").waitFor({ timeout: 30_000 });
  await atOak.getByTestId("claim-code").fill(oak.setupCode);
  await atOak.getByTestId("claim-submit").click();
  await atOak.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await atOak.getByTestId("nav-albums").click();
  await atOak.getByTestId("album-title-input").fill(TITLE);
  await atOak.getByTestId("album-create").click();
  await atOak.getByTestId("album-page").waitFor();
  const albumId = await atOak.getByTestId("album-page").getAttribute("data-album-id");
  const first = await drawPhotos(atOak, [1, 2, 3, 4, 5]);
  await upload(atOak, first);
  log("5 photos uploaded at Oak");

  // The identity backup, for the browser at Pine later.
  await atOak.getByTestId("nav-settings").click();
  const [backupDownload] = await Promise.all([
    atOak.waitForEvent("download"),
    atOak.getByTestId("settings-backup").click(),
  ]);
  const backupFile = path.join(temp.dir, backupDownload.suggestedFilename());
  await backupDownload.saveAs(backupFile);

  // On Oak only: Pine is not enrolled yet.
  await openAlbum(atOak, TITLE);
  await waitForGrid(atOak, 5, { Oak: "ok" });
  assert.equal(await atOak.getByTestId("placement-summary").textContent(), " · on Oak 5/5");
  await shot(atOak, "01-oak-only");

  // --- Enrol Pine: a token from Oak's Nodes page, `p2pos peer add` on Pine's data dir
  await atOak.getByTestId("nav-nodes").click();
  await atOak.getByTestId("peers-empty").waitFor();
  assert.equal(await atOak.getByTestId("this-node-name").textContent(), "Oak");
  assert.equal(await atOak.getByTestId("this-node-hub").textContent(), hub.wsUrl);
  await atOak.getByTestId("enrol-start").click();
  const token = ((await atOak.getByTestId("enrol-token").textContent()) ?? "").trim();
  assert.match(token, /^P2POS-ENROLL-[A-Z2-7]+$/);
  assert.equal(await readQrCanvas(atOak.getByTestId("enrol-qr")), token, "the QR code reads back as the token");
  assert.match((await atOak.getByTestId("enrol-expiry").textContent()) ?? "", /Works once, until .* \(15 minutes\)/);
  await shot(atOak, "02-oak-enrol-token");

  const added = await runCli(["peer", "add", token, "--data-dir", nodeSetup.Pine.dataDir]);
  assert.equal(added.code, 0, `p2pos peer add: ${added.stderr}`);
  assert.match(added.stdout, /enrolled with Oak/);
  log("Pine enrolled");

  // Oak's Nodes page: Pine green, over WebRTC host candidates (same machine).
  const pineRow = await waitForPeer(atOak, "Pine", "green", { path: "host" });
  assert.equal(await pineRow.getByTestId("peer-path").textContent(), "direct (same network)");
  assert.equal(await pineRow.getByTestId("peer-label").textContent(), "Up to date");
  assert.match((await pineRow.getByTestId("peer-last-sync").textContent()) ?? "", /^(just now|\d+ s ago)$/);
  assert.equal(await pineRow.getByTestId("peer-backlog").textContent(), "nothing");
  assert.match((await atOak.getByTestId("enrol-joined").textContent()) ?? "", /^Pine joined with the token/);
  await shot(atOak, "03-oak-nodes-pine-green");
  log("Pine green on Oak's Nodes page");

  // The grid: every photo on both nodes.
  await openAlbum(atOak, TITLE);
  await waitForGrid(atOak, 5, { Oak: "ok", Pine: "ok" });
  assert.equal(await atOak.getByTestId("placement-summary").textContent(), " · on Oak 5/5 · on Pine 5/5");
  await shot(atOak, "04-oak-grid-both");
  // And the viewer says the same.
  await atOak.locator(`[data-testid="photo-thumb"][data-name="${first[0].name}"] a`).click();
  await atOak.getByTestId("viewer-image").waitFor({ timeout: 30_000 });
  await atOak.waitForFunction(
    () =>
      [...document.querySelectorAll('[data-testid="viewer-placements"] [data-testid="placement"]')]
        .map((b) => `${b.getAttribute("data-node-name")}:${b.getAttribute("data-state")}`)
        .join(" ") === "Oak:ok Pine:ok",
    null,
    { timeout: 10_000, polling: 250 },
  );
  await shot(atOak, "05-oak-viewer");
  await atOak.getByTestId("viewer-back").click();
  await atOak.getByTestId("album-page").waitFor();

  // --- Oak dies (no clean shutdown)
  await oak.kill();
  log("Oak killed");

  // --- At Pine, a fresh browser: restore the identity, open the album, decrypt every original
  const pineContext = await browser.newContext({ acceptDownloads: true });
  const atPine = await newPage(pineContext, pine.url, "Pine");
  await restoreThroughUi(atPine, backupFile, PASSPHRASE);
  await atPine.getByTestId("vault-shell").waitFor({ timeout: 60_000 });
  assert.equal(await atPine.getByTestId("dashboard-role").textContent(), "Admin");
  await openAlbum(atPine, TITLE);
  assert.equal(await atPine.getByTestId("album-page").getAttribute("data-album-id"), albumId);
  await waitForGrid(atPine, 5, { Oak: "ok", Pine: "ok" });
  await shot(atPine, "06-pine-restored-grid");
  for (const file of first) {
    await atPine.locator(`[data-testid="photo-thumb"][data-name="${file.name}"] a`).click();
    await atPine.getByTestId("viewer-download").waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([
      atPine.waitForEvent("download"),
      atPine.getByTestId("viewer-download").click(),
    ]);
    assert.equal(download.suggestedFilename(), file.name);
    assert.equal(sha256(await readFile(await download.path())), file.sha256, `${file.name} decrypts at Pine`);
    await atPine.getByTestId("viewer-back").click();
    await atPine.getByTestId("album-page").waitFor();
  }
  log("5 originals decrypted at Pine");

  // Two more photos, at Pine, while Oak is down: on Pine only for now.
  const more = await drawPhotos(atPine, [6, 7]);
  await upload(atPine, more);
  await waitForGrid(
    atPine,
    7,
    { Oak: "ok", Pine: "ok" },
    {
      except: Object.fromEntries(more.map((f) => [f.name, { Oak: "pending", Pine: "ok" }])),
    },
  );
  assert.equal(await atPine.getByTestId("placement-summary").textContent(), " · on Pine 7/7 · on Oak 5/7");
  await shot(atPine, "07-pine-two-more");

  // Pine's Nodes page: Oak is red, with the reason.
  await atPine.getByTestId("nav-nodes").click();
  const oakRow = await waitForPeer(atPine, "Oak", "red", { timeout: 90_000 });
  assert.equal(await oakRow.getByTestId("peer-label").textContent(), "Offline");
  assert.match((await oakRow.getByTestId("peer-detail").textContent()) ?? "", /^Cannot reach it/);
  assert.ok(
    ((await oakRow.getByTestId("peer-last-error").textContent()) ?? "").length > 0,
    "the node's reason is shown",
  );
  assert.equal(await oakRow.getByTestId("peer-path").textContent(), "not connected");
  await shot(atPine, "08-pine-nodes-oak-offline");
  log("Oak red on Pine's Nodes page");
  await openAlbum(atPine, TITLE);

  // --- Oak comes back where it was and catches up by itself; its open page follows
  oak = await startNode(DIST, nodeSetup.Oak);
  log("Oak restarted");
  await waitForGrid(atOak, 7, { Oak: "ok", Pine: "ok" }, { timeout: 90_000 });
  assert.equal(await atOak.getByTestId("placement-summary").textContent(), " · on Oak 7/7 · on Pine 7/7");
  await shot(atOak, "09-oak-caught-up");
  await waitForGrid(atPine, 7, { Oak: "ok", Pine: "ok" });
  assert.equal(await atPine.getByTestId("placement-summary").textContent(), " · on Pine 7/7 · on Oak 7/7");
  await shot(atPine, "10-pine-both");
  log("both UIs show 7 photos on both nodes");

  // --- From anywhere: the page the hub serves opens Oak's vault over a WebRTC data channel. This
  // browser cannot reach either node's HTTP origin (both are blocked), so every request, photo and
  // upload goes through the channel.
  await atOak.getByTestId("nav-nodes").click();
  const oakId = (await atOak.getByTestId("this-node-id").getAttribute("data-id")) ?? "";
  const remoteLink = await atOak.getByTestId("this-node-remote").locator("a").getAttribute("href");
  assert.equal(remoteLink, `${hub.url}/?node=${encodeURIComponent(oakId)}`);
  const anywhere = await browser.newContext({ acceptDownloads: true });
  for (const node of [oak, pine]) await anywhere.route(`${node.url}/**`, (route) => route.abort());
  const atHub = await newPage(anywhere, hub.url, "hub");
  await atHub.goto(remoteLink);
  await restoreThroughUi(atHub, backupFile, PASSPHRASE);
  await atHub.getByTestId("remote-banner").waitFor({ timeout: 60_000 });
  // Direct, not relayed: host, or prflx where Chromium's loopback address is learned from checks.
  assert.match((await atHub.getByTestId("remote-banner").getAttribute("data-path")) ?? "", /^(host|prflx)$/);
  await atHub.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await openAlbum(atHub, TITLE);
  await waitForGrid(atHub, 7, { Oak: "ok", Pine: "ok" });
  await shot(atHub, "11a-hub-remote-grid");
  await atHub.locator(`[data-testid="photo-thumb"][data-name="${more[0].name}"] a`).click();
  await atHub.getByTestId("viewer-download").waitFor({ timeout: 30_000 });
  const [remoteDownload] = await Promise.all([
    atHub.waitForEvent("download"),
    atHub.getByTestId("viewer-download").click(),
  ]);
  assert.equal(sha256(await readFile(await remoteDownload.path())), more[0].sha256, "decrypts over the channel");
  await atHub.getByTestId("viewer-back").click();
  await atHub.getByTestId("album-page").waitFor();
  const remote = await drawPhotos(atHub, [8]);
  await upload(atHub, remote);
  await waitForGrid(atHub, 8, { Oak: "ok", Pine: "ok" }, { timeout: 90_000 });
  log("the vault from anywhere: Oak over a data channel from the hub's page, 1 photo uploaded");

  // Oak restarts under the open page: the channel breaks, the page says so and reconnects by
  // itself, with the vault as it was (still in the album), and the next requests go through.
  await oak.kill();
  const lostAt = Date.now();
  await atHub.getByTestId("remote-reconnecting").waitFor({ timeout: 90_000 });
  log(`the remote page noticed the lost channel after ${((Date.now() - lostAt) / 1000).toFixed(1)} s`);
  assert.equal(await atHub.getByTestId("album-page").count(), 1, "the vault stays while it reconnects");
  oak = await startNode(DIST, nodeSetup.Oak);
  await atHub.getByTestId("remote-banner").waitFor({ timeout: 90_000 });
  const again = await drawPhotos(atHub, [9]);
  await upload(atHub, again);
  await waitForGrid(atHub, 9, { Oak: "ok", Pine: "ok" }, { timeout: 90_000 });
  await openAlbum(atOak, TITLE);
  await waitForGrid(atOak, 9, { Oak: "ok", Pine: "ok" }, { timeout: 90_000 });
  log("the remote vault reconnected by itself after Oak restarted; its uploads are at Oak");

  // The family link: one bookmark for every node of the family. It opens the vault through
  // whichever node answers first; when that node is SIGKILLed under the open page, the page goes on
  // with the other one, in the same album, and its next upload lands there.
  await atOak.getByTestId("nav-nodes").click();
  const familyLink = (await atOak.getByTestId("family-link").locator("a").getAttribute("href")) ?? "";
  assert.ok(familyLink.startsWith(`${hub.url}/?nodes=${encodeURIComponent(oakId)},`), familyLink);
  assert.equal(new URL(familyLink).searchParams.get("nodes")?.split(",").length, 2, "Oak and Pine");
  const family = await browser.newContext({ acceptDownloads: true });
  for (const node of [oak, pine]) await family.route(`${node.url}/**`, (route) => route.abort());
  const atFamily = await newPage(family, hub.url, "family");
  await atFamily.goto(familyLink);
  await restoreThroughUi(atFamily, backupFile, PASSPHRASE);
  const banner = atFamily.getByTestId("remote-banner");
  await banner.waitFor({ timeout: 60_000 });
  const firstServer = (await banner.getAttribute("data-node")) ?? "";
  const [gone, stays] = firstServer === oakId ? ["Oak", "Pine"] : ["Pine", "Oak"];
  assert.match((await banner.textContent()) ?? "", new RegExp(`^Connected to ${gone} directly`));
  await atFamily.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await openAlbum(atFamily, TITLE);
  await waitForGrid(atFamily, 9, { Oak: "ok", Pine: "ok" });
  await (gone === "Oak" ? oak : pine).kill();
  const killedAt = Date.now();
  await atFamily.waitForFunction(
    (first) => {
      const node = document.querySelector('[data-testid="remote-banner"]')?.getAttribute("data-node");
      return Boolean(node) && node !== first;
    },
    firstServer,
    { timeout: 90_000, polling: 250 },
  );
  log(`the family link moved from ${gone} (SIGKILLed) to ${stays} in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
  assert.match((await banner.textContent()) ?? "", new RegExp(`^Connected to ${stays} `));
  assert.equal(await atFamily.getByTestId("album-page").count(), 1, "still in the album");
  await shot(atFamily, "11b-family-link-failover");
  const overThere = await drawPhotos(atFamily, [10]);
  await upload(atFamily, overThere);
  await atFamily.waitForFunction(
    ({ name, stays }) =>
      document.querySelectorAll('[data-testid="photo-thumb"]').length === 10 &&
      document.querySelector(
        `[data-testid="photo-thumb"][data-name="${name}"] [data-testid="placement"][data-node-name="${stays}"][data-state="ok"]`,
      ) !== null,
    { name: overThere[0].name, stays },
    { timeout: 60_000, polling: 250 },
  );
  log(`the photo uploaded after the failover is at ${stays}`);
  // The node comes back and catches up; its own page is opened again.
  if (gone === "Oak") oak = await startNode(DIST, nodeSetup.Oak);
  else pine = await startNode(DIST, nodeSetup.Pine);
  const ownPage = gone === "Oak" ? atOak : atPine;
  await ownPage.reload();
  await ownPage.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await waitForGrid(atFamily, 10, { Oak: "ok", Pine: "ok" }, { timeout: 90_000 });
  await family.close();
  log(`${gone} restarted and holds the photo uploaded while it was down`);

  // Someone who is not in the family gets a clear refusal, not a vault.
  const stranger = await browser.newContext();
  const atHubStranger = await newPage(stranger, hub.url, "stranger");
  await atHubStranger.goto(remoteLink);
  await submitNewIdentity(atHubStranger, "Mallory", PASSPHRASE);
  await backUpThroughUi(atHubStranger, PASSPHRASE);
  await atHubStranger.getByTestId("remote-failed").waitFor({ timeout: 60_000 });
  assert.match((await atHubStranger.getByTestId("remote-error").textContent()) ?? "", /not a member of the family/);
  await Promise.all([anywhere.close(), stranger.close()]);

  await atPine.getByTestId("nav-nodes").click();
  await waitForPeer(atPine, "Oak", "green");
  await shot(atPine, "11-pine-nodes-oak-green");

  // Adding a node with a bad token says why, in words: not a token; a token already used.
  const addNode = atPine.getByTestId("add-node");
  await addNode.getByTestId("add-node-token").fill("P2POS-ENROLL-NOTATOKEN");
  await addNode.getByTestId("add-node-submit").click();
  assert.match(
    (await addNode.getByTestId("add-node-error").textContent()) ?? "",
    /^That is not a token this node can use: /,
  );
  await addNode.getByTestId("add-node-token").fill(token);
  await addNode.getByTestId("add-node-submit").click();
  await atPine.waitForFunction(
    () =>
      /^This token did not work: .*already used/.test(
        document.querySelector('[data-testid="add-node-error"]')?.textContent ?? "",
      ),
    null,
    { timeout: 40_000, polling: 250 },
  );
  await shot(atPine, "12-pine-used-token");

  // Removing a node asks first.
  const oakAtPine = atPine.locator('[data-testid="peer-row"][data-node-name="Oak"]');
  await oakAtPine.getByTestId("peer-remove").click();
  await oakAtPine.getByTestId("peer-remove-no").click();
  assert.equal(await oakAtPine.getByTestId("peer-remove-confirm").count(), 0, "cancel keeps it");
  await oakAtPine.getByTestId("peer-remove").click();
  await shot(atPine, "13-pine-remove-confirm");
  await oakAtPine.getByTestId("peer-remove-yes").click();
  await atPine.getByTestId("peers-empty").waitFor({ timeout: 10_000 });
  const peersLeft = await runCli(["peer", "list", "--json", "--data-dir", nodeSetup.Pine.dataDir]);
  assert.deepEqual(JSON.parse(peersLeft.stdout), [], "Pine no longer pins Oak");

  await Promise.all([oakContext.close(), pineContext.close()]);
  log("done");
});
