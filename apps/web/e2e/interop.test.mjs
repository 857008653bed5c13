// @ts-check
// (c) Browser ↔ Rust: the same bytes mean the same thing on both sides.
//   - a record signed in Chromium verifies with `p2pos record verify`; a tampered copy does not;
//     and a record signed by `p2pos record sign` verifies in Chromium;
//   - Chromium encrypts a photo-sized file to a CLI identity's recipient and `p2pos decrypt`
//     recovers the exact bytes; `p2pos encrypt` output decrypts in Chromium;
//   - a passphrase-protected identity made by `p2pos id new` restores in the browser UI with the
//     same id that `p2pos id show` prints.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  DIST,
  DIST_HARNESS,
  launchBrowser,
  openHarness,
  restoreThroughUi,
  runCli,
  startNode,
  tempDir,
} from "./support.mjs";

let harnessNode;
let appNode;
let browser;
let temp;
let harness;

before(async () => {
  harnessNode = await startNode(DIST_HARNESS);
  appNode = await startNode(DIST);
  browser = await launchBrowser();
  temp = await tempDir("interop");
  harness = await openHarness(browser, harnessNode.url);
});

after(async () => {
  await browser?.close();
  await harnessNode?.stop();
  await appNode?.stop();
  await temp?.cleanup();
});

/** `p2pos id new --insecure-no-passphrase` into the temp dir; returns the file and `id show --json`. */
async function newPlainIdentity(name) {
  const file = path.join(temp.dir, name);
  const created = await runCli(["id", "new", "--out", file, "--insecure-no-passphrase"]);
  assert.equal(created.code, 0, created.stderr);
  const shown = await runCli(["id", "show", file, "--json"]);
  assert.equal(shown.code, 0, shown.stderr);
  const info = JSON.parse(shown.stdout);
  assert.deepEqual(Object.keys(info).sort(), ["id", "recipient"]);
  return { file, ...info };
}

test("a record signed in the browser verifies with the Rust CLI; a tampered copy fails", async () => {
  const body = { type: "album", id: "01JC6Z1X2W3V4U5T6S7R8Q9P0N", title: "Summer 2026 ☀️", photos: 5 };
  const { record, id } = await harness.evaluate((b) => window.p2posHarness.signWithNewIdentity(b), body);

  const recordFile = path.join(temp.dir, "record.json");
  await writeFile(recordFile, JSON.stringify(record));
  const verified = await runCli(["record", "verify", recordFile]);
  assert.equal(verified.code, 0, `p2pos record verify failed: ${verified.stderr}`);
  assert.match(verified.stdout, new RegExp(id), "the CLI names the browser's id as signer");

  const tamperedBody = Buffer.from(JSON.stringify({ ...body, photos: 6 })).toString("base64");
  const tamperedFile = path.join(temp.dir, "tampered.json");
  await writeFile(tamperedFile, JSON.stringify({ ...record, body: tamperedBody }));
  const refused = await runCli(["record", "verify", tamperedFile]);
  assert.notEqual(refused.code, 0, "the CLI refuses a tampered record");
});

test("a record signed by the Rust CLI verifies in the browser", async () => {
  const signer = await newPlainIdentity("signer.id");
  const signed = await runCli(["record", "sign", "--identity", signer.file, "-"], { input: '{"type":"photo","n":1}' });
  assert.equal(signed.code, 0, signed.stderr);
  const record = JSON.parse(signed.stdout);
  assert.deepEqual(await harness.evaluate((r) => window.p2posHarness.verify(r), record), { signer: signer.id });
  const forged = { ...record, signer: (await newPlainIdentity("other.id")).id };
  assert.deepEqual(await harness.evaluate((r) => window.p2posHarness.verify(r), forged), { error: "signature" });
});

test("a photo encrypted in the browser decrypts with the Rust CLI, and back", { timeout: 120_000 }, async () => {
  const me = await newPlainIdentity("photo-owner.id");
  const photo = randomBytes(300 * 1024 + 123); // several 64 KiB age chunks and a partial one

  const { file } = await harness.evaluate(
    ([plaintext, recipient]) => window.p2posHarness.encryptToRecipients(plaintext, [recipient]),
    [photo.toString("base64"), me.recipient],
  );
  const encryptedPath = path.join(temp.dir, "photo.jpg.age");
  const decryptedPath = path.join(temp.dir, "photo.jpg");
  await writeFile(encryptedPath, Buffer.from(file, "base64"));
  const decrypted = await runCli(["decrypt", "--identity", me.file, "--out", decryptedPath, encryptedPath]);
  assert.equal(decrypted.code, 0, decrypted.stderr);
  assert.ok((await readFile(decryptedPath)).equals(photo), "the CLI recovers the exact bytes");

  // The other direction, binary and armored: the CLI encrypts, the browser decrypts.
  const identityText = await readFile(me.file, "utf8");
  const ageKey = identityText.split("\n").find((line) => line.startsWith("AGE-SECRET-KEY-1"));
  const plainPath = path.join(temp.dir, "photo2.jpg");
  await writeFile(plainPath, photo);
  for (const armor of [[], ["--armor"]]) {
    const outPath = path.join(temp.dir, `photo2${armor.length ? ".asc" : ""}.age`);
    const encrypted = await runCli(["encrypt", "--recipient", me.recipient, ...armor, "--out", outPath, plainPath]);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    const fileBase64 = (await readFile(outPath)).toString("base64");
    const plaintext = await harness.evaluate(([f, k]) => window.p2posHarness.decrypt(f, [k]), [fileBase64, ageKey]);
    assert.ok(
      Buffer.from(plaintext, "base64").equals(photo),
      `the browser decrypts the CLI's ${armor[0] ?? "binary"} file`,
    );
  }
});

test("an identity made by `p2pos id new` restores in the browser with the same id", { timeout: 120_000 }, async () => {
  const file = path.join(temp.dir, "cli-identity.age");
  const passphraseFile = path.join(temp.dir, "cli-passphrase.txt");
  const passphrase = "Oak and Pine, two houses";
  await writeFile(passphraseFile, `${passphrase}\n`);
  const created = await runCli(["id", "new", "--out", file, "--passphrase-file", passphraseFile]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(await readFile(file, "utf8"), /^-----BEGIN AGE ENCRYPTED FILE-----/, "the CLI writes an armored backup");
  const shown = await runCli(["id", "show", file, "--json", "--passphrase-file", passphraseFile]);
  assert.equal(shown.code, 0, shown.stderr);
  const expected = JSON.parse(shown.stdout);

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${appNode.url}/`);
  await restoreThroughUi(page, file, passphrase);
  // The node is unclaimed, so the claim form comes first and the identity is folded beneath it.
  await page.getByTestId("readable-id").waitFor({ state: "attached", timeout: 60_000 });
  assert.equal(await page.getByTestId("readable-id").getAttribute("data-id"), expected.id);
  assert.equal((await page.getByTestId("age-recipient").textContent()).trim(), expected.recipient);
  await context.close();
});
