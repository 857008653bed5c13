// @ts-check
// (b) The identity screen end to end: create → the required backup step (download, check: wrong
// passphrase, then right) → the founder's claim screen, with the id and QR folded below → forget →
// restore (wrong passphrase, then right) → same id, no backup step; keys survive a reload and are
// not extractable. Then "check it later": the banner on every vault page until the check.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  DIST,
  createIdentity,
  launchBrowser,
  restoreThroughUi,
  runCli,
  startNode,
  storedIdentity,
  submitNewIdentity,
  tempDir,
} from "./support.mjs";

const PASSPHRASE = "River family 🌳 summer photos";
const ID_PATTERN = /^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/;

let node;
let browser;
let temp;

before(async () => {
  node = await startNode(DIST, { args: ["--name", "Oak"] });
  browser = await launchBrowser();
  temp = await tempDir("ui");
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await temp?.cleanup();
});

test("create, back up, forget and restore an identity in the browser", { timeout: 180_000 }, async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("[page error]", error));
  await page.goto(`${node.url}/`);

  // --- Create
  const create = page.getByTestId("create-identity");
  await create.getByTestId("create-name").fill("River");
  await create.getByTestId("create-passphrase").fill("too short");
  await assert.doesNotReject(page.getByText("Use at least 10 characters").waitFor());
  assert.equal(await create.getByTestId("create-submit").isDisabled(), true, "a short passphrase is refused");
  await create.getByTestId("create-passphrase").fill(PASSPHRASE);
  await create.getByTestId("create-passphrase-confirm").fill(`${PASSPHRASE}!`);
  await page.getByText("The two passphrases differ.").waitFor();
  assert.equal(await create.getByTestId("create-submit").isDisabled(), true, "mismatched passphrases are refused");
  await create.getByTestId("create-passphrase-confirm").fill(PASSPHRASE);
  await create.getByTestId("create-submit").click();
  // scrypt at logN 18 takes about a second: the progress indicator must show meanwhile.
  await page.getByTestId("scrypt-progress").waitFor({ state: "visible" });

  // --- The backup is required before anything else: download it, then check it.
  const step = page.getByTestId("backup-step");
  await step.waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("claim-node").count(), 0, "no vault before the backup step");
  assert.equal(await page.getByTestId("vault-entry").count(), 0);
  assert.match(await step.textContent(), /Without them your access to the family's photos is gone for good/);
  await step.getByText("What is in the file?").click();
  assert.match(await step.getByTestId("backup-contents").textContent(), /the passphrase is not in it/);
  assert.match(await step.getByTestId("backup-contents").textContent(), /No photos and no album keys/);
  assert.equal(await step.getByTestId("backup-later").count(), 0, "nothing to postpone before the download");
  assert.equal(await step.getByTestId("backup-check-submit").isDisabled(), true, "no check without a file");

  const [download] = await Promise.all([page.waitForEvent("download"), step.getByTestId("backup-download").click()]);
  await step.getByTestId("backup-downloaded").waitFor();
  assert.match(download.suggestedFilename(), /^p2pos-identity-[A-Z2-7]{7}\.age$/);
  const backupPath = path.join(temp.dir, download.suggestedFilename());
  await download.saveAs(backupPath);
  const backup = await readFile(backupPath, "utf8");
  assert.match(backup, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/);

  // The browser's backup is the CLI's identity file format: the Rust side opens it.
  const passphraseFile = path.join(temp.dir, "passphrase.txt");
  await writeFile(passphraseFile, `${PASSPHRASE}\n`);
  const shown = await runCli(["id", "show", backupPath, "--json", "--passphrase-file", passphraseFile]);
  assert.equal(shown.code, 0, shown.stderr);
  const { id, recipient } = JSON.parse(shown.stdout);
  assert.match(id, ID_PATTERN);
  assert.equal(download.suggestedFilename(), `p2pos-identity-${id.split("-")[0]}.age`);

  // Checking with the wrong passphrase fails and says why; the step stays.
  await step.getByTestId("backup-check-file").setInputFiles(backupPath);
  await step.getByTestId("backup-check-passphrase").fill("not the passphrase");
  await step.getByTestId("backup-check-submit").click();
  const checkError = step.getByTestId("backup-check-error");
  await checkError.waitFor({ timeout: 60_000 });
  assert.match(await checkError.textContent(), /Wrong passphrase/);
  await step.getByTestId("backup-check-passphrase").fill(PASSPHRASE);
  await step.getByTestId("backup-check-submit").click();
  await step.waitFor({ state: "detached", timeout: 60_000 });

  // --- The founder's first screen on an unclaimed node: the claim form first, in plain words.
  const claim = page.getByTestId("claim-node");
  await claim.waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("outsider").count(), 0, "no 'not a member' text on an unclaimed node");
  assert.equal(await page.getByTestId("backup-banner").count(), 0, "a checked backup leaves no banner");
  assert.match(await claim.getByRole("heading", { level: 1 }).textContent(), /Set up your family's vault/);
  const hint = (await claim.locator("#claim-code-hint").textContent()) ?? "";
  assert.match(hint, /Printed in the terminal where this node was started, on a line like Setup code: ABCDE-FGHJK/);
  assert.doesNotMatch((await claim.textContent()) ?? "", /\s{2}|signed in|check again/i);
  const firstCard = await page.locator('[data-testid="vault-entry"] > *').first().getAttribute("data-testid");
  assert.equal(firstCard, "claim-node", "the claim form comes first");

  // The identity is folded away below it, one click to open.
  await page.getByText("Your identity (id, QR code and backup)").click();
  const idElement = page.getByTestId("readable-id");
  await idElement.waitFor();
  assert.equal(await idElement.getAttribute("data-id"), id, "the backup holds this browser's identity");
  assert.equal((await idElement.textContent()).trim(), id, "the shown text is the canonical id");
  assert.match(await page.getByTestId("identity-view").getByRole("heading", { level: 1 }).textContent(), /River/);
  await page.getByTestId("backup-confirmed").waitFor();

  const qr = page.getByTestId("identity-qr");
  await qr.waitFor();
  const card = await qr.getAttribute("data-qr-text");
  const qrSize = await qr.evaluate((canvas) => ({ width: canvas.width, height: canvas.height }));
  assert.ok(qrSize.width >= 100 && qrSize.width === qrSize.height, `QR canvas is drawn (${qrSize.width}px)`);
  assert.equal((await page.getByTestId("age-recipient").textContent()).trim(), recipient);
  assert.equal(card, `p2pos-member:${id}:${recipient}`, "the QR code is the member card: id and recipient");

  // --- The stored keys cannot be read back by script; the check is remembered with them.
  const stored = await storedIdentity(page);
  assert.equal(stored.id, id);
  assert.equal(stored.recipient, recipient);
  assert.deepEqual(stored.signingKey, {
    isCryptoKey: true,
    extractable: false,
    algorithm: "Ed25519",
    type: "private",
    usages: ["sign"],
  });
  assert.deepEqual(stored.ageKey, {
    isCryptoKey: true,
    extractable: false,
    algorithm: "X25519",
    type: "private",
    usages: ["deriveBits"],
  });
  assert.equal(stored.backupIsArmored, true);
  assert.ok(stored.fields.includes("backupConfirmedAt"), `the check is stored: ${stored.fields}`);
  assert.ok(!stored.fields.some((field) => /seed|secret/i.test(field)), `no raw secret is stored: ${stored.fields}`);

  // --- A reload keeps the identity (IndexedDB), and the backup step does not come back
  await page.reload();
  await page.getByTestId("claim-node").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("backup-step").count(), 0);
  await page.getByText("Your identity (id, QR code and backup)").click();
  await page.getByTestId("readable-id").waitFor();
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id);

  // --- Forget (with confirmation)
  await page.getByTestId("forget-identity").click();
  await page.getByTestId("cancel-forget").click();
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id, "cancel keeps the identity");
  await page.getByTestId("forget-identity").click();
  await page.getByTestId("confirm-forget").click();
  await page.getByTestId("restore-identity").waitFor();
  assert.equal(await storedIdentity(page), null, "the keys are gone from IndexedDB");
  await page.reload();
  await page.getByTestId("create-identity").waitFor();

  // --- Restore: wrong passphrase first, then the right one
  await restoreThroughUi(page, backupPath, "not the passphrase");
  const error = page.getByTestId("restore-error");
  await error.waitFor({ timeout: 60_000 });
  assert.match(await error.textContent(), /Wrong passphrase/);
  assert.equal(await page.getByTestId("readable-id").count(), 0);

  await page.getByTestId("restore-passphrase").fill(PASSPHRASE);
  await page.getByTestId("restore-submit").click();
  // Restoring from the backup counts as backed up: no backup step, no banner.
  await page.getByTestId("claim-node").waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("backup-step").count(), 0, "a restored identity skips the backup step");
  assert.equal(await page.getByTestId("backup-banner").count(), 0);
  await page.getByText("Your identity (id, QR code and backup)").click();
  await page.getByTestId("readable-id").waitFor();
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id, "the same identity is back");
  assert.equal((await page.getByTestId("age-recipient").textContent()).trim(), recipient);

  const restored = await storedIdentity(page);
  assert.equal(restored.signingKey.extractable, false);
  assert.equal(restored.ageKey.extractable, false);

  await page.reload();
  await page.getByTestId("claim-node").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id, "the restored identity persists");
  await context.close();
});

test("check the backup later: a banner on every vault page until it is checked", { timeout: 180_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("[page error]", error));
  await page.goto(`${node.url}/`);
  await submitNewIdentity(page, "Ann", PASSPHRASE);
  const step = page.getByTestId("backup-step");
  await step.waitFor({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), step.getByTestId("backup-download").click()]);
  const file = await download.path();
  await step.getByTestId("backup-later").click();

  // Founding the family with the setup code the node printed; the banner is there from the start.
  await page.getByTestId("claim-node").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("backup-banner").getAttribute("data-state"), "downloaded");
  await page.getByTestId("claim-code").fill(node.setupCode);
  await page.getByTestId("claim-family-name").fill("The Rivers");
  await page.getByTestId("claim-submit").click();
  await page.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  // Named at setup: the family (its key made and sealed to) and Ann, from her identity's name.
  await page.waitForFunction(
    () => document.querySelector('[data-testid="dashboard-title"]')?.textContent === "The Rivers",
    null,
    { timeout: 30_000 },
  );
  const pages = {
    dashboard: "dashboard",
    albums: "albums-page",
    members: "members-page",
    nodes: "nodes-page",
    identity: "identity-view",
    settings: "settings-page",
  };
  for (const [nav, testId] of Object.entries(pages)) {
    await page.getByTestId(`nav-${nav}`).click();
    await page.getByTestId(testId).waitFor();
    const banner = page.getByTestId("backup-banner");
    await banner.waitFor();
    assert.match(await banner.textContent(), /not checked yet.*lose your access to the family's photos/, nav);
  }
  await page.getByTestId("nav-members").click();
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="members-page"] h1')?.textContent === "Members of The Rivers" &&
      /Ann/.test(document.querySelector('[data-testid="members-page"] table')?.textContent ?? ""),
    null,
    { timeout: 30_000 },
  );
  // A reload does not bring the step back (the file was downloaded), only the banner.
  await page.reload();
  await page.getByTestId("backup-banner").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("backup-step").count(), 0);

  // The banner's action: check the file in a dialog; then the banner is gone, on every page.
  await page.getByTestId("backup-banner-action").click();
  const dialog = page.getByTestId("backup-dialog");
  await dialog.getByTestId("backup-check-file").setInputFiles(file);
  await dialog.getByTestId("backup-check-passphrase").fill(PASSPHRASE);
  await dialog.getByTestId("backup-check-submit").click();
  await page.getByTestId("backup-toast").waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("backup-banner").count(), 0);
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("dashboard").waitFor();
  assert.equal(await page.getByTestId("backup-banner").count(), 0);
  await page.reload();
  await page.getByTestId("dashboard").waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId("backup-banner").count(), 0, "the check is remembered");

  // The dashboard names this node; its ids and address are behind the details.
  assert.equal(await page.getByTestId("dashboard-node").textContent(), "Oak");
  assert.equal(await page.getByTestId("dashboard-node-id").isVisible(), false);
  await context.close();
});

test("a file that is not a backup gets a clear message", { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${node.url}/`);
  const notBackup = path.join(temp.dir, "holiday.jpg");
  await writeFile(notBackup, "definitely not an age file");
  await restoreThroughUi(page, notBackup, "whatever passphrase");
  const error = page.getByTestId("restore-error");
  await error.waitFor();
  assert.match(await error.textContent(), /not a P2POS backup/);
  await page.close();
});

test("a node started to join a family shows no claim form, and says it is joining", { timeout: 120_000 }, async () => {
  const pine = await startNode(DIST, { args: ["--name", "Pine", "--joining"] });
  try {
    assert.equal(pine.setupCode, undefined, "a joining node prints no setup code");
    const page = await browser.newPage();
    page.on("pageerror", (error) => console.error("[page error]", error));
    await page.goto(`${pine.url}/`);
    await createIdentity(page, "Ada", PASSPHRASE);
    const joining = page.getByTestId("joining");
    await joining.waitFor({ timeout: 30_000 });
    assert.match(await joining.textContent(), /This node is joining its family/);
    assert.equal(await page.getByTestId("claim-node").count(), 0, "no claim form on a joining node");
    const health = await page.evaluate(() => fetch("/v1/health").then((r) => r.json()));
    assert.deepEqual([health.claimed, health.joining], [false, true]);
    await page.close();
  } finally {
    await pine.stop();
  }
});
