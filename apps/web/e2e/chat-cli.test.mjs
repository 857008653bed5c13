// @ts-check
// Chat between the terminal client (`p2pos chat --json`, crates/p2pos/src/chat_cmd.rs) and the
// web Chat page (apps/web/src/chat/), built apart from one spec (docs/PROTOCOL.md, "Chat (v1)"),
// through a real hub (`p2pos signal --web-dir dist`) on loopback, where both share one public
// address and so one network:
// 1. The page asks the terminal "Cli", the terminal accepts: both prove their identities and save
//    each other; messages go both ways with delivered and read receipts, and an image each way.
// 2. A second terminal, "Tia", asks the page, the page accepts, and they chat.
// 3. "Cli" restarts and calls the page by identity (contacts-only mode on both hub connections);
//    the page answers without asking, and they chat again.
// No fixed sleeps: every step waits for a JSON event of the terminal or a state of the page.
//
// `P2POS_WEB_DIST` chooses the built web app, `P2POS_BIN` the p2pos binary (support.mjs).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import { DIST, P2POS_BIN, launchBrowser, runCli, startHub, submitNewIdentity } from "./support.mjs";

const PASSPHRASE = "a long and careful chat passphrase";
const WAIT_MS = 20_000;

// A PNG with noise, so it spans more than one 64 KiB chunk (each a 64 KiB + 1 byte frame).
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(/** @type {Uint8Array} */ bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(/** @type {string} */ type, /** @type {Buffer} */ data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function testPng(/** @type {number} */ width, /** @type {number} */ height, seed = 4242) {
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) & 0xff;
  };
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set([noise(), 120, noise()], row + 1 + x * 3);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** @typedef {Record<string, any>} ChatEvent */

/** One `p2pos chat --json` process, driven through stdin, read through its events on stdout. */
class Terminal {
  /**
   * @param {string} hubUrl
   * @param {string} name
   * @param {string} identity
   * @param {string} dir
   */
  constructor(hubUrl, name, identity, dir) {
    this.name = name;
    this.child = spawn(
      P2POS_BIN,
      [
        "chat",
        "--json",
        "--rtc-bind",
        "127.0.0.1:0",
        "--hub",
        hubUrl,
        "--name",
        name,
        "--identity",
        identity,
        "--dir",
        dir,
      ],
      { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "error" } },
    );
    /** @type {ChatEvent[]} every event so far */
    this.seen = [];
    /** @type {ChatEvent[]} events not yet taken by `expect` */
    this.queue = [];
    /** @type {(() => void) | undefined} */
    this.wake = undefined;
    this.stderr = "";
    this.child.stderr.setEncoding("utf8").on("data", (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      /** @type {ChatEvent} */
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        event = { event: "not-json", line };
      }
      this.seen.push(event);
      this.queue.push(event);
      this.wake?.();
    });
    this.child.once("exit", () => this.wake?.());
  }

  /** @param {string} line */
  say(line) {
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * The next event named `name` that satisfies `pred` (earlier ones of other kinds are skipped).
   * @param {string} name
   * @param {(e: ChatEvent) => boolean} [pred]
   * @returns {Promise<ChatEvent>}
   */
  async expect(name, pred = () => true) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const at = this.queue.findIndex((e) => e.event === name && pred(e));
      if (at >= 0) {
        const [event] = this.queue.splice(0, at + 1).slice(-1);
        return /** @type {ChatEvent} */ (event);
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(
          `${this.name}: no ${name} event within ${WAIT_MS} ms; saw ${JSON.stringify(this.seen)}; stderr: ${this.stderr}`,
        );
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
      });
    }
  }

  /** The number `/nearby` lists `name` under, waiting for it to arrive. */
  async nearby(/** @type {string} */ name) {
    for (;;) {
      this.say("/nearby");
      const list = await this.expect("nearby");
      const peer = list["peers"].find((/** @type {ChatEvent} */ p) => p["name"] === name);
      if (peer) return /** @type {number} */ (peer["n"]);
      await this.expect("arrived");
    }
  }

  /** Ends it as Ctrl-D does; it must exit cleanly. */
  async quit() {
    this.child.stdin.end();
    const code = await this.exited;
    assert.equal(code, 0, `${this.name} exited with ${code}: ${this.stderr}`);
  }

  kill() {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** @typedef {import("playwright-core").Page} Page */

const nearbyEntry = (/** @type {Page} */ page, /** @type {string} */ name) =>
  page.locator(`[data-testid="nearby-entry"][data-name="${name}"]`);
const contactEntry = (/** @type {Page} */ page, /** @type {string} */ name) =>
  page.locator(`[data-testid="contact"][data-name="${name}"]`);
const online = (/** @type {Page} */ page, /** @type {string} */ name) =>
  contactEntry(page, name).and(page.locator('[data-online="yes"]'));

describe("Chat between `p2pos chat` and the web page", { timeout: 120_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startHub>>} */
  let hub;
  /** @type {import("playwright-core").Browser} */
  let browser;
  /** @type {string} */
  let root;
  /** @type {Terminal[]} */
  const terminals = [];

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "p2pos-chat-cli-"));
    hub = await startHub(DIST);
    browser = await launchBrowser();
  });

  after(async () => {
    for (const t of terminals) t.kill();
    await browser?.close();
    await hub?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A terminal person: an identity file (no passphrase: a test identity) and a chat directory. */
  async function terminalPerson(/** @type {string} */ name) {
    const identity = path.join(root, `${name}.identity`);
    const made = await runCli(["id", "new", "--out", identity, "--insecure-no-passphrase"]);
    assert.equal(made.code, 0, made.stderr);
    return { identity, dir: path.join(root, name) };
  }

  async function startTerminal(/** @type {string} */ name, /** @type {{ identity: string, dir: string }} */ who) {
    assert.ok(hub.wsUrl, "the hub printed its native WebSocket URL");
    const terminal = new Terminal(hub.wsUrl, name, who.identity, who.dir);
    terminals.push(terminal);
    const ready = await terminal.expect("ready");
    return { terminal, id: /** @type {string} */ (ready["id"]) };
  }

  /** The page's message `text` from the other side, and that the terminal heard it was read. */
  async function terminalSays(/** @type {Terminal} */ terminal, /** @type {Page} */ page, /** @type {string} */ text) {
    terminal.say(text);
    const sent = await terminal.expect("sent");
    await page.locator('[data-testid="message"][data-from="them"]').getByText(text).waitFor({ timeout: WAIT_MS });
    await terminal.expect("receipt", (e) => e["id"] === sent["id"] && e["kind"] === "delivered");
    await terminal.expect("receipt", (e) => e["id"] === sent["id"] && e["kind"] === "read");
  }

  /** The terminal shows the page's message `text`; the page shows it read. */
  async function pageSays(/** @type {Page} */ page, /** @type {Terminal} */ terminal, /** @type {string} */ text) {
    await page.getByTestId("composer").fill(text);
    await page.getByTestId("send").click();
    const got = await terminal.expect("message", (e) => e["text"] === text);
    assert.equal(got["re"], null);
    await page
      .locator('[data-testid="message"][data-from="me"][data-status="read"]')
      .getByText(text)
      .waitFor({ timeout: WAIT_MS });
  }

  test("the page asks and the terminal accepts; the terminal asks and the page accepts; contacts call by identity", async () => {
    const started = Date.now();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    page.on("pageerror", (error) => console.error("[page error]", error));
    await page.goto(`${hub.url}/chat?test-hooks`);
    const [cliWho, tiaWho] = await Promise.all([
      terminalPerson("cli"),
      terminalPerson("tia"),
      submitNewIdentity(page, "Web", PASSPHRASE),
    ]);
    await page.getByTestId("chat-name-form").waitFor({ timeout: 60_000 });
    await page.getByTestId("chat-name-save").click();
    await page.locator('[data-testid="chat-main"][data-status="ready"]').waitFor({ timeout: 30_000 });
    const webId = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open("p2pos");
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const request = open.result.transaction("identity").objectStore("identity").get("current");
            request.onsuccess = () => resolve(request.result?.id);
            request.onerror = () => reject(request.error);
          };
        }),
    );
    assert.ok(typeof webId === "string" && webId.length > 0, "the page has an identity");

    // --- 1. The page asks the terminal; the terminal accepts; identities are proven.
    let { terminal: cli, id: cliId } = await startTerminal("Cli", cliWho);
    await nearbyEntry(page, "Cli").getByTestId("connect").click({ timeout: WAIT_MS });
    const asked = await cli.expect("asked");
    assert.equal(asked["name"], "Web");
    cli.say("/accept");
    const cliOpen = await cli.expect("open");
    assert.equal(cliOpen["id"], webId, "the terminal proved the page's identity");
    assert.equal(cliOpen["name"], "Web");
    assert.equal(cliOpen["new_contact"], true);
    assert.equal(cliOpen["path"], "direct", "loopback needs no relay");
    await online(page, "Cli").waitFor({ timeout: WAIT_MS });
    assert.equal(
      await contactEntry(page, "Cli").getAttribute("data-id"),
      cliId,
      "the page proved the terminal's identity",
    );
    const saved = JSON.parse(await readFile(path.join(cliWho.dir, "contacts.json"), "utf8"));
    assert.deepEqual(
      saved["contacts"].map((/** @type {ChatEvent} */ c) => c["id"]),
      [webId],
      "the terminal saved the page as a contact",
    );

    // Messages both ways, each delivered and read.
    await contactEntry(page, "Cli").getByTestId("open-chat").click();
    await pageSays(page, cli, "hello from the browser, ünïcödé 🌅");
    await terminalSays(cli, page, "hello from the terminal");

    // An image each way (more than one 64 KiB chunk, so a chunk frame is 64 KiB + 1 byte).
    const toPage = testPng(320, 240, 7);
    const toPagePath = path.join(root, "to-page.png");
    await writeFile(toPagePath, toPage);
    cli.say(`/image ${toPagePath}`);
    const imageSent = await cli.expect("sent");
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid="message"][data-from="them"] [data-testid="message-image"]')].some(
          (img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth === 320,
        ),
      undefined,
      { timeout: WAIT_MS },
    );
    await cli.expect("receipt", (e) => e["id"] === imageSent["id"] && e["kind"] === "read");
    const toCli = testPng(300, 200, 99);
    await page.getByTestId("image-input").setInputFiles({ name: "door.png", mimeType: "image/png", buffer: toCli });
    const image = await cli.expect("image");
    assert.equal(image["type"], "image/png");
    assert.equal(image["size"], toCli.length);
    assert.ok((await readFile(image["path"])).equals(toCli), "the terminal saved the page's image byte for byte");
    await page
      .locator('[data-testid="message"][data-from="me"][data-status="read"]')
      .nth(1)
      .waitFor({ timeout: WAIT_MS });
    await page.getByTestId("back").click();
    const phase1 = Date.now();

    // --- 2. A terminal asks the page; the page accepts; they chat.
    const { terminal: tia, id: tiaId } = await startTerminal("Tia", tiaWho);
    tia.say(`/connect ${await tia.nearby("Web")}`);
    await tia.expect("requesting");
    const request = page.locator('[data-testid="request"][data-name="Tia"]');
    await request.getByTestId("accept").click({ timeout: WAIT_MS });
    await tia.expect("accepted");
    const tiaOpen = await tia.expect("open");
    assert.equal(tiaOpen["id"], webId);
    assert.equal(tiaOpen["new_contact"], true);
    await online(page, "Tia").waitFor({ timeout: WAIT_MS });
    assert.equal(await contactEntry(page, "Tia").getAttribute("data-id"), tiaId);
    await contactEntry(page, "Tia").getByTestId("open-chat").click();
    await terminalSays(tia, page, "hi Web, Tia here");
    await pageSays(page, tia, "hi Tia");
    await tia.quit();
    await page.getByTestId("back").click();
    const phase2 = Date.now();

    // --- 3. "Cli" restarts and calls the page by identity; the page answers; they chat again.
    await cli.quit();
    await contactEntry(page, "Cli").and(page.locator('[data-online="no"]')).waitFor({ timeout: WAIT_MS });
    ({ terminal: cli } = await startTerminal("Cli", cliWho));
    cli.say("/call Web");
    await cli.expect("calling", (e) => e["id"] === webId);
    const again = await cli.expect("open");
    assert.equal(again["id"], webId);
    assert.equal(again["new_contact"], false, "a contact is not saved twice");
    await online(page, "Cli").waitFor({ timeout: WAIT_MS });
    assert.equal(await contactEntry(page, "Cli").getAttribute("data-via"), "identity", "the call came by identity");
    await contactEntry(page, "Cli").getByTestId("open-chat").click();
    await terminalSays(cli, page, "back again");
    await pageSays(page, cli, "welcome back");
    const phase3 = Date.now();

    // --- 4. Glare: both ring at once. The side with the smaller id keeps its call, the other
    // cancels its own and answers: one session opens, the same on both sides.
    cli.say("/leave");
    await cli.expect("closed", (e) => e["reason"] === "left");
    await page.getByTestId("back").click();
    await contactEntry(page, "Cli").and(page.locator('[data-online="no"]')).waitFor({ timeout: WAIT_MS });
    cli.queue.length = 0;
    const since = cli.seen.length;
    // The terminal's call and the page's "Ping" leave together (a click in the page itself: the
    // button goes once the terminal's call arrives). Whichever arrives first, the rule settles it.
    cli.say("/call Web");
    await page.evaluate(() =>
      /** @type {HTMLButtonElement | null} */ (
        document.querySelector('[data-testid="contact"][data-name="Cli"] [data-testid="ping"]')
      )?.click(),
    );
    const calling = await cli.expect("calling");
    const opened = await cli.expect("open");
    await online(page, "Cli").waitFor({ timeout: WAIT_MS });
    const open = (await page.evaluate(() => window.p2posChatTest?.conns() ?? [])).filter((c) => c.phase === "open");
    assert.deepEqual(
      open.map((c) => c.rq),
      [opened["rq"]],
      `the page and the terminal opened one and the same session: ${JSON.stringify(cli.seen.slice(since))}`,
    );
    if (cliId < webId) {
      assert.equal(opened["rq"], calling["rq"], "the terminal, with the smaller id, kept its own call");
    } else if (opened["rq"] !== calling["rq"]) {
      // The calls crossed and the terminal answered the page's: its own was cancelled, at once.
      assert.ok(
        cli.seen
          .slice(since)
          .some((e) => e["event"] === "closed" && e["rq"] === calling["rq"] && e["reason"] === "cancelled"),
        "the terminal, with the greater id, cancelled its own call before answering",
      );
    }
    await contactEntry(page, "Cli").getByTestId("open-chat").click();
    await terminalSays(cli, page, "rang at once");
    await pageSays(page, cli, "and only one of us got through");
    await cli.quit();
    console.log(
      `chat-cli: phase 1 ${phase1 - started} ms, phase 2 ${phase2 - phase1} ms, phase 3 ${phase3 - phase2} ms, glare ${Date.now() - phase3} ms`,
    );
    await context.close();
  });
});
