// @ts-check
// (b) The identity screen end to end: create → see id and QR → download the backup → forget →
// restore (wrong passphrase, then right) → same id; keys survive a reload and are not extractable.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { DIST, launchBrowser, restoreThroughUi, runCli, startNode, storedIdentity, tempDir } from "./support.mjs";

const PASSPHRASE = "River family 🌳 summer photos";
const ID_PATTERN = /^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/;

let node;
let browser;
let temp;

before(async () => {
  node = await startNode(DIST);
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

  const idElement = page.getByTestId("readable-id");
  await idElement.waitFor({ timeout: 60_000 });
  const id = await idElement.getAttribute("data-id");
  assert.match(id, ID_PATTERN);
  assert.equal((await idElement.textContent()).trim(), id, "the shown text is the canonical id");
  assert.match(await page.getByRole("heading", { level: 1 }).textContent(), /River/);

  const qr = page.getByTestId("identity-qr");
  await qr.waitFor();
  const card = await qr.getAttribute("data-qr-text");
  const qrSize = await qr.evaluate((canvas) => ({ width: canvas.width, height: canvas.height }));
  assert.ok(qrSize.width >= 100 && qrSize.width === qrSize.height, `QR canvas is drawn (${qrSize.width}px)`);
  const recipient = (await page.getByTestId("age-recipient").textContent()).trim();
  assert.match(recipient, /^age1[0-9a-z]{58}$/);
  assert.equal(card, `p2pos-member:${id}:${recipient}`, "the QR code is the member card: id and recipient");

  // --- The stored keys cannot be read back by script
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
  assert.ok(!stored.fields.some((field) => /seed|secret/i.test(field)), `no raw secret is stored: ${stored.fields}`);

  // --- Download the backup
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-backup").click()]);
  const firstGroup = id.split("-")[0];
  assert.equal(download.suggestedFilename(), `p2pos-identity-${firstGroup}.age`);
  const backupPath = path.join(temp.dir, download.suggestedFilename());
  await download.saveAs(backupPath);
  const backup = await readFile(backupPath, "utf8");
  assert.match(backup, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/);

  // The browser's backup is the CLI's identity file format: the Rust side opens it.
  const passphraseFile = path.join(temp.dir, "passphrase.txt");
  await writeFile(passphraseFile, `${PASSPHRASE}\n`);
  const shown = await runCli(["id", "show", backupPath, "--json", "--passphrase-file", passphraseFile]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout), { id, recipient });

  // --- A reload keeps the identity (IndexedDB)
  await page.reload();
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
  await page.getByTestId("readable-id").waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id, "the same identity is back");
  assert.equal((await page.getByTestId("age-recipient").textContent()).trim(), recipient);

  const restored = await storedIdentity(page);
  assert.equal(restored.signingKey.extractable, false);
  assert.equal(restored.ageKey.extractable, false);

  await page.reload();
  await page.getByTestId("readable-id").waitFor();
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), id, "the restored identity persists");
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
