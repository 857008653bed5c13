#!/usr/bin/env node
// age's payload cipher in Chromium: sealing and opening 64 KiB STREAM chunks in one thread with
// the WebAssembly module (crates/p2pos-age-stream) and with @noble/ciphers (typage's own).
// Goal (issue 16): ≥ 600 MB/s in one worker.
//
//   node bench/browser-cipher.mjs [MIB] [RUNS]      (defaults: 128 MiB, best of 5)
//
// Needs the harness build (`cd apps/web && npm run build:harness`) and a built `p2pos`
// ($P2POS_BIN, default target/debug/p2pos), which only serves the page.
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.join(here, "../apps/web");
const { DIST_HARNESS, launchBrowser, openHarness, startNode } = await import(
  path.join(web, "e2e/support.mjs")
);

const MIB = Number(process.argv[2] ?? 128);
const RUNS = Number(process.argv[3] ?? 5);
const node = await startNode(DIST_HARNESS);
const browser = await launchBrowser();
try {
  const page = await openHarness(browser, node.url);
  const speeds = await page.evaluate(
    ([mib, runs]) => window.p2posHarness.chunkCipherSpeed(mib, runs),
    [MIB, RUNS],
  );
  const js = speeds.js;
  console.log(
    `age STREAM chunks in Chromium, one thread, ${MIB} MiB, best of ${RUNS} (MB/s):`,
  );
  console.log("| cipher | seal | open | seal vs @noble/ciphers |");
  console.log("|---|--:|--:|--:|");
  for (const [name, { seal, open }] of Object.entries(speeds)) {
    const label =
      name === "wasm"
        ? "WebAssembly (p2pos-age-stream, simd128)"
        : "@noble/ciphers (JavaScript)";
    console.log(
      `| ${label} | ${seal} | ${open} | ${(seal / js.seal).toFixed(1)}× |`,
    );
  }
} finally {
  await browser.close();
  await node.stop();
}
