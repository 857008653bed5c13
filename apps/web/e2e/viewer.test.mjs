// @ts-check
// The full-screen photo viewer, in Chromium against a real `p2pos node`: photos with EXIF (made
// here: canvas JPEGs with an EXIF segment from exif-fixture.mjs) are uploaded, then the viewer
// opens full screen as a modal dialog, steps with the arrow keys and by swiping (real touch input),
// zooms (keys, buttons, wheel, double click, pinch) and pans, shows the date taken and camera from
// the encrypted meta in its info panel, downloads the original byte for byte, runs a slideshow,
// reopens on reload from the URL, and closes with Escape and with the browser's Back.
// With P2POS_SCREENSHOTS=<dir>, saves viewer-1280.png and viewer-390.png there.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { withExif } from "./exif-fixture.mjs";
import { createIdentity, DIST, launchBrowser, newPage, startNode, tempDir } from "./support.mjs";

const PASSPHRASE = "a long and careful family passphrase";

let node;
let browser;
let temp;

before(async () => {
  node = await startNode(DIST);
  browser = await launchBrowser();
  temp = await tempDir("viewer");
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await temp?.cleanup();
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** @param {import("playwright-core").Page} page @param {string} name */
async function shot(page, name) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/**
 * Pictures drawn on a canvas (a gradient sky, hills and a sun, so the screenshots look like
 * photos), encoded by the browser; resolves to their bytes.
 */
async function drawPictures(page, specs) {
  const encoded = await page.evaluate(async (specs) => {
    const out = [];
    for (const { type, width, height, hue } of specs) {
      const canvas = new OffscreenCanvas(width, height);
      const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const sky = ctx.createLinearGradient(0, 0, 0, height);
      sky.addColorStop(0, `hsl(${hue} 70% 70%)`);
      sky.addColorStop(1, `hsl(${hue + 40} 60% 90%)`);
      ctx.fillStyle = sky;
      ctx.fillRect(0, 0, width, height);
      ctx.fillStyle = `hsl(45 95% 60%)`;
      ctx.beginPath();
      ctx.arc(width * 0.72, height * 0.3, height * 0.1, 0, Math.PI * 2);
      ctx.fill();
      for (let layer = 0; layer < 3; layer++) {
        ctx.fillStyle = `hsl(${hue + 100 + layer * 10} 40% ${45 - layer * 10}%)`;
        ctx.beginPath();
        ctx.moveTo(0, height);
        for (let x = 0; x <= width; x += width / 40) {
          ctx.lineTo(x, height * (0.55 + layer * 0.12) + Math.sin(x / (width / 7) + layer * 2) * height * 0.06);
        }
        ctx.lineTo(width, height);
        ctx.fill();
      }
      // Fine detail, visible only when zoomed in.
      ctx.fillStyle = "rgb(255 255 255 / 0.8)";
      for (let i = 0; i < 200; i++) ctx.fillRect((i * 97) % width, (i * 53) % (height / 3), 2, 2);
      const blob = await canvas.convertToBlob({ type, quality: 0.9 });
      if (blob.type !== type) throw new Error(`this Chromium cannot encode ${type}`);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out.push(btoa(binary));
    }
    return out;
  }, specs);
  return encoded.map((b64) => Buffer.from(b64, "base64"));
}

/** The viewer's state as the page shows it. */
function viewerState(page) {
  return page.evaluate(() => {
    const dialog = document.querySelector('[data-testid="photo-viewer"]');
    const stage = document.querySelector('[data-testid="viewer-stage"]');
    const img = document.querySelector('[data-testid="viewer-image"]');
    const box = img?.getBoundingClientRect();
    return {
      open: dialog instanceof HTMLDialogElement && dialog.open,
      modal: dialog?.matches(":modal") ?? false,
      name: dialog?.getAttribute("data-name"),
      position: document.querySelector('[data-testid="viewer-position"]')?.textContent,
      scale: Number(stage?.getAttribute("data-scale")),
      quality: img?.getAttribute("data-quality"),
      imageBox: box ? { x: box.x, y: box.y, width: box.width, height: box.height } : undefined,
      hash: location.hash,
    };
  });
}

/** Wait until the viewer shows `name`, decrypted in full (on a timeout, say what it shows instead). */
async function waitForOriginal(page, name) {
  await page
    .waitForFunction(
      (name) => {
        const img = document.querySelector('[data-testid="viewer-image"]');
        return (
          document.querySelector('[data-testid="photo-viewer"]')?.getAttribute("data-name") === name &&
          img instanceof HTMLImageElement &&
          img.getAttribute("data-quality") === "original" &&
          img.complete &&
          img.naturalWidth > 0
        );
      },
      name,
      { timeout: 60_000, polling: 100 },
    )
    .catch(async (error) => {
      const shown = await viewerState(page);
      const text = await page.getByTestId("photo-viewer").textContent();
      throw new Error(`waiting for ${name}: ${error.message}; the viewer shows ${JSON.stringify({ ...shown, text })}`);
    });
  // Let the zoom transition settle.
  await page.waitForTimeout(300);
}

/** Touch input through the DevTools protocol: real touch events, as a phone sends them. */
async function touch(cdp, type, points) {
  await cdp.send("Input.dispatchTouchEvent", {
    type,
    touchPoints: points.map(([x, y], id) => ({ x, y, id })),
  });
}

test(
  "the full-screen viewer: keys, swipes, zoom, info from EXIF, download, slideshow, close",
  { timeout: 600_000 },
  async () => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
    const page = await newPage(context, node.url, "viewer");
    await createIdentity(page, "Ada", PASSPHRASE);
    await page.getByTestId("claim-code").fill(node.setupCode ?? "");
    await page.getByTestId("claim-submit").click();
    await page.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
    await page.getByTestId("nav-albums").click();
    await page.getByTestId("album-title-input").fill("Alps 2024");
    await page.getByTestId("album-create").click();
    await page.getByTestId("album-page").waitFor();
    const albumId = await page.getByTestId("album-page").getAttribute("data-album-id");

    // Three photos: two JPEGs with EXIF from two cameras, a PNG without (as photos uploaded before
    // EXIF was read show: no date taken, no camera).
    const [lake, hut, map] = await drawPictures(page, [
      { type: "image/jpeg", width: 2400, height: 1600, hue: 200 },
      { type: "image/jpeg", width: 1200, height: 1600, hue: 20 },
      { type: "image/png", width: 900, height: 600, hue: 120 },
    ]);
    const files = [
      {
        name: "IMG_0001.jpg",
        bytes: withExif(lake, {
          make: "Canon",
          model: "Canon EOS R5",
          orientation: 1,
          taken: "2024:07:14 15:30:09",
          offset: "+02:00",
        }),
        lastModified: 1_720_000_000_000,
      },
      {
        name: "IMG_0002.jpg",
        bytes: withExif(hut, { make: "FUJIFILM", model: "X-T4", taken: "2024:07:15 08:05:00" }),
        lastModified: 1_720_000_100_000,
      },
      { name: "map.png", bytes: map, lastModified: 1_720_000_200_000 },
    ];
    for (const file of files) await writeFile(path.join(temp.dir, file.name), file.bytes);
    // Files keep their own dates: set through a DataTransfer in the page. One at a time, the last
    // first: the album lists the newest upload first, so the grid shows them in `files` order.
    for (const [i, f] of [...files].reverse().entries()) {
      await page.getByTestId("upload-input").evaluate(
        (input, { name, b64, lastModified, type }) => {
          const transfer = new DataTransfer();
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          transfer.items.add(new File([bytes], name, { type, lastModified }));
          /** @type {HTMLInputElement} */ (input).files = transfer.files;
          input.dispatchEvent(new Event("change", { bubbles: true }));
        },
        {
          name: f.name,
          b64: Buffer.from(f.bytes).toString("base64"),
          lastModified: f.lastModified,
          type: f.name.endsWith(".png") ? "image/png" : "image/jpeg",
        },
      );
      await page.waitForFunction(
        (count) =>
          [...document.querySelectorAll('[data-testid="thumb-image"]')].filter(
            (img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0,
          ).length === count,
        i + 1,
        { timeout: 120_000, polling: 250 },
      );
    }

    // --- Opens full screen, as a modal dialog, with the URL naming the photo
    await page.locator('[data-testid="photo-thumb"][data-name="IMG_0001.jpg"] a').click();
    await waitForOriginal(page, "IMG_0001.jpg");
    let state = await viewerState(page);
    assert.equal(state.open, true);
    assert.equal(state.modal, true, "a modal dialog: the page behind is inert");
    assert.equal(state.position, "1 / 3");
    const photoId = await page.getByTestId("photo-viewer").getAttribute("data-photo-id");
    assert.equal(state.hash, `#/albums/${albumId}/photos/${photoId}`);
    const dialogBox = await page.getByTestId("photo-viewer").boundingBox();
    assert.deepEqual(dialogBox, { x: 0, y: 0, width: 1280, height: 800 }, "the viewer fills the window");
    // The 2400 × 1600 original is fitted: as wide as the stage allows, in proportion.
    assert.ok(
      state.imageBox && Math.abs(state.imageBox.width / state.imageBox.height - 1.5) < 0.01,
      `${state.imageBox}`,
    );
    assert.ok(state.imageBox.width <= 1280 && state.imageBox.height <= 800);
    // Every control has an accessible name.
    const unnamed = await page
      .getByTestId("photo-viewer")
      .locator("button, select, input")
      .evaluateAll((controls) =>
        controls
          .filter((c) => !(c.getAttribute("aria-label") || c.textContent?.trim() || c.closest("label")))
          .map((c) => c.outerHTML),
      );
    assert.deepEqual(unnamed, []);

    // --- Arrow keys
    await page.keyboard.press("ArrowRight");
    await waitForOriginal(page, "IMG_0002.jpg");
    assert.equal((await viewerState(page)).position, "2 / 3");
    await page.keyboard.press("ArrowRight");
    await waitForOriginal(page, "map.png");
    assert.equal(await page.getByTestId("viewer-next").count(), 0, "no next after the last");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    await waitForOriginal(page, "IMG_0001.jpg");
    assert.equal(await page.getByTestId("viewer-prev").count(), 0, "no previous before the first");
    // Two presses before the first one's URL change lands (one task): two steps, not one twice.
    await page.evaluate(() => {
      for (let i = 0; i < 2; i++) window.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight" }));
    });
    await waitForOriginal(page, "map.png");
    await page.evaluate(() => {
      for (let i = 0; i < 2; i++) window.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft" }));
    });
    await waitForOriginal(page, "IMG_0001.jpg");
    // The next photo was decrypted ahead: it shows in full at once.
    await page.getByTestId("viewer-next").click();
    assert.equal((await viewerState(page)).quality, "original", "the neighbour was preloaded");
    await page.getByTestId("viewer-prev").click();
    await waitForOriginal(page, "IMG_0001.jpg");

    // --- Zoom: keys, buttons, wheel at the cursor, double click; drag to pan
    const before = (await viewerState(page)).imageBox;
    await page.keyboard.press("+");
    await page.waitForTimeout(300);
    state = await viewerState(page);
    assert.equal(state.scale, 1.5);
    assert.ok(state.imageBox && before && state.imageBox.width > before.width * 1.45, "the picture grew");
    await page.getByTestId("viewer-zoom-in").click();
    assert.equal((await viewerState(page)).scale, 2.25);
    assert.match((await page.getByTestId("viewer-zoom-level").textContent()) ?? "", /^\d+%$/);
    await page.getByTestId("viewer-zoom-out").click();
    await page.getByTestId("viewer-zoom-out").click();
    assert.equal((await viewerState(page)).scale, 1);
    await page.mouse.move(900, 300);
    await page.mouse.wheel(0, -300);
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale")) > 1.3,
    );
    await page.keyboard.press("0");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale") === "1.000",
    );
    await page.mouse.dblclick(640, 420);
    await page.waitForTimeout(300);
    state = await viewerState(page);
    assert.ok(state.scale > 2, `double click zooms in (${state.scale})`);
    const zoomedBox = state.imageBox;
    await page.mouse.move(640, 420);
    await page.mouse.down();
    await page.mouse.move(500, 350, { steps: 5 });
    await page.mouse.up();
    await page.waitForTimeout(300);
    state = await viewerState(page);
    assert.ok(state.imageBox && zoomedBox && state.imageBox.x < zoomedBox.x - 100, "dragging pans the zoomed picture");
    await page.mouse.dblclick(640, 420);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale") === "1.000",
    );

    // --- The info panel: date taken and camera from EXIF, size, pixels, where it is stored
    await page.keyboard.press("i");
    const info = page.getByTestId("viewer-info");
    await info.waitFor();
    const taken = (await info.getByTestId("info-taken").textContent()) ?? "";
    assert.match(taken, /July/);
    assert.match(taken, /14/);
    assert.match(taken, /2024/);
    assert.match(taken, /3:30|15:30/, "the camera's wall-clock time");
    assert.match(taken, /UTC\+02:00/);
    assert.equal(await info.getByTestId("info-camera").textContent(), "Canon EOS R5");
    assert.equal(await info.getByTestId("info-name").textContent(), "IMG_0001.jpg");
    assert.match((await info.getByTestId("info-dimensions").textContent()) ?? "", /2400 × 1600 px/);
    assert.match((await info.getByTestId("info-size").textContent()) ?? "", /KiB|MiB/);
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="info-placements"] [data-testid="placement"]').length === 1,
      null,
      { timeout: 30_000 },
    );
    await shot(page, "viewer-1280");
    await page.keyboard.press("ArrowRight");
    await waitForOriginal(page, "IMG_0002.jpg");
    assert.equal(await info.getByTestId("info-camera").textContent(), "FUJIFILM X-T4");
    assert.doesNotMatch((await info.getByTestId("info-taken").textContent()) ?? "", /UTC/, "no offset recorded");
    await page.keyboard.press("ArrowRight");
    await waitForOriginal(page, "map.png");
    assert.match((await info.getByTestId("info-taken").textContent()) ?? "", /Not recorded/);
    assert.equal(await info.getByTestId("info-camera").count(), 0);
    await page.keyboard.press("i");
    await info.waitFor({ state: "detached" });

    // --- Download the original, byte for byte
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    await waitForOriginal(page, "IMG_0001.jpg");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("viewer-download").click()]);
    assert.equal(download.suggestedFilename(), "IMG_0001.jpg");
    assert.equal(sha256(await readFile(await download.path())), sha256(files[0].bytes), "the original, unchanged");

    // --- Slideshow: every 3 s, stops at the end
    await page.getByTestId("viewer-slideshow").click();
    await page.getByTestId("slideshow-interval").selectOption("3");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-position"]')?.textContent === "2 / 3",
      null,
      {
        timeout: 10_000,
      },
    );
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-position"]')?.textContent === "3 / 3",
      null,
      {
        timeout: 10_000,
      },
    );
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-slideshow"]')?.getAttribute("aria-pressed") === "false",
      null,
      { timeout: 10_000 },
    );
    assert.equal((await viewerState(page)).position, "3 / 3", "stopped at the end");

    // --- A reload reopens the photo in the URL; Escape closes; Back leaves the viewer
    await page.reload();
    await waitForOriginal(page, "map.png");
    assert.equal((await viewerState(page)).modal, true);
    await page.keyboard.press("Escape");
    await page.getByTestId("photo-viewer").waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => location.hash), `#/albums/${albumId}`);
    await page.getByTestId("photo-grid").waitFor();
    await page.locator('[data-testid="photo-thumb"][data-name="IMG_0002.jpg"] a').click();
    await waitForOriginal(page, "IMG_0002.jpg");
    await page.keyboard.press("ArrowRight");
    await waitForOriginal(page, "map.png");
    await page.goBack();
    await page.getByTestId("photo-viewer").waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => location.hash), `#/albums/${albumId}`, "Back leaves the viewer at once");

    // --- A phone: 390 px wide, touch. Swipe left for next, right for previous; pinch to zoom.
    await page.setViewportSize({ width: 390, height: 844 });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setTouchEmulationEnabled", { enabled: true, maxTouchPoints: 5 });
    await page.locator('[data-testid="photo-thumb"][data-name="IMG_0001.jpg"] a').click();
    await waitForOriginal(page, "IMG_0001.jpg");
    assert.deepEqual(await page.getByTestId("photo-viewer").boundingBox(), { x: 0, y: 0, width: 390, height: 844 });
    const swipe = async (fromX, toX) => {
      await touch(cdp, "touchStart", [[fromX, 420]]);
      for (let i = 1; i <= 6; i++) await touch(cdp, "touchMove", [[fromX + ((toX - fromX) * i) / 6, 425]]);
      await touch(cdp, "touchEnd", []);
    };
    // From the middle of the picture (the round buttons sit at its sides).
    await swipe(280, 40);
    await waitForOriginal(page, "IMG_0002.jpg");
    await shot(page, "viewer-390");
    await swipe(110, 350);
    await waitForOriginal(page, "IMG_0001.jpg");
    await touch(cdp, "touchStart", [
      [170, 420],
      [220, 420],
    ]);
    for (let i = 1; i <= 6; i++) {
      await touch(cdp, "touchMove", [
        [170 - i * 15, 420],
        [220 + i * 15, 420],
      ]);
    }
    await touch(cdp, "touchEnd", []);
    await page.waitForTimeout(300);
    state = await viewerState(page);
    assert.ok(state.scale > 2.5, `pinching zooms in (${state.scale})`);
    assert.equal(state.name, "IMG_0001.jpg", "a pinch is not a swipe");
    // The info panel fits the phone as a sheet.
    await page.getByTestId("viewer-info-toggle").click();
    const sheet = await page.getByTestId("viewer-info").boundingBox();
    assert.ok(sheet && sheet.width === 390 && sheet.y > 300, `the info sheet (${JSON.stringify(sheet)})`);
    await shot(page, "viewer-390-info");
    await page.getByTestId("viewer-info-toggle").click();
    await page.getByTestId("viewer-info").waitFor({ state: "detached" });
    // A double tap goes back to fit, another zooms in again.
    const tap = async () => {
      await touch(cdp, "touchStart", [[200, 300]]);
      await touch(cdp, "touchEnd", []);
    };
    await tap();
    await tap();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale") === "1.000",
    );
    await page.waitForTimeout(400);
    await tap();
    await tap();
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale")) > 2,
    );
    await tap();
    await tap();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="viewer-stage"]')?.getAttribute("data-scale") === "1.000",
    );
    // Pulling the picture down closes the viewer, as on phones.
    await touch(cdp, "touchStart", [[200, 300]]);
    for (let i = 1; i <= 6; i++) await touch(cdp, "touchMove", [[205, 300 + i * 40]]);
    await touch(cdp, "touchEnd", []);
    await page.getByTestId("photo-viewer").waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => location.hash), `#/albums/${albumId}`);
    await context.close();
  },
);
