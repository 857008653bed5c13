// @ts-check
// (a) Every shared test vector passes inside Chromium, and tampered copies fail as they should.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DIST_HARNESS, launchBrowser, openHarness, startNode } from "./support.mjs";

let node;
let browser;

before(async () => {
  node = await startNode(DIST_HARNESS);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

test("all test vectors pass in Chromium, tampered copies included", { timeout: 300_000 }, async () => {
  const page = await openHarness(browser, node.url);
  const report = await page.evaluate(() => window.p2posHarness.runVectors());

  assert.deepEqual(report.failures, [], "every case behaves as its vector says");
  assert.equal(report.failed, 0);
  for (const [suite, counts] of Object.entries(report.counts)) {
    assert.ok(counts.cases > 0, `${suite}.json has cases`);
    assert.ok(counts.tampered > 0, `${suite}.json has tampered copies`);
  }
  // The vault's last-writer-wins fold, as the Rust vault folds the same records.
  assert.ok(report.counts["vault-state"]?.cases > 0, "vault-state.json ran in the browser");
  // Chat (docs/PROTOCOL.md "Chat"): frames, signals, tags, rendezvous names, bindings (WebCrypto
  // Ed25519), secrets (HKDF) and proofs (HMAC), as the Rust core makes them.
  assert.ok(report.counts.chat?.cases > 0, "chat.json ran in the browser");
  assert.ok(report.counts.chat?.tampered > 0, "chat.json's tampered copies ran in the browser");
  const total = Object.values(report.counts).reduce((sum, c) => sum + c.cases, 0);
  assert.equal(report.passed, total, "every case ran and passed");
  assert.equal(
    report.tamperedFailedAsExpected,
    Object.values(report.counts).reduce((sum, c) => sum + c.tampered, 0),
    "every tampered copy failed with its expected kind",
  );
  console.log(
    `vectors in Chromium: ${report.passed} passed (${report.tamperedFailedAsExpected} tampered copies refused;` +
      ` vault-state: ${report.counts["vault-state"].cases} cases, chat: ${report.counts.chat.cases} cases)`,
  );
});

test(
  "the C2SP age test kit passes in Chromium, payloads through the WebAssembly cipher",
  { timeout: 300_000 },
  async () => {
    const page = await openHarness(browser, node.url);
    const report = await page.evaluate(() => window.p2posHarness.runAgeTestkit());
    assert.deepEqual(report.failures, [], "every case behaves as the kit (or the deviation table) says");
    assert.equal(report.cases, 123, "the whole kit ran");
    assert.equal(report.passed, report.cases);
    assert.equal(report.cipher, "wasm", "Chromium runs the WebAssembly cipher");
    assert.deepEqual(report.checked, { bytes: 98, stream: 98, passphrase: 25 });
    console.log(`age test kit in Chromium: ${report.passed}/${report.cases} cases, cipher ${report.cipher}`);
  },
);

test("the harness really fails: a tampered record does not verify in the browser", async () => {
  const page = await openHarness(browser, node.url);
  const { record } = await page.evaluate(() => window.p2posHarness.signWithNewIdentity({ album: "Summer 2026" }));
  const good = await page.evaluate((r) => window.p2posHarness.verify(r), record);
  assert.ok("signer" in good);
  const tampered = { ...record, body: Buffer.from('{"album":"Winter 2026"}').toString("base64") };
  assert.deepEqual(await page.evaluate((r) => window.p2posHarness.verify(r), tampered), { error: "signature" });
});
