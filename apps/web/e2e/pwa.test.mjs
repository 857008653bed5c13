// @ts-check
// The installable web app: Chromium finds nothing that keeps it from installing (manifest, icons),
// and the share target works as a phone's share sheet uses it: a multipart POST to /share, taken
// by the share target's service worker (scope /share only, so it controls no page of the app),
// lands on "Add shared photos", and the files join an album's upload queue, encrypted like any
// upload. The worker's copies are gone afterwards.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { createIdentity, DIST, launchBrowser, newPage, startNode } from "./support.mjs";

const PASSPHRASE = "a long and careful family passphrase";
const SHARED = ["icon-192.png", "maskable-512.png"].map((name) => path.join(DIST, "icons", name));

let node;
let browser;

before(async () => {
  node = await startNode(DIST);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

test("installable, and photos shared from another app land in an album", { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await newPage(context, node.url, "pwa");
  await createIdentity(page, "Ann", PASSPHRASE);
  await page.getByTestId("claim-node").waitFor({ timeout: 30_000 });
  await page.getByTestId("claim-code").fill(node.setupCode);
  await page.getByTestId("claim-submit").click();
  await page.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await page.getByTestId("nav-albums").click();
  await page.getByTestId("album-title-input").fill("From the phone");
  await page.getByTestId("album-create").click();
  await page.getByTestId("album-page").waitFor();
  const album = await page.getByTestId("album-page").getAttribute("data-album-id");

  // What Chromium checks before it offers to install.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send("Page.getAppManifest");
  assert.deepEqual(manifest.errors, [], "the manifest parses without errors");
  assert.ok(manifest.url.endsWith("/manifest.webmanifest"));
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  // A Playwright context is an incognito profile, where Chromium installs nothing: the one error
  // that comes from the test, not the app.
  assert.deepEqual(
    installabilityErrors.filter((error) => error.errorId !== "in-incognito"),
    [],
    "nothing in the app keeps it from being installed",
  );

  // The share target's worker is active, and controls no page of the app.
  await page.waitForFunction(
    async () => (await navigator.serviceWorker.getRegistration("/share"))?.active?.state === "activated",
    null,
    { timeout: 30_000, polling: 250 },
  );
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller), null);

  // A share sheet's POST, as the manifest's share_target asks for it.
  await page.evaluate(() => {
    const form = document.createElement("form");
    form.id = "share-sheet";
    form.method = "post";
    form.action = "/share";
    form.enctype = "multipart/form-data";
    const input = document.createElement("input");
    input.type = "file";
    input.name = "photos";
    input.multiple = true;
    form.append(input);
    document.body.append(form);
  });
  await page.locator("#share-sheet input").setInputFiles(SHARED);
  await Promise.all([
    page.waitForURL(/\/#\/share$/),
    page.evaluate(() => /** @type {HTMLFormElement} */ (document.getElementById("share-sheet")).submit()),
  ]);
  await page.getByTestId("share-page").waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="share-file"]').length === 2, null, {
    timeout: 30_000,
  });
  assert.deepEqual(await page.getByTestId("share-file").allTextContents(), ["icon-192.png", "maskable-512.png"]);
  assert.equal(await page.getByTestId("share-album").inputValue(), album);
  await page.getByTestId("share-add").click();

  await page.getByTestId("album-page").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("album-page").getAttribute("data-album-id"), album);
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="upload-item"][data-status="done"]').length === 2,
    null,
    { timeout: 60_000, polling: 250 },
  );
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="photo-thumb"]').length === 2, null, {
    timeout: 30_000,
  });
  const left = await page.evaluate(async () => (await (await caches.open("p2pos-shared")).keys()).length);
  assert.equal(left, 0, "the shared files are deleted once queued");

  // Nothing waiting: the page says so.
  await page.goto(`${node.url}/#/share`);
  await page.getByTestId("share-empty").waitFor({ timeout: 30_000 });
  await context.close();
});
