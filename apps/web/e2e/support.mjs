// @ts-check
// Shared plumbing for the browser tests: the real p2pos binary as web server and CLI, and Debian's
// Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import jsQR from "jsqr";
import { chromium } from "playwright-core";

/** @typedef {import("node:stream").Readable} Readable */
/** A helper process: stdin ignored, stdout and stderr read. */
/** @typedef {import("node:child_process").ChildProcessByStdio<null, Readable, Readable>} Child */
/** @typedef {import("playwright-core").Browser} Browser */
/** @typedef {import("playwright-core").BrowserContext} BrowserContext */
/** @typedef {import("playwright-core").Page} Page */
/** @typedef {import("playwright-core").Locator} Locator */
/** @typedef {{ code: number | null, signal: NodeJS.Signals | null, error?: NodeJS.ErrnoException }} Exit */
/**
 * A helper process started by `spawnTracked`.
 * @typedef {object} Tracked
 * @property {Child} child
 * @property {Promise<Exit>} exited
 * @property {() => string} output everything it printed so far
 * @property {() => Promise<void>} stop SIGTERM, then SIGKILL after 5 s; resolves once it has exited
 */
/**
 * A running `p2pos` server (`startP2pos`).
 * @typedef {object} P2posServer
 * @property {string} url
 * @property {number} port
 * @property {() => string} output
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} kill
 * @property {Promise<Exit>} exited
 */
/**
 * A running `p2pos node` (`startNode`).
 * @typedef {P2posServer & { dataDir: string, setupCode: string | undefined }} P2posNode
 */
/**
 * A running hub (`startHub`).
 * @typedef {P2posServer & { wsUrl: string | undefined }} P2posHub
 */

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(here, "..");
export const REPO_ROOT = path.resolve(WEB_DIR, "../..");
export const P2POS_BIN = process.env.P2POS_BIN ?? path.join(REPO_ROOT, "target/debug/p2pos");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** The built web app the tests serve (`P2POS_WEB_DIST` overrides, e.g. for a build of its own). */
export const DIST = process.env.P2POS_WEB_DIST ?? path.join(WEB_DIR, "dist");
export const DIST_HARNESS = path.join(WEB_DIR, "dist-harness");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-gpu",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  // Gather WebRTC candidates on loopback too, where the tests' nodes listen.
  "--allow-loopback-in-peer-connection",
];

/**
 * Fail early with a useful message instead of a spawn ENOENT deep in a test.
 * @param {string} webDir
 */
export function requireBuilt(webDir) {
  if (!existsSync(P2POS_BIN)) {
    throw new Error(`p2pos binary not found at ${P2POS_BIN}: run \`cargo build\` at the repo root or set P2POS_BIN`);
  }
  if (!existsSync(path.join(webDir, "index.html"))) {
    throw new Error(`${webDir} is not built: run \`npm run build\` and \`npm run build:harness\` in apps/web`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
}

/**
 * Children still running, killed if this test process exits without stopping them (a crash, a signal).
 * @type {Set<import("node:child_process").ChildProcess>}
 */
const running = new Set();
function killRunning() {
  for (const child of running) child.kill("SIGKILL");
}
process.once("exit", killRunning);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killRunning();
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  });
}

/**
 * Spawn a long-running helper process (p2pos, coturn) that dies with this test process at the latest.
 * Resolves at once to { child, exited, output, stop }; `output()` is everything it printed so far.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ env?: NodeJS.ProcessEnv }} [options]
 * @returns {Tracked}
 */
export function spawnTracked(command, args, { env } = {}) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
  running.add(child);
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  /** @type {Promise<Exit>} */
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once("error", (error) => {
      running.delete(child);
      resolve({ code: null, signal: null, error });
    });
  });
  return {
    child,
    exited,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Run `p2pos <args>` as a server and wait for its "listening on http://127.0.0.1:PORT" line on stdout;
 * resolves to { url, port, output, stop, kill, exited }: `stop` ends it with SIGTERM, `kill` with
 * SIGKILL (a crash: no clean shutdown), both resolving once it has exited.
 * @param {string[]} args
 * @param {string} [label]
 * @returns {Promise<P2posServer>}
 */
export async function startP2pos(args, label = args[0]) {
  // A data dir of 100,000 photos (the large-vault bench) takes longer to open on a busy machine.
  const startMs = Number(process.env.P2POS_START_MS ?? 30_000);
  const proc = spawnTracked(P2POS_BIN, args, { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" } });
  try {
    /** @type {string} */
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`p2pos ${label} did not report its address in ${startMs / 1000} s\n${proc.output()}`)),
        startMs,
      );
      let buffered = "";
      proc.child.stdout.on("data", (chunk) => {
        buffered += chunk;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buffered);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      void proc.exited.then(({ code, signal, error }) => {
        clearTimeout(timer);
        reject(
          new Error(
            `p2pos ${label} exited early (code ${code}, signal ${signal}${error ? `, ${error}` : ""})\n${proc.output()}`,
          ),
        );
      });
    });
    return {
      url,
      port: Number(new URL(url).port),
      output: proc.output,
      stop: proc.stop,
      exited: proc.exited,
      async kill() {
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
        await proc.exited;
      },
    };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/**
 * Start `p2pos node` serving `webDir`; resolves to { url, port, dataDir, setupCode, stop, kill, exited }.
 * By default it listens on a free loopback port with its data in a fresh temp dir that is removed
 * when it stops. Options: `listen` (e.g. "127.0.0.1:7001", to restart a node where it was),
 * `dataDir` (kept when it stops: the caller owns it) and `args`, more flags for `p2pos node`.
 * The node prints "Setup code: XXXXX-XXXXX" (while it belongs to no family) and then
 * "listening on http://127.0.0.1:PORT" on stdout once it accepts connections.
 * @param {string} webDir
 * @param {{ listen?: string, dataDir?: string, args?: string[] }} [options]
 * @returns {Promise<P2posNode>}
 */
export async function startNode(webDir, { listen = "127.0.0.1:0", dataDir: given, args = [] } = {}) {
  requireBuilt(webDir);
  const dataDir = given ?? (await mkdtemp(path.join(tmpdir(), "p2pos-node-")));
  const label = args[args.indexOf("--name") + 1] ?? "node";
  const node = await startP2pos(
    ["node", "--listen", listen, "--web-dir", webDir, "--data-dir", dataDir, ...args],
    args.includes("--name") ? `node ${label}` : "node",
  );
  const setupCode = /Setup code: (\S+)/.exec(node.output())?.[1];
  return {
    ...node,
    dataDir,
    setupCode,
    stop: async () => {
      await node.stop();
      if (!given) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A loopback TCP port that was free a moment ago (for a node that must come back on the same port).
 * @returns {Promise<number>}
 */
export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  server.close();
  await once(server, "close");
  return port;
}

/**
 * Start the hub, `p2pos signal`, on a free loopback port, serving `webDir`, with extra flags;
 * resolves to { url, port, wsUrl, output, stop, kill, exited }; `wsUrl` is the native WebSocket
 * nodes use (`--hub`), from its "native: ws://…/v1/ws" line.
 * @param {string} webDir
 * @param {string[]} [extraArgs]
 * @returns {Promise<P2posHub>}
 */
export async function startHub(webDir, extraArgs = []) {
  requireBuilt(webDir);
  const hub = await startP2pos(["signal", "--listen", "127.0.0.1:0", "--web-dir", webDir, ...extraArgs]);
  const wsUrl = /native: (ws:\/\/\S+\/v1\/ws)/.exec(hub.output())?.[1];
  return { ...hub, wsUrl };
}

/**
 * Launch headless Chromium (`executablePath`: another binary or a wrapper; `args`: more flags);
 * resolves to the Browser.
 * @param {{ executablePath?: string, args?: string[] }} [options]
 * @returns {Promise<Browser>}
 */
export async function launchBrowser({ executablePath = CHROMIUM, args = [] } = {}) {
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...args] });
}

/**
 * Run the p2pos CLI; resolves to { code, stdout, stderr } (never rejects on a non-zero exit).
 * @param {string[]} args
 * @param {{ input?: string | Uint8Array }} [options]
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string }>}
 */
export async function runCli(args, { input } = {}) {
  // stdin is a pipe only with `input`; the type says it always is, and it is used only then.
  const child = /** @type {import("node:child_process").ChildProcessWithoutNullStreams} */ (
    spawn(P2POS_BIN, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  if (input !== undefined) {
    // A command that exits without reading its input must not crash the test run with EPIPE.
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  // "close", not "exit": it fires once stdout and stderr have been read to their end.
  const [code] = await once(child, "close");
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * A fresh temporary directory, removed by the returned cleanup.
 * @param {string} prefix
 * @returns {Promise<{ dir: string, cleanup: () => Promise<void> }>}
 */
export async function tempDir(prefix) {
  const dir = await mkdtemp(path.join(tmpdir(), `p2pos-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Open the harness page and wait for window.p2posHarness.
 * @param {Browser} browser
 * @param {string} url
 * @returns {Promise<Page>}
 */
export async function openHarness(browser, url) {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error("[harness page error]", error));
  await page.goto(`${url}/`);
  await page.waitForFunction(() => window.p2posHarness !== undefined, null, { timeout: 30_000 });
  return page;
}

/**
 * What this browser stored for its identity, read straight from IndexedDB (as any script in the
 * page could). Call only after the app has loaded: opening the database first would create it
 * without the app's object store.
 * @param {Page} page
 */
export async function storedIdentity(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("p2pos");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const request = db.transaction("identity").objectStore("identity").get("current");
          request.onerror = () => reject(request.error);
          request.onsuccess = () => {
            db.close();
            const value = request.result;
            if (!value) return resolve(null);
            const describeKey = (key) => ({
              isCryptoKey: key instanceof CryptoKey,
              extractable: key.extractable,
              algorithm: key.algorithm.name,
              type: key.type,
              usages: key.usages,
            });
            resolve({
              id: value.id,
              recipient: value.recipient,
              fields: Object.keys(value).sort(),
              signingKey: describeKey(value.signingKey),
              ageKey: describeKey(value.ageKey),
              backupIsArmored: value.backup.startsWith("-----BEGIN AGE ENCRYPTED FILE-----"),
            });
          };
        };
      }),
  );
}

/**
 * Restore through the UI: choose the file, type the passphrase, submit.
 * @param {Page} page
 * @param {string} file
 * @param {string} passphrase
 */
export async function restoreThroughUi(page, file, passphrase) {
  await page.getByTestId("restore-file").setInputFiles(file);
  await page.getByTestId("restore-passphrase").fill(passphrase);
  await page.getByTestId("restore-submit").click();
}

/**
 * Open `url` in a new page of `context`, logging the page's uncaught errors under `label`.
 * @param {BrowserContext} context
 * @param {string} url
 * @param {string} label
 * @returns {Promise<Page>}
 */
export async function newPage(context, url, label) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`[${label} page error]`, error));
  await page.goto(`${url}/`);
  return page;
}

/**
 * Fill in and submit the create-identity form.
 * @param {Page} page
 * @param {string} name
 * @param {string} passphrase
 */
export async function submitNewIdentity(page, name, passphrase) {
  const create = page.getByTestId("create-identity");
  await create.getByTestId("create-name").fill(name);
  await create.getByTestId("create-passphrase").fill(passphrase);
  await create.getByTestId("create-passphrase-confirm").fill(passphrase);
  await create.getByTestId("create-submit").click();
}

/**
 * The step that ends creating an identity in the vault: download the backup, then check it (choose
 * the downloaded file, type the passphrase). Resolves to the downloaded file's path, valid while
 * the page's browser context is open.
 * @param {Page} page
 * @param {string} passphrase
 * @returns {Promise<string>}
 */
export async function backUpThroughUi(page, passphrase) {
  const step = page.getByTestId("backup-step");
  await step.waitFor({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), step.getByTestId("backup-download").click()]);
  const file = await download.path();
  await step.getByTestId("backup-check-file").setInputFiles(file);
  await step.getByTestId("backup-check-passphrase").fill(passphrase);
  await step.getByTestId("backup-check-submit").click();
  await step.waitFor({ state: "detached", timeout: 60_000 });
  return file;
}

/**
 * Create an identity through the UI of the vault, with its required backup step; resolves to its
 * id and age recipient (read from the identity view, which may be folded away on the claim screen).
 * @param {Page} page
 * @param {string} name
 * @param {string} passphrase
 * @returns {Promise<{ id: string | null, recipient: string }>}
 */
export async function createIdentity(page, name, passphrase) {
  await submitNewIdentity(page, name, passphrase);
  await backUpThroughUi(page, passphrase);
  const idElement = page.getByTestId("readable-id");
  await idElement.waitFor({ state: "attached", timeout: 60_000 });
  return {
    id: await idElement.getAttribute("data-id"),
    recipient: ((await page.getByTestId("age-recipient").textContent()) ?? "").trim(),
  };
}

/**
 * The text of the QR code drawn on a canvas (a `QrCode` component), read back from its pixels.
 * @param {Locator} locator
 * @returns {Promise<string | undefined>}
 */
export async function readQrCanvas(locator) {
  const { width, height, data } = await locator.evaluate((/** @type {HTMLCanvasElement} */ canvas) => {
    const image = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d")).getImageData(
      0,
      0,
      canvas.width,
      canvas.height,
    );
    return { width: image.width, height: image.height, data: Array.from(image.data) };
  });
  return jsQR(Uint8ClampedArray.from(data), width, height)?.data;
}

/**
 * Run axe-core (the npm package, injected into the page) on the page as it is now; resolves to the
 * violations, each with its rule id, impact, help text and the selectors of up to three nodes.
 * @param {Page} page
 * @returns {Promise<{ id: string, impact: string | null, help: string, nodes: string[] }[]>}
 */
export async function axeViolations(page) {
  // Evaluated through the DevTools protocol: the page's CSP (no inline scripts) does not apply to it.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(await axeSource());
  return page.evaluate(async () => {
    // @ts-expect-error axe is the global the injected script defines
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map(
      (
        /** @type {{ id: string, impact: string | null, help: string, nodes: { target: string[], failureSummary?: string }[] }} */ v,
      ) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}: ${n.failureSummary ?? ""}`),
      }),
    );
  });
}

/** @type {string | undefined} */
let axeScript;
async function axeSource() {
  axeScript ??= await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  return axeScript;
}
