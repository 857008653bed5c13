// @ts-check
// Drop, the view-once transfer, in two real browsers through a real hub (`p2pos signal`): a drop
// from A to B renders and is destroyed; a hub in its attacking test mode, and a relay that swaps
// the receiver's key only, are caught by both sides; sender cancel, room expiry, a stall and a
// truncated link each end with their message; and drops between the CLI (`p2pos send` /
// `p2pos receive`) and the browser, both ways.
//
// `P2POS_WEB_DIST` chooses the built web app, `P2POS_BIN` the p2pos binary (support.mjs).
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import {
  DIST,
  P2POS_BIN,
  launchBrowser,
  newPage,
  readQrCanvas,
  runCli,
  spawnTracked,
  startHub,
  tempDir,
} from "./support.mjs";

// ---------------------------------------------------------------------------------------------
// A test image: a PNG, left half red, right half blue, with noise so it spans several chunks
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function testPng(width, height) {
  let seed = 12345;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) & 0x3f;
  };
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = x < width / 2 ? [200, 20, 20] : [20, 20, 200];
      raw.set([r + noise() - 32, g + noise() / 2, b + noise() - 32], row + 1 + x * 3);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

const IMAGE = testPng(600, 400);

/** An honest-looking X25519 public key of the attacker's, standard base64 as in a hello. */
function attackerKey() {
  const { publicKey } = generateKeyPairSync("x25519");
  return Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url").toString("base64");
}

// ---------------------------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------------------------

const status = (page) => page.getByTestId("drop-status");

async function waitState(page, state, timeout = 30_000) {
  await page.locator(`[data-testid="drop-status"][data-state="${state}"]`).waitFor({ timeout });
}

/** Records every WebSocket frame a page sends or receives, as text. */
function recordWebSockets(page) {
  const frames = [];
  page.on("websocket", (ws) => {
    ws.on("framesent", ({ payload }) => frames.push(String(payload)));
    ws.on("framereceived", ({ payload }) => frames.push(String(payload)));
  });
  return frames;
}

/** Opens the page's test hooks (`?test-hooks`) and sets the stall timeout of the drops it starts. */
async function setStallMs(/** @type {import("playwright-core").Page} */ page, /** @type {number} */ ms) {
  await page.waitForFunction(() => window.p2posDropTest !== undefined);
  await page.evaluate((stall) => window.p2posDropTest?.setStallMs(stall), ms);
}

/** A drop link that opens the receiver's page with its test hooks. */
const withTestHooks = (/** @type {string} */ link) => link.replace("#", "?test-hooks#");

/**
 * The sender's page: choose the image and view time, create the link; resolves to the page and link.
 * `stallMs`: the drop's stall timeout, set through the page's test hooks.
 */
async function createDrop(
  context,
  hubUrl,
  /** @type {{ seconds?: number, init?: () => void, stallMs?: number }} */ { seconds = 5, init, stallMs } = {},
) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("[sender page error]", error));
  if (init) await page.addInitScript(init);
  const frames = recordWebSockets(page);
  await page.goto(`${hubUrl}/drop${stallMs === undefined ? "" : "?test-hooks"}`);
  if (stallMs !== undefined) await setStallMs(page, stallMs);
  await page.getByTestId("drop-file").setInputFiles({ name: "secret.png", mimeType: "image/png", buffer: IMAGE });
  await page.getByTestId("drop-seconds").fill(String(seconds));
  await page.getByTestId("drop-create").click();
  await waitState(page, "waiting");
  const link = await page.getByTestId("drop-link").getAttribute("data-link");
  return { page, link, frames };
}

/** A receiver's page on `link` (not confirmed yet). */
async function openLink(context, link, label = "receiver", route) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`[${label} page error]`, error));
  if (route) await route(page);
  const frames = recordWebSockets(page);
  await page.goto(link);
  return { page, frames };
}

async function confirmView(page, name) {
  await page.getByTestId("drop-name").fill(name);
  await page.getByTestId("drop-view").click();
}

/** Both sides of a drop whose keys were swapped show the warning, and nothing was shown. */
async function expectCaught(sender, receiver) {
  for (const page of [sender.page, receiver.page]) {
    await page.getByTestId("drop-warning").waitFor({ timeout: 20_000 });
    await waitState(page, "tampered");
    assert.match(await page.getByTestId("drop-warning").textContent(), /swapped the encryption keys/);
  }
  assert.equal(await receiver.page.getByTestId("drop-canvas").count(), 0, "nothing was shown");
}

/** Mean colour of a region of the drop canvas, as fractions of its width and height. */
async function canvasMean(page, x0, x1, y0, y1) {
  return page.getByTestId("drop-canvas").evaluate(
    (canvas, [a, b, c, d]) => {
      const ctx = canvas.getContext("2d");
      const [x, y] = [Math.floor(canvas.width * a), Math.floor(canvas.height * c)];
      const [w, h] = [Math.floor(canvas.width * (b - a)), Math.floor(canvas.height * (d - c))];
      const { data } = ctx.getImageData(x, y, w, h);
      const sum = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += data[i + k];
      const n = data.length / 4;
      return { r: sum[0] / n, g: sum[1] / n, b: sum[2] / n, width: canvas.width, height: canvas.height };
    },
    [x0, x1, y0, y1],
  );
}

// ---------------------------------------------------------------------------------------------

describe("Drop: view-once transfer between two browsers", { timeout: 240_000 }, () => {
  let hub;
  let browser;
  const contexts = [];

  before(async () => {
    hub = await startHub(DIST);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  async function context() {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    return ctx;
  }

  /** A test body whose failure message ends with what the hub printed. */
  const diagnosed = (body) => async () => {
    try {
      await body();
    } catch (error) {
      /** @type {Error} */ (error).message += `\n--- hub output\n${hub?.output()}`;
      throw error;
    } finally {
      for (const ctx of contexts.splice(0)) await ctx.close();
    }
  };

  test(
    "a drop from A to B renders with a watermark, is destroyed, and a second open says already viewed",
    diagnosed(async () => {
      const a = await context();
      const b = await context();
      const sender = await createDrop(a, hub.url, { seconds: 5 });
      const { link } = sender;
      const match = /^http:\/\/127\.0\.0\.1:\d+\/drop\/([a-z2-7]{26})#([A-Za-z0-9_-]{22})$/.exec(link);
      assert.ok(match, `a link to a room with a 22-character secret: ${link}`);
      const [, room, secret] = match;
      assert.equal(await readQrCanvas(sender.page.getByTestId("drop-qr")), link, "the QR reads back as the link");

      // A link preview (a plain GET: the fragment is never sent) uses nothing up.
      const preview = await fetch(link);
      assert.equal(preview.status, 200);
      const receiver = await openLink(b, link);
      await waitState(receiver.page, "ready");
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await status(sender.page).getAttribute("data-state"), "waiting", "opening alone starts nothing");

      await confirmView(receiver.page, "Ben");
      assert.ok(!receiver.page.url().includes("#"), `the secret leaves the address bar: ${receiver.page.url()}`);
      await receiver.page.getByTestId("drop-canvas").waitFor({ timeout: 30_000 });
      await receiver.page.waitForFunction(
        () => Number(document.querySelector('[data-testid="drop-countdown"]')?.getAttribute("data-seconds")) <= 5,
      );
      // The picture is there: red on the left, blue on the right (under a light watermark).
      const left = await canvasMean(receiver.page, 0.05, 0.45, 0.1, 0.8);
      const right = await canvasMean(receiver.page, 0.55, 0.95, 0.1, 0.8);
      assert.equal(left.width, 600, "drawn at its own size");
      assert.ok(left.r > left.b + 80, `left half is red: ${JSON.stringify(left)}`);
      assert.ok(right.b > right.r + 80, `right half is blue: ${JSON.stringify(right)}`);
      assert.match(await receiver.page.getByTestId("drop-canvas").getAttribute("aria-label"), /Ben/);
      await waitState(sender.page, "viewing", 10_000).catch(() => undefined); // may already be viewed

      // The countdown runs out: gone on both sides.
      await receiver.page.getByTestId("drop-gone").waitFor({ timeout: 15_000 });
      assert.equal(await receiver.page.getByTestId("drop-canvas").count(), 0, "the canvas is gone");
      await waitState(sender.page, "viewed", 10_000);
      assert.match(await status(sender.page).textContent(), /Ben/);

      // Neither page ever sent the secret or the image through the hub.
      const wire = [...sender.frames, ...receiver.frames];
      assert.ok(
        wire.some((f) => f.includes('"hello"')),
        "the hellos went through the hub",
      );
      assert.ok(!wire.some((f) => f.includes(secret)), "the secret never reaches the hub");
      const bytes = wire.reduce((sum, f) => sum + f.length, 0);
      assert.ok(bytes < IMAGE.length / 4, `only signalling went through the hub (${bytes} bytes)`);

      // Opening the link again in the same browser: already viewed, without asking.
      const again = await openLink(b, link, "receiver again");
      await waitState(again.page, "already_viewed", 10_000);
      assert.equal(await again.page.getByTestId("drop-view").count(), 0);
      // In another browser: the room is gone.
      const other = await openLink(await context(), link, "other");
      await confirmView(other.page, "Eve");
      await waitState(other.page, "no_such_room", 10_000);
      assert.match(await status(other.page).textContent(), /already viewed, cancelled, or it expired/);
      assert.ok(room.length === 26);
    }),
  );

  test(
    "a hub in its attacking test mode swaps the ephemeral keys both ways: both sides show the warning",
    diagnosed(async () => {
      const attacking = await startHub(DIST, ["--test-swap-drop-keys"]);
      try {
        const sender = await createDrop(await context(), attacking.url, { seconds: 5 });
        const receiver = await openLink(await context(), sender.link, "receiver");
        await confirmView(receiver.page, "Ben");
        await expectCaught(sender, receiver);
        const later = await openLink(await context(), sender.link, "later");
        await confirmView(later.page, "Zoe");
        await waitState(later.page, "no_such_room", 10_000);
      } catch (error) {
        /** @type {Error} */ (error).message += `\n--- attacking hub output\n${attacking.output()}`;
        throw error;
      } finally {
        await attacking.stop();
      }
    }),
  );

  test(
    "a relay that swaps the key on the way to the receiver only is caught too",
    diagnosed(async () => {
      let swapped = 0;
      const attacker = attackerKey();
      const tamper = (message) => {
        if (typeof message !== "string") return message;
        const parsed = JSON.parse(message);
        if (parsed.type === "signal" && parsed.payload?.p2pos === "drop" && parsed.payload.kind === "hello") {
          parsed.payload.pub = attacker;
          swapped += 1;
          return JSON.stringify(parsed);
        }
        return message;
      };
      // The receiver's page talks to the hub through the attacker: a WebSocket route that
      // forwards to the real hub and rewrites the key in the drop hellos it delivers.
      const route = (page) =>
        page.routeWebSocket(/\/v1\/ws$/, (ws) => {
          const server = ws.connectToServer();
          ws.onMessage((message) => server.send(message));
          server.onMessage((message) => ws.send(tamper(message)));
        });
      const sender = await createDrop(await context(), hub.url, { seconds: 5 });
      const receiver = await openLink(await context(), sender.link, "receiver", route);
      await confirmView(receiver.page, "Ben");
      await expectCaught(sender, receiver);
      assert.ok(swapped >= 1, "the attacker swapped a key");
      // The sender deleted the room: the link is dead.
      const later = await openLink(await context(), sender.link, "later");
      await confirmView(later.page, "Zoe");
      await waitState(later.page, "no_such_room", 10_000);
    }),
  );

  test(
    "the sender cancels: before anyone came, and while the receiver is viewing; a second receiver is turned away",
    diagnosed(async () => {
      // Before anyone came: the link is dead.
      const first = await createDrop(await context(), hub.url);
      await first.page.getByTestId("drop-cancel").click();
      await waitState(first.page, "cancelled");
      assert.match(await status(first.page).textContent(), /cancelled/);
      const late = await openLink(await context(), first.link);
      await confirmView(late.page, "Ben");
      await waitState(late.page, "no_such_room", 10_000);

      // While the receiver is viewing: the picture is wiped at once.
      const second = await createDrop(await context(), hub.url, { seconds: 60 });
      const receiver = await openLink(await context(), second.link);
      await confirmView(receiver.page, "Ben");
      await receiver.page.getByTestId("drop-canvas").waitFor({ timeout: 30_000 });
      await waitState(second.page, "viewing", 10_000);

      // Someone else with the link meanwhile: refused, the drop is taken.
      const third = await openLink(await context(), second.link, "third");
      await confirmView(third.page, "Eve");
      await waitState(third.page, "taken", 10_000);
      assert.match(await status(third.page).textContent(), /Someone else already opened this drop/);

      await second.page.getByTestId("drop-cancel").click();
      await waitState(second.page, "cancelled");
      await waitState(receiver.page, "peer_cancelled", 10_000);
      assert.match(await status(receiver.page).textContent(), /The sender cancelled this drop/);
      assert.equal(await receiver.page.getByTestId("drop-canvas").count(), 0, "the canvas is gone");
    }),
  );

  test(
    "a truncated link, or one without its secret, is refused before anything is sent",
    diagnosed(async () => {
      const sender = await createDrop(await context(), hub.url);
      const ctx = await context();
      const cut = await openLink(ctx, sender.link.slice(0, -6), "cut");
      await waitState(cut.page, "bad_link", 10_000);
      assert.match(await status(cut.page).textContent(), /cut short/);
      assert.equal(await cut.page.getByTestId("drop-view").count(), 0, "nothing to confirm");
      assert.equal(cut.frames.length, 0, "no hub connection at all");
      const bare = await openLink(ctx, sender.link.split("#")[0], "bare");
      await waitState(bare.page, "bad_link", 10_000);
      assert.match(await status(bare.page).textContent(), /no secret/);
      const damaged = await openLink(ctx, `${sender.link.slice(0, -1)}!`, "damaged");
      await waitState(damaged.page, "bad_link", 10_000);
      assert.equal(await status(sender.page).getAttribute("data-state"), "waiting", "the drop is untouched");
    }),
  );

  test(
    "a stalled transfer fails on both sides after the stall time without a frame (15 s; 2 s here, by test hook)",
    diagnosed(async () => {
      // The sender's data channel silently loses every frame after the third (meta + 2 chunks).
      const init = () => {
        const send = RTCDataChannel.prototype.send;
        let sent = 0;
        RTCDataChannel.prototype.send = function (data) {
          if (this.label === "p2pos/drop" && ++sent > 3) return;
          send.call(this, data);
        };
      };
      const stallMs = 2_000;
      const sender = await createDrop(await context(), hub.url, { init, stallMs });
      const receiver = await openLink(await context(), withTestHooks(sender.link));
      await setStallMs(receiver.page, stallMs);
      await confirmView(receiver.page, "Ben");
      await waitState(receiver.page, "receiving", 30_000);
      await waitState(receiver.page, "stalled", 25_000);
      await waitState(sender.page, "stalled", 25_000);
      assert.match(await status(receiver.page).textContent(), /stalled/);
      assert.match(await status(sender.page).textContent(), /stalled/);
    }),
  );
});

describe("Drop: a room nobody opens expires", { timeout: 60_000 }, () => {
  let hub;
  let browser;

  before(async () => {
    hub = await startHub(DIST, ["--room-ttl-secs", "3"]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  test("the sender sees it expire, and the link then says so", async () => {
    const sender = await createDrop(await browser.newContext(), hub.url);
    await waitState(sender.page, "expired", 15_000);
    assert.match(await status(sender.page).textContent(), /expired/);
    const receiver = await openLink(await browser.newContext(), sender.link);
    await confirmView(receiver.page, "Ben");
    await waitState(receiver.page, "no_such_room", 10_000);
    assert.match(await status(receiver.page).textContent(), /expired/);
    // newPage from support.mjs serves the sender's page at /drop/ too.
    const fresh = await newPage(await browser.newContext(), `${hub.url}/drop`, "fresh");
    await fresh.getByTestId("drop-create").waitFor();
  });
});

describe("Drop between the CLI and the browser", { timeout: 120_000 }, () => {
  let hub;
  let browser;
  let temp;

  before(async () => {
    hub = await startHub(DIST);
    browser = await launchBrowser();
    temp = await tempDir("drop-cli");
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
    await temp?.cleanup();
  });

  test("browser → `p2pos receive`: the CLI saves the exact image and the sender sees it viewed", async () => {
    const sender = await createDrop(await browser.newContext(), hub.url, { seconds: 5 });
    const out = path.join(temp.dir, "received.png");
    const received = await runCli(["receive", sender.link, "--name", "Cli", "--rtc-bind", "127.0.0.1:0", "--out", out]);
    assert.equal(received.code, 0, `p2pos receive: ${received.stderr}`);
    assert.match(received.stdout, /^Saved \d+ bytes to /);
    assert.deepEqual(await readFile(out), IMAGE, "the bytes the browser sent");
    await waitState(sender.page, "viewed");
    // The room is gone: the CLI says so, without saving anything.
    const again = await runCli(["receive", sender.link, "--rtc-bind", "127.0.0.1:0", "--out", `${out}.2`]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already viewed, cancelled, or it expired/);
  });

  test("`p2pos send` → browser: the image renders, and the CLI hears it was viewed", async () => {
    const file = path.join(temp.dir, "from-cli.png");
    await writeFile(file, IMAGE);
    const send = spawnTracked(P2POS_BIN, [
      "send",
      file,
      "--hub",
      hub.wsUrl,
      "--seconds",
      "5",
      "--no-qr",
      "--rtc-bind",
      "127.0.0.1:0",
    ]);
    const linkLine = async () => {
      for (let i = 0; i < 100; i++) {
        const line = /^http\S+\/drop\/\S+#\S+$/m.exec(send.output());
        if (line) return line[0];
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`p2pos send printed no link: ${send.output()}`);
    };
    const link = await linkLine();
    assert.ok(link.startsWith(`${hub.url}/drop/`), `the link is on the hub's web app: ${link}`);
    const receiver = await openLink(await browser.newContext(), link);
    await confirmView(receiver.page, "Ben");
    await receiver.page.getByTestId("drop-canvas").waitFor({ timeout: 30_000 });
    const left = await canvasMean(receiver.page, 0.05, 0.3, 0.3, 0.7);
    const right = await canvasMean(receiver.page, 0.7, 0.95, 0.3, 0.7);
    assert.ok(left.r > left.b + 60 && right.b > right.r + 60, `red | blue: ${JSON.stringify({ left, right })}`);
    await waitState(receiver.page, "gone", 30_000);
    const { code } = await send.exited;
    assert.equal(code, 0, `p2pos send: ${send.output()}`);
    assert.match(send.output(), /Viewed\. The drop is gone\./);
  });
});
