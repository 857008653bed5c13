// @ts-check
// Gallery ("presence is storage") end to end: a real hub process (`p2pos signal`) serves the web
// app, and separate Chromium contexts are the people of one gallery, connected peer to peer over
// WebRTC data channels.
//
// 1. Ash adds three images; Birch and Cedar see the thumbnails; Birch pulls one; Ash leaves (the
//    two images only Ash held are gone); Cedar pulls the same image from Birch; Birch leaves; a
//    newcomer, Dahlia, sees only that image, offered by Cedar alone. Dahlia's page, modified through
//    test hooks, pushes bytes Cedar never asked for: Cedar drops them and closes that channel. Cedar
//    burns its copy, the last one: the newcomer Elm finds an empty gallery. Cedar resets its identity.
// 2. After pulling and viewing, the browser's storage (IndexedDB, localStorage, sessionStorage,
//    Cache Storage, service workers; and the profile directory on disk) holds none of the images.
// 3. A holder that stalls is timed out and the image comes from another holder; an image over
//    25 MB is refused with a clear message.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { blake3 } from "hash-wasm";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, DIST, launchBrowser, startHub, tempDir } from "./support.mjs";

let hub;
let browser;

before(async () => {
  hub = await startHub(DIST);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await hub?.stop();
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
/** A name nobody guesses (the hub sees only its hash). */
const galleryName = (label) => `${label}-${randomBytes(9).toString("base64url")}`;

/** Polls `probe` until it returns a truthy value; fails with `what` and the last value seen. */
async function until(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A fresh browser context (a person) on the gallery's link; `?test-hooks` exposes window.p2posGalleryTest. */
async function openGallery(name, label, context) {
  const own = context ?? (await browser.newContext());
  const page = await own.newPage();
  page.on("pageerror", (error) => console.error(`[${label} page error]`, error));
  await page.goto(`${hub.url}/gallery/?test-hooks#${encodeURIComponent(name)}`);
  return { context: own, page };
}

async function join(page, nick) {
  await page.getByTestId("gallery-nick").fill(nick);
  await page.getByTestId("gallery-join-submit").click();
  await page.getByTestId("gallery-room").waitFor({ timeout: 30_000 });
}

/** The grid as the page shows it: id, state, holders (others) and status text, in order. */
async function items(page) {
  return page.$$eval('[data-testid="gallery-item"]', (elements) =>
    elements.map((element) => ({
      id: element.dataset.id,
      state: element.dataset.state,
      holders: Number(element.dataset.holders),
      status: element.querySelector('[data-testid="gallery-item-status"]')?.textContent,
    })),
  );
}

/** Waits until the page's grid is exactly `expected` ([{id, state, holders}], in order). */
async function expectItems(page, label, expected) {
  const want = JSON.stringify(expected);
  await until(`${label}'s grid to be ${want}`, async () => {
    const seen = (await items(page)).map(({ id, state, holders }) => ({ id, state, holders }));
    return JSON.stringify(seen) === want ? seen : false;
  });
}

async function connectedPeers(page) {
  return page.$$eval('[data-testid="gallery-peer"][data-state="connected"]', (elements) =>
    elements.map((element) => element.dataset.nick).sort(),
  );
}

async function expectConnected(page, label, nicks) {
  const want = JSON.stringify([...nicks].sort());
  await until(`${label} to be connected to ${want}`, async () => JSON.stringify(await connectedPeers(page)) === want);
}

async function notices(page) {
  return page.$$eval('[data-testid="gallery-notice"]', (elements) => elements.map((element) => element.textContent));
}

/** Opens an item (pulling it when needed), waits for the full-size image to be decoded, closes the viewer. */
async function pullAndView(page, id) {
  await page.locator(`[data-testid="gallery-item"][data-id="${id}"] [data-testid="gallery-item-open"]`).click();
  const viewer = page.getByTestId("gallery-viewer");
  await viewer.waitFor();
  await page.waitForFunction(
    () => {
      const image = document.querySelector('[data-testid="gallery-viewer-image"]');
      return image instanceof HTMLImageElement && image.complete && image.naturalWidth > 0;
    },
    null,
    { timeout: 30_000 },
  );
  await page.getByTestId("gallery-viewer-close").click();
}

const heldSha256 = (page, id) => page.evaluate((id) => window.p2posGalleryTest?.heldSha256(id), id);

/** Noisy PNGs drawn in the browser (noise keeps them large and distinct), as Buffers. */
async function drawImages(page, specs) {
  const encoded = await page.evaluate(async (specs) => {
    const out = [];
    for (const { width, height, seed } of specs) {
      const canvas = new OffscreenCanvas(width, height);
      const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const image = context.createImageData(width, height);
      // xorshift32: incompressible noise, so the PNG is about as large as its pixels.
      let x = (seed * 2654435761) >>> 0 || 1;
      for (let i = 0; i < image.data.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        image.data[i] = i % 4 === 3 ? 255 : x & 0xff;
      }
      context.putImageData(image, 0, 0);
      context.fillStyle = `hsl(${seed * 67} 70% 50%)`;
      context.fillRect(width / 4, height / 4, width / 2, height / 2);
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out.push(btoa(binary));
    }
    return out;
  }, specs);
  return Promise.all(
    encoded.map(async (b64, i) => {
      const bytes = Buffer.from(b64, "base64");
      return { name: `photo-${i + 1}.png`, bytes, id: await blake3(bytes), sha256: sha256(bytes) };
    }),
  );
}

async function addImages(page, images) {
  await page
    .getByTestId("gallery-add-input")
    .setInputFiles(images.map(({ name, bytes }) => ({ name, mimeType: "image/png", buffer: bytes })));
}

test(
  "three peers: pull from any holder, gone with its last holder, unrequested data refused",
  { timeout: 240_000 },
  async () => {
    const name = galleryName("river");
    const people = [];
    const person = async (label) => {
      const opened = await openGallery(name, label);
      people.push(opened);
      return opened;
    };
    const ash = await person("ash");
    const birch = await person("birch");
    const cedar = await person("cedar");
    try {
      // The link's fragment fills in the name; nothing about it went to the hub.
      assert.equal(await cedar.page.getByTestId("gallery-name").inputValue(), name);
      await join(ash.page, "Ash");
      await join(birch.page, "Birch");
      await join(cedar.page, "Cedar");
      await expectConnected(ash.page, "Ash", ["Birch", "Cedar"]);
      await expectConnected(birch.page, "Birch", ["Ash", "Cedar"]);
      await expectConnected(cedar.page, "Cedar", ["Ash", "Birch"]);
      assert.equal(await cedar.page.getByTestId("gallery-link").inputValue(), `${hub.url}/gallery/#${name}`);

      // Ash adds three images (one of about 4 MB, so it travels in many frames).
      const images = await drawImages(ash.page, [
        { width: 320, height: 240, seed: 1 },
        { width: 1600, height: 1000, seed: 2 },
        { width: 300, height: 300, seed: 3 },
      ]);
      const [first, second, third] = images;
      assert.ok(second.bytes.length > 3 * 1024 * 1024, `image 2 is ${second.bytes.length} bytes`);
      await addImages(ash.page, images);
      const ids = images.map((image) => image.id);
      await expectItems(
        ash.page,
        "Ash",
        ids.map((id) => ({ id, state: "yours", holders: 0 })),
      );

      // Birch and Cedar see the thumbnails: available from one holder, nothing pulled yet.
      for (const [page, label] of [
        [birch.page, "Birch"],
        [cedar.page, "Cedar"],
      ]) {
        await expectItems(
          page,
          label,
          ids.map((id) => ({ id, state: "available", holders: 1 })),
        );
        assert.deepEqual(
          (await items(page)).map((item) => item.status),
          ["Available from 1", "Available from 1", "Available from 1"],
        );
        assert.match(await page.getByTestId("gallery-held").textContent(), /^0 images/);
        for (const { id } of images) assert.equal(await heldSha256(page, id), undefined);
      }
      // Thumbnails are real images of at most 32 KB.
      const thumbs = await cedar.page.$$eval('[data-testid="gallery-item"] img', (elements) =>
        elements.map((element) => ({
          width: element.naturalWidth,
          bytes: Math.floor((element.src.length - "data:image/jpeg;base64,".length) * 0.75),
        })),
      );
      assert.equal(thumbs.length, 3);
      for (const thumb of thumbs) assert.ok(thumb.width > 0 && thumb.bytes <= 32 * 1024, JSON.stringify(thumb));

      // Birch pulls the first image and views it: exactly Ash's bytes.
      await pullAndView(birch.page, first.id);
      assert.equal(await heldSha256(birch.page, first.id), first.sha256);
      await expectItems(birch.page, "Birch", [
        { id: first.id, state: "pulled", holders: 1 },
        { id: second.id, state: "available", holders: 1 },
        { id: third.id, state: "available", holders: 1 },
      ]);
      await expectItems(cedar.page, "Cedar", [
        { id: first.id, state: "available", holders: 2 },
        { id: second.id, state: "available", holders: 1 },
        { id: third.id, state: "available", holders: 1 },
      ]);

      // Ash leaves: the two images only Ash held are gone; the pulled one outlives its uploader.
      await ash.page.getByTestId("gallery-leave").click();
      await ash.page.getByTestId("gallery-left").waitFor();
      await expectItems(cedar.page, "Cedar", [{ id: first.id, state: "available", holders: 1 }]);
      await expectConnected(cedar.page, "Cedar", ["Birch"]);

      // Cedar pulls the same image from Birch, the only holder left.
      await pullAndView(cedar.page, first.id);
      assert.equal(await heldSha256(cedar.page, first.id), first.sha256);
      await expectItems(cedar.page, "Cedar", [{ id: first.id, state: "pulled", holders: 1 }]);
      assert.match(
        await cedar.page
          .locator(`[data-testid="gallery-item"][data-id="${first.id}"] [data-testid="gallery-item-holders"]`)
          .getAttribute("title"),
        /^Held by you, Birch$/,
      );

      // Birch leaves: Cedar is the last holder.
      await birch.page.getByTestId("gallery-leave").click();
      await expectItems(cedar.page, "Cedar", [{ id: first.id, state: "pulled", holders: 0 }]);
      assert.equal((await items(cedar.page))[0].status, "Pulled · only you hold it");

      // A newcomer sees only what someone here still holds: the first image, from Cedar alone.
      const dahlia = await person("dahlia");
      await join(dahlia.page, "Dahlia");
      await expectConnected(dahlia.page, "Dahlia", ["Cedar"]);
      await expectItems(dahlia.page, "Dahlia", [{ id: first.id, state: "available", holders: 1 }]);

      // Dahlia's page is modified: it pushes 4 KiB nobody asked for to Cedar.
      const cedarPeer = await dahlia.page.evaluate(() => window.p2posGalleryTest?.peerOf("Cedar"));
      const dahliaPeer = await dahlia.page.evaluate(() => window.p2posGalleryTest?.me()?.peer);
      assert.ok(cedarPeer && dahliaPeer);
      assert.equal(
        await dahlia.page.evaluate((peer) => window.p2posGalleryTest?.pushUnrequested(peer, 4096, 0xab), cedarPeer),
        true,
      );
      // Cedar drops it and closes that channel; Dahlia sees the channel close and loses Cedar's offer.
      await until("Cedar to close Dahlia's channel", async () =>
        (await notices(cedar.page)).some((text) =>
          text.includes("Closed the connection to Dahlia: it sent data nobody asked for"),
        ),
      );
      await cedar.page
        .locator(`[data-testid="gallery-peer"][data-peer="${dahliaPeer}"][data-state="closed"]`)
        .waitFor();
      assert.equal(
        await cedar.page.evaluate((peer) => window.p2posGalleryTest?.linkState(peer), dahliaPeer),
        undefined,
      );
      await until("Dahlia's channel to Cedar to close", async () =>
        dahlia.page.evaluate((peer) => window.p2posGalleryTest?.linkState(peer) === undefined, cedarPeer),
      );
      await dahlia.page.getByTestId("gallery-empty").waitFor();
      // Cedar kept nothing of it: still one image, the same bytes.
      assert.match(await cedar.page.getByTestId("gallery-held").textContent(), /^1 image \(/);
      assert.equal(await heldSha256(cedar.page, first.id), first.sha256);

      // Cedar burns its copy, the last one anywhere.
      await cedar.page
        .locator(`[data-testid="gallery-item"][data-id="${first.id}"] [data-testid="gallery-item-burn"]`)
        .click();
      await cedar.page.getByTestId("gallery-empty").waitFor();
      assert.equal(await heldSha256(cedar.page, first.id), undefined);
      assert.match(await cedar.page.getByTestId("gallery-held").textContent(), /^0 images/);

      // A newcomer, connected to everyone still here, finds nothing: the images are gone.
      const elm = await person("elm");
      await join(elm.page, "Elm");
      await expectConnected(elm.page, "Elm", ["Cedar", "Dahlia"]);
      await elm.page.getByTestId("gallery-empty").waitFor();
      assert.deepEqual(await items(elm.page), []);

      // Cedar resets its identity (confirming twice) and comes back as a new peer.
      const before = await cedar.page.evaluate(() => window.p2posGalleryTest?.me());
      await cedar.page.getByTestId("gallery-reset").click();
      await cedar.page.getByTestId("gallery-reset-continue").click();
      await cedar.page.getByTestId("gallery-reset-cancel").click();
      assert.equal(await cedar.page.getByTestId("gallery-reset-dialog").count(), 0);
      await cedar.page.getByTestId("gallery-reset").click();
      await cedar.page.getByTestId("gallery-reset-continue").click();
      await cedar.page.getByTestId("gallery-reset-confirm").click();
      const fresh = await until("Cedar to rejoin as a new peer", async () => {
        const me = await cedar.page.evaluate(() => window.p2posGalleryTest?.me());
        return me && me.peer !== before.peer ? me : false;
      });
      assert.notEqual(fresh.tag, before.tag);
      assert.match(fresh.nick, /^Guest \d{4}$/);
      const stored = JSON.parse(await cedar.page.evaluate(() => localStorage.getItem("p2pos-gallery-identity")));
      assert.deepEqual(stored, { nick: fresh.nick, tag: fresh.tag });
      await expectConnected(elm.page, "Elm", [fresh.nick, "Dahlia"]);

      // Everyone leaves: the gallery is gone. Whoever joins its name later finds nobody and nothing.
      for (const page of [cedar.page, dahlia.page, elm.page]) {
        await page.getByTestId("gallery-leave").click();
        await page.getByTestId("gallery-left").waitFor();
      }
      const fern = await person("fern");
      await join(fern.page, "Fern");
      await fern.page.getByTestId("gallery-empty").waitFor();
      assert.deepEqual(await connectedPeers(fern.page), []);
      assert.deepEqual(await items(fern.page), []);
    } finally {
      for (const { context } of people) await context.close();
    }
  },
);

/**
 * Everything this page's origin stores where a script can look, with binary values as hex: every
 * IndexedDB database (all stores, keys and values), localStorage, sessionStorage, Cache Storage
 * (every response body), service worker registrations, and the storage estimate.
 */
async function dumpStorage(page) {
  return page.evaluate(async () => {
    const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const plain = async (value) => {
      if (value instanceof ArrayBuffer) return { hex: hex(new Uint8Array(value)) };
      if (ArrayBuffer.isView(value))
        return { hex: hex(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
      if (value instanceof Blob) return { blob: hex(new Uint8Array(await value.arrayBuffer())) };
      if (Array.isArray(value)) return Promise.all(value.map(plain));
      if (value && typeof value === "object" && !(value instanceof CryptoKey)) {
        const out = {};
        for (const [key, inner] of Object.entries(value)) out[key] = await plain(inner);
        return out;
      }
      return value instanceof CryptoKey ? "CryptoKey" : value;
    };
    const request = (req) =>
      new Promise((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const indexed = [];
    for (const info of await indexedDB.databases()) {
      const db = await request(indexedDB.open(info.name ?? ""));
      const stores = {};
      for (const store of db.objectStoreNames) {
        const tx = db.transaction(store).objectStore(store);
        stores[store] = {
          keys: await plain(await request(tx.getAllKeys())),
          values: await plain(await request(tx.getAll())),
        };
      }
      db.close();
      indexed.push({ name: info.name, stores });
    }
    const local = Object.fromEntries(Object.keys(localStorage).map((key) => [key, localStorage.getItem(key)]));
    const session = Object.fromEntries(Object.keys(sessionStorage).map((key) => [key, sessionStorage.getItem(key)]));
    const cached = [];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        const response = await cache.match(req);
        if (!response) continue;
        cached.push({ cache: name, url: req.url, body: hex(new Uint8Array(await response.arrayBuffer())) });
      }
    }
    const workers = (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope);
    const estimate = await navigator.storage.estimate();
    return { indexed, local, session, cached, workers, usage: estimate.usage };
  });
}

/** Walks a directory tree, yielding [path, bytes] for every file. */
async function* filesUnder(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield [full, await readFile(full).catch(() => Buffer.alloc(0))];
  }
}

test("no image bytes reach the browser's storage", { timeout: 180_000 }, async () => {
  const name = galleryName("storage");
  // Pia's browser keeps a profile on disk, so the test can search the disk too.
  const profile = await tempDir("gallery-profile");
  const piaContext = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const pia = await openGallery(name, "pia", piaContext);
  const quinn = await openGallery(name, "quinn");
  try {
    await join(pia.page, "Pia");
    await join(quinn.page, "Quinn");
    await expectConnected(pia.page, "Pia", ["Quinn"]);
    const images = await drawImages(quinn.page, [
      { width: 400, height: 300, seed: 11 },
      { width: 500, height: 400, seed: 12 },
    ]);
    await addImages(quinn.page, images);
    await expectItems(
      pia.page,
      "Pia",
      images.map(({ id }) => ({ id, state: "available", holders: 1 })),
    );
    // Pia pulls and views both: they are in Pia's memory now, and Quinn's.
    for (const { id, sha256: digest } of images) {
      await pullAndView(pia.page, id);
      assert.equal(await heldSha256(pia.page, id), digest);
    }

    // A control, so a clean result means something: the scan must find bytes a page did store.
    const control = randomBytes(32);
    await quinn.page.evaluate(
      async (bytes) => {
        const db = await new Promise((resolve, reject) => {
          const open = indexedDB.open("scan-control");
          open.onupgradeneeded = () => open.result.createObjectStore("things");
          open.onsuccess = () => resolve(open.result);
          open.onerror = () => reject(open.error);
        });
        await new Promise((resolve, reject) => {
          const tx = db.transaction("things", "readwrite");
          tx.objectStore("things").put(new Uint8Array(bytes), "control");
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
        });
        db.close();
      },
      [...control],
    );

    for (const [page, label] of [
      [pia.page, "Pia"],
      [quinn.page, "Quinn"],
    ]) {
      const dump = await dumpStorage(page);
      const text = JSON.stringify(dump);
      // The scan sees what is there: the gallery identity (nickname and tag), and the control.
      assert.ok(dump.local["p2pos-gallery-identity"]?.includes(label), `${label}: ${text.slice(0, 500)}`);
      if (label === "Quinn") assert.ok(text.includes(control.toString("hex")), "the scan missed the control bytes");
      assert.deepEqual(dump.workers, [], `${label} has service workers`);
      assert.deepEqual(dump.cached, [], `${label} has Cache Storage entries`);
      for (const image of images) {
        // Neither the id nor a distinctive run of the image's bytes (as hex, base64 or raw text).
        const middle = image.bytes.subarray(image.bytes.length >> 1, (image.bytes.length >> 1) + 48);
        for (const needle of [image.id, middle.toString("hex"), middle.toString("base64"), middle.toString("latin1")]) {
          assert.ok(!text.includes(needle), `${label}'s storage holds ${image.name} (${needle.slice(0, 16)}…)`);
        }
      }
      const smallest = Math.min(...images.map((image) => image.bytes.length));
      assert.ok(dump.usage < smallest, `${label} stores ${dump.usage} bytes (an image is ${smallest})`);
    }

    // And on disk: close Pia's browser (it flushes what it keeps), then search its profile. The
    // control this time: a value Pia's page puts in localStorage must be found there.
    const diskControl = randomBytes(24).toString("hex");
    await pia.page.evaluate((value) => localStorage.setItem("scan-control", value), diskControl);
    await piaContext.close();
    let files = 0;
    let controlFound = false;
    for await (const [file, bytes] of filesUnder(profile.dir)) {
      files += 1;
      if (bytes.includes(diskControl)) controlFound = true;
      for (const image of images) {
        const middle = image.bytes.subarray(image.bytes.length >> 1, (image.bytes.length >> 1) + 48);
        assert.equal(bytes.indexOf(middle), -1, `${file} holds bytes of ${image.name}`);
        assert.equal(bytes.indexOf(Buffer.from(image.id)), -1, `${file} holds the id of ${image.name}`);
      }
    }
    assert.ok(files > 0, "the profile directory is empty: nothing was searched");
    assert.ok(controlFound, "the disk scan missed the control value Pia's page stored");
  } finally {
    await piaContext.close().catch(() => undefined);
    await quinn.context.close();
    await profile.cleanup();
  }
});

test(
  "a stalled holder is timed out and another serves; oversized images are refused",
  { timeout: 180_000 },
  async () => {
    const name = galleryName("stall");
    const xia = await openGallery(name, "xia");
    const yara = await openGallery(name, "yara");
    const zeno = await openGallery(name, "zeno");
    try {
      await join(xia.page, "Xia");
      await join(yara.page, "Yara");
      await expectConnected(yara.page, "Yara", ["Xia"]);
      const [image] = await drawImages(xia.page, [{ width: 900, height: 700, seed: 21 }]);
      await addImages(xia.page, [image]);
      await expectItems(yara.page, "Yara", [{ id: image.id, state: "available", holders: 1 }]);
      await pullAndView(yara.page, image.id);

      // Both hold it now, and both accept requests without sending a byte.
      for (const page of [xia.page, yara.page]) await page.evaluate(() => window.p2posGalleryTest?.holdServes(true));
      await join(zeno.page, "Zeno");
      await expectConnected(zeno.page, "Zeno", ["Xia", "Yara"]);
      await expectItems(zeno.page, "Zeno", [{ id: image.id, state: "available", holders: 2 }]);
      await zeno.page.evaluate(() => window.p2posGalleryTest?.setStallMs(2_000));
      await zeno.page.locator('[data-testid="gallery-item-open"]').click();
      const status = await until("Zeno's pull to start", async () => {
        const [item] = await items(zeno.page);
        return item.state === "pulling" ? item.status : false;
      });
      // Whoever Zeno asked first keeps stalling; the other one starts sending.
      const pulling = /Pulling from (\w+)/.exec(status);
      assert.ok(pulling, `the status names the peer Zeno pulls from: ${status}`);
      const stalled = pulling[1];
      const other = stalled === "Xia" ? yara : xia;
      await other.page.evaluate(() => window.p2posGalleryTest?.holdServes(false));
      const started = Date.now();
      await until(
        "Zeno to get the image from the other holder",
        async () => (await items(zeno.page))[0]?.state === "pulled",
      );
      assert.ok(Date.now() - started >= 1_000, "the image arrived before the stall timeout");
      assert.equal(await heldSha256(zeno.page, image.id), image.sha256);
      await zeno.page.getByTestId("gallery-viewer-image").waitFor();
      await zeno.page.getByTestId("gallery-viewer-close").click();

      // An image over 25 MB is refused before anything is sent.
      const huge = Buffer.alloc(26 * 1024 * 1024);
      image.bytes.copy(huge);
      await zeno.page
        .getByTestId("gallery-add-input")
        .setInputFiles([{ name: "huge.png", mimeType: "image/png", buffer: huge }]);
      await until("the too-large message", async () =>
        (await notices(zeno.page)).some((text) => /huge\.png is 26\.0 MB: images can be at most 25\.0 MB/.test(text)),
      );
      assert.match(await zeno.page.getByTestId("gallery-held").textContent(), /^1 image \(/);
    } finally {
      for (const person of [xia, yara, zeno]) await person.context.close();
    }
  },
);
