#!/usr/bin/env node
// The browser's encryption overhead: uploading files through the vault UI (age encryption and
// BLAKE3 in a Web Worker, meta, records) against PUTting the same bytes unencrypted from the same
// page, two at a time in both cases. Goal (issue 4): overhead ≤ 25 %.
//
//   node bench/browser-upload.mjs [FILES] [MIB_EACH]      (defaults: 8 files of 16 MiB)
//
// Needs `make web` (apps/web/dist) and a built `p2pos` ($P2POS_BIN, default target/debug/p2pos;
// a release build gives the node's real speed). Uses Debian's Chromium via playwright-core.
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.join(here, "../apps/web");
const require = createRequire(path.join(web, "package.json"));
const { blake3 } = await import(require.resolve("@noble/hashes/blake3.js"));
const { DIST, createIdentity, launchBrowser, startNode, tempDir } = await import(path.join(web, "e2e/support.mjs"));

const FILES = Number(process.argv[2] ?? 8);
const MIB = Number(process.argv[3] ?? 16);
const PASSPHRASE = "a long and careful benchmark passphrase";
const hex = (bytes) => Buffer.from(bytes).toString("hex");

const node = await startNode(DIST);
const browser = await launchBrowser();
const temp = await tempDir("bench-upload");
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${node.url}/`);
  await createIdentity(page, "Bench", PASSPHRASE);
  await page.getByTestId("claim-code").fill(node.setupCode);
  await page.getByTestId("claim-submit").click();
  await page.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
  await page.getByTestId("nav-albums").click();
  await page.getByTestId("album-title-input").fill("Benchmark");
  await page.getByTestId("album-create").click();
  await page.getByTestId("album-page").waitFor();

  // Two sets of distinct random files (random bytes do not compress, like photos).
  const make = async (label) => {
    const files = [];
    for (let i = 0; i < FILES; i++) {
      const bytes = randomBytes(MIB << 20);
      const file = path.join(temp.dir, `${label}-${i}.bin`);
      await writeFile(file, bytes);
      files.push({ file, id: hex(blake3(bytes)), size: bytes.length });
    }
    return files;
  };
  const plainFiles = await make("plain");
  const vaultFiles = await make("vault");
  const total = FILES * (MIB << 20);

  // Plain: the same page PUTs the bytes as they are (ids computed beforehand), two at a time.
  await page.evaluate(() => {
    const input = Object.assign(document.createElement("input"), { type: "file", multiple: true, id: "bench-input" });
    input.hidden = true;
    document.body.append(input);
  });
  await page.setInputFiles("#bench-input", plainFiles.map((f) => f.file));
  const plainMs = await page.evaluate(async (ids) => {
    const files = [...document.getElementById("bench-input").files];
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const response = await fetch(`/v1/blobs/${ids[i]}`, {
          method: "PUT",
          headers: { "Content-Type": "application/octet-stream" },
          body: files[i],
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(`PUT ${response.status}`);
      }
    };
    await Promise.all([worker(), worker()]);
    return performance.now() - start;
  }, plainFiles.map((f) => f.id));

  // Encrypted: the vault UI, from choosing the files to every upload done.
  const start = Date.now();
  await page.getByTestId("upload-input").setInputFiles(vaultFiles.map((f) => f.file));
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="upload-item"][data-status="done"]').length === n,
    FILES,
    { timeout: 600_000, polling: 50 },
  );
  const vaultMs = Date.now() - start;

  const rate = (ms) => ((total / 1e6) / (ms / 1000)).toFixed(1);
  console.log(`${FILES} files × ${MIB} MiB`);
  console.log(`plain PUT (no encryption): ${plainMs.toFixed(0)} ms, ${rate(plainMs)} MB/s`);
  console.log(`vault UI (encrypt + upload): ${vaultMs} ms, ${rate(vaultMs)} MB/s`);
  console.log(`encryption overhead: ${(((vaultMs - plainMs) / plainMs) * 100).toFixed(0)} %`);
} finally {
  await browser.close();
  await node.stop();
  await temp.cleanup();
}
