// @ts-check
// The network lab's browser case (crates/p2pos/tests/it/netlab.rs runs it): Chromium inside a home
// namespace (CHROMIUM is a wrapper that execs Chromium under `ip netns exec`) opens the vault of a
// node in another home through the hub — `URL` is `http://<hub>/?node=<id>[&via=relay]` — restores
// the identity from `BACKUP` with `PASSPHRASE`, and waits until the album titled `TITLE` (its title
// decrypted in this browser) lists `PHOTOS` photos. With `PEER` and `LABEL`, it then opens the
// Nodes page and waits until the row of the peer node named `PEER` shows the status `LABEL`.
// Prints one JSON line: {ok, path, photos, seconds, peer?: {label, detail, error}} or
// {ok: false, error}.
//
//   node e2e/netlab-browser.mjs CHROMIUM URL BACKUP PASSPHRASE TITLE PHOTOS [PEER LABEL]
import { launchBrowser } from "./support.mjs";

const [chromiumPath, url, backup, passphrase, title, photos, peerName, peerLabel] = process.argv.slice(2);
if (!photos || (peerName && !peerLabel)) {
  console.error("usage: node e2e/netlab-browser.mjs CHROMIUM URL BACKUP PASSPHRASE TITLE PHOTOS [PEER LABEL]");
  process.exit(2);
}
const started = Date.now();
// The lab's hub speaks plain HTTP on a documentation address (a real one is behind HTTPS); the
// web app needs a secure context for WebCrypto, so this origin is treated as one.
const browser = await launchBrowser({
  executablePath: chromiumPath,
  args: [`--unsafely-treat-insecure-origin-as-secure=${new URL(url).origin}`],
});
/** @type {{ ok: boolean, error?: string, path?: string | null, photos?: number, seconds?: number, peer?: { label: string | null, detail: string | null, error: string | null } }} */
let result;
const page = await browser.newPage();
try {
  await page.goto(url);
  await page.getByTestId("restore-file").setInputFiles(backup);
  await page.getByTestId("restore-passphrase").fill(passphrase);
  await page.getByTestId("restore-submit").click();
  const banner = page.getByTestId("remote-banner");
  const failed = page.getByTestId("remote-failed");
  await banner.or(failed).first().waitFor({ timeout: 90_000 });
  if (await failed.isVisible()) throw new Error((await page.getByTestId("remote-error").textContent()) ?? "");
  const path = await banner.getAttribute("data-path");
  await page.getByTestId("nav-albums").click();
  const card = page.locator('[data-testid="album-card"]', { hasText: title });
  await card.waitFor({ timeout: 60_000 });
  await card.locator("a").click();
  await page.getByTestId("album-page").waitFor({ timeout: 30_000 });
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="photo-thumb"]').length === n,
    Number(photos),
    { timeout: 90_000, polling: 250 },
  );
  result = { ok: true, path, photos: Number(photos), seconds: (Date.now() - started) / 1000 };
  if (peerName) {
    await page.getByTestId("nav-nodes").click();
    const row = page.locator(`[data-testid="peer-row"][data-node-name="${peerName}"]`);
    await row.getByTestId("peer-label").filter({ hasText: peerLabel }).waitFor({ timeout: 90_000 });
    const text = (id) =>
      row
        .getByTestId(id)
        .textContent()
        .catch(() => null);
    result.peer = {
      label: await text("peer-label"),
      detail: await text("peer-detail"),
      error: await text("peer-last-error"),
    };
  }
} catch (error) {
  // What the page showed, to say why.
  const shown = await page
    .locator("main")
    .innerText()
    .catch(() => "");
  result = {
    ok: false,
    error: `${String(error instanceof Error ? error.message : error)}\n--- the page showed:\n${shown.slice(0, 2000)}`,
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
