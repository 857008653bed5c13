// @ts-check
// The family vault end to end, in Chromium against a real `p2pos node` (SQLite data dir):
// create an identity, claim the node, create an album, upload 20 files of every kind (encrypted in
// the browser), see thumbnails, reload, open and download originals byte for byte; a second
// identity is added, granted and decrypts, then loses the album when an admin takes its access away
// (the album gets a new key); a third, not a member, gets no session and is refused everything.
// Finally the node's data dir is searched for plaintext: none may be there. A second story, on a node
// of its own: a photo uploaded after a revocation is under the new key the revoked member never got.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { spawnSync } from "node:child_process";
import { unzipSync } from "fflate";
import {
  createIdentity as createIdentityWith,
  DIST,
  launchBrowser,
  newPage,
  P2POS_BIN,
  startNode,
  tempDir,
} from "./support.mjs";

const PASSPHRASE = "a long and careful family passphrase";
const createIdentity = (page, name) => createIdentityWith(page, name, PASSPHRASE);
const TITLE = "Summer 2026";
const BIG_SIZE = 50 * 1024 * 1024;

let node;
let browser;
let temp;

before(async () => {
  node = await startNode(DIST);
  browser = await launchBrowser();
  temp = await tempDir("vault");
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await temp?.cleanup();
});

/** With P2POS_SCREENSHOTS=<dir>, save a screenshot of each step there (for reviewing the UI). */
async function shot(page, name) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Images drawn on a canvas in the browser (noise, so every file is distinct), as bytes. */
async function drawImages(page, specs) {
  const encoded = await page.evaluate(async (specs) => {
    const out = [];
    for (const { type, width, height, seed } of specs) {
      const canvas = new OffscreenCanvas(width, height);
      const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const image = ctx.createImageData(width, height);
      let x = seed * 2654435761;
      for (let i = 0; i < image.data.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        image.data[i] = i % 4 === 3 ? 255 : x >>> 24;
      }
      ctx.putImageData(image, 0, 0);
      ctx.fillStyle = `hsl(${seed * 37} 70% 50%)`;
      ctx.fillRect(width / 4, height / 4, width / 2, height / 2);
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

/**
 * The JPEG with an EXIF APP1 segment saying "rotate 90° clockwise to display" (orientation 6),
 * inserted right after SOI: an 800×600 picture that must show, and thumbnail, as portrait.
 */
function withExifOrientation(jpeg, orientation) {
  const tiff = Buffer.from([
    0x4d,
    0x4d,
    0x00,
    0x2a,
    0x00,
    0x00,
    0x00,
    0x08, // big-endian TIFF, first IFD at 8
    0x00,
    0x01, // one entry
    0x01,
    0x12,
    0x00,
    0x03,
    0x00,
    0x00,
    0x00,
    0x01,
    0x00,
    orientation,
    0x00,
    0x00, // Orientation, SHORT, 1
    0x00,
    0x00,
    0x00,
    0x00, // no next IFD
  ]);
  const payload = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2);
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], "a JPEG starts with SOI");
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, payload, jpeg.subarray(2)]);
}

/** A real one-second MP4 recorded from an animated canvas with MediaRecorder (H.264). */
async function recordVideo(page) {
  const b64 = await page.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 240;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    const stream = canvas.captureStream(25);
    const recorder = new MediaRecorder(stream, { mimeType: "video/mp4;codecs=avc1" });
    const chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    const stopped = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.start();
    const started = performance.now();
    await /** @type {Promise<void>} */ (
      new Promise((resolve) => {
        const draw = () => {
          const t = performance.now() - started;
          ctx.fillStyle = `hsl(${t / 5} 80% 50%)`;
          ctx.fillRect(0, 0, 320, 240);
          ctx.fillStyle = "white";
          ctx.fillRect((t / 5) % 320, 100, 40, 40);
          if (t < 1_000) requestAnimationFrame(draw);
          else resolve();
        };
        draw();
      })
    );
    recorder.stop();
    await stopped;
    const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  });
  return Buffer.from(b64, "base64");
}

/** Every file under `dir`, recursively. */
async function allFiles(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** Fetch from inside the page (its cookies, its origin); resolves to { status, body }. */
function apiGet(page, url) {
  return page.evaluate(async (url) => {
    const response = await fetch(url, { credentials: "same-origin" });
    return { status: response.status, body: await response.text() };
  }, url);
}

/**
 * Sign in by hand from inside the page, as any script there could: a challenge for the identity this
 * browser keeps, signed with its (non-extractable) key, sent to `POST /v1/auth/verify`; resolves to
 * { status, body }. Whatever cookie the node sets lands in the page's browser context.
 */
function signInByHand(page) {
  return page.evaluate(async () => {
    const stored = await new Promise((resolve, reject) => {
      const open = indexedDB.open("p2pos");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const request = open.result.transaction("identity").objectStore("identity").get("current");
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          open.result.close();
          resolve(request.result);
        };
      };
    });
    const post = (url, body) =>
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const challenge = await (await post("/v1/auth/challenge", { identity: stored.id })).json();
    const message = `p2pos-login-v1|${location.origin}|${challenge.nonce}|${challenge.expires_ms}`;
    const sig = new Uint8Array(
      await crypto.subtle.sign({ name: "Ed25519" }, stored.signingKey, new TextEncoder().encode(message)),
    );
    const response = await post("/v1/auth/verify", {
      identity: stored.id,
      nonce: challenge.nonce,
      sig: btoa(String.fromCharCode(...sig)),
    });
    return { status: response.status, body: await response.text() };
  });
}

/** The names of the cookies a browser context holds (HttpOnly ones included). */
async function cookieNames(context) {
  return (await context.cookies()).map((cookie) => cookie.name);
}

/** Wait until the grant toggle of `albumId` × `memberId` on the Members page says `granted`. */
async function waitForGrant(page, albumId, memberId, granted) {
  await page.waitForFunction(
    ({ albumId, memberId, granted }) =>
      document
        .querySelector(`[data-testid="grant-toggle"][data-album-id="${albumId}"][data-member-id="${memberId}"]`)
        ?.getAttribute("data-granted") === granted,
    { albumId, memberId, granted: String(granted) },
    { timeout: 30_000 },
  );
}

test(
  "a family vault: claim, album, upload 20 files, share, refuse outsiders, store only ciphertext",
  { timeout: 900_000 },
  async () => {
    assert.match(node.setupCode ?? "", /^[A-Z0-9]{5}-[A-Z0-9]{5}$/, "the node printed a setup code");

    // --- The founder: identity, claim, album
    const founderContext = await browser.newContext({ acceptDownloads: true });
    const founder = await newPage(founderContext, node.url, "founder");
    await createIdentity(founder, "Ada");
    await founder.getByTestId("claim-node").waitFor({ timeout: 30_000 });
    await shot(founder, "01-claim");
    // No family yet, so no member yet: the node signs no one in, and claiming needs no session.
    const unclaimedLogin = await signInByHand(founder);
    assert.equal(unclaimedLogin.status, 403, unclaimedLogin.body);
    assert.equal(JSON.parse(unclaimedLogin.body).error, "not_a_member");
    assert.deepEqual(await cookieNames(founderContext), [], "no session before the claim");
    await founder.getByTestId("claim-code").fill("WRONG-CODE1");
    await founder.getByTestId("claim-submit").click();
    assert.match((await founder.getByTestId("claim-error").textContent()) ?? "", /Wrong setup code/);
    await founder.getByTestId("claim-code").fill(node.setupCode.toLowerCase());
    await founder.getByTestId("claim-submit").click();
    await founder.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
    assert.equal(await founder.getByTestId("dashboard-role").textContent(), "Admin");
    await shot(founder, "02-dashboard");

    await founder.getByTestId("nav-albums").click();
    await founder.getByTestId("albums-empty").waitFor();
    await founder.getByTestId("album-title-input").fill(TITLE);
    await founder.getByTestId("album-create").click();
    await founder.getByTestId("album-page").waitFor();
    assert.equal(await founder.getByTestId("album-heading").textContent(), TITLE);
    const albumId = await founder.getByTestId("album-page").getAttribute("data-album-id");

    // --- 20 files: 17 images the browser decodes, a HEIC it cannot, a small video, 50 MB of data
    const imageSpecs = [
      ...Array.from({ length: 6 }, (_, i) => ({
        type: "image/jpeg",
        ext: "jpg",
        width: 800,
        height: 600,
        seed: i + 1,
      })),
      ...Array.from({ length: 6 }, (_, i) => ({
        type: "image/png",
        ext: "png",
        width: 400,
        height: 300,
        seed: i + 11,
      })),
      ...Array.from({ length: 5 }, (_, i) => ({
        type: "image/webp",
        ext: "webp",
        width: 600,
        height: 800,
        seed: i + 21,
      })),
    ];
    const images = await drawImages(founder, imageSpecs);
    images[0] = withExifOrientation(images[0], 6);
    /** @type {{ name: string, bytes: Uint8Array, image: boolean, video?: boolean, path?: string, sha256?: string }[]} */
    const files = imageSpecs.map((spec, i) => ({
      name: `beach-${String(i + 1).padStart(2, "0")}.${spec.ext}`,
      bytes: images[i],
      image: true,
    }));
    files.push({ name: "IMG_4021.HEIC", bytes: randomBytes(300_000), image: false });
    files.push({ name: "waves-clip.mp4", bytes: await recordVideo(founder), image: false, video: true });
    files.push({ name: "family-archive-50mb.bin", bytes: randomBytes(BIG_SIZE), image: false });
    assert.equal(files.length, 20);
    const paths = [];
    for (const file of files) {
      file.path = path.join(temp.dir, file.name);
      file.sha256 = sha256(file.bytes);
      await writeFile(file.path, file.bytes);
      paths.push(file.path);
    }

    await founder.getByTestId("upload-input").setInputFiles(paths);
    await founder.getByTestId("upload-overall").waitFor();
    await founder.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="upload-item"][data-status="done"]').length === n,
      files.length,
      { timeout: 600_000, polling: 500 },
    );
    assert.equal(await founder.locator('[data-testid="upload-item"][data-status="failed"]').count(), 0);
    assert.equal(await founder.getByTestId("upload-summary").textContent(), "20 of 20 uploaded");
    await shot(founder, "03-uploaded");

    // Images get a thumbnail from the worker; the video one of its first frame, drawn by the page
    // from a blob: URL, which the node's Content-Security-Policy must allow as media-src.
    const csp = (await founder.evaluate(async () => (await fetch("/")).headers.get("content-security-policy"))) ?? "";
    const videoThumbs = /media-src[^;]*blob:/.test(csp);
    const imageCount = files.filter((f) => f.image || (f.video && videoThumbs)).length;
    const waitForGrid = async (page) => {
      await page.waitForFunction(
        ({ total, images }) =>
          document.querySelectorAll('[data-testid="photo-thumb"]').length === total &&
          [...document.querySelectorAll('[data-testid="thumb-image"]')].filter(
            (img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0,
          ).length === images,
        { total: files.length, images: imageCount },
        { timeout: 120_000, polling: 250 },
      );
    };
    await waitForGrid(founder);
    // Thumbnails are small: at most 320 px on their long side.
    const widths = await founder
      .getByTestId("thumb-image")
      .evaluateAll((/** @type {HTMLImageElement[]} */ imgs) =>
        imgs.map((img) => Math.max(img.naturalWidth, img.naturalHeight)),
      );
    assert.ok(
      widths.every((w) => w > 0 && w <= 320),
      `thumbnail sizes ${widths}`,
    );
    // EXIF orientation is honoured: the 800×600 JPEG tagged "rotate 90°" has a portrait thumbnail.
    const size = (name) =>
      founder
        .locator(`[data-testid="photo-thumb"][data-name="${name}"] [data-testid="thumb-image"]`)
        .evaluate((/** @type {HTMLImageElement} */ img) => [img.naturalWidth, img.naturalHeight]);
    assert.deepEqual(await size(files[0].name), [240, 320]);
    assert.deepEqual(await size(files[1].name), [320, 240]);
    if (videoThumbs) {
      assert.deepEqual(await size("waves-clip.mp4"), [320, 240], "the video's first frame is its thumbnail");
    }
    // Files the browser cannot decode get a placeholder.
    const placeholders = ["IMG_4021.HEIC", "family-archive-50mb.bin", ...(videoThumbs ? [] : ["waves-clip.mp4"])];
    for (const name of placeholders) {
      const cell = founder.locator(`[data-testid="photo-thumb"][data-name="${name}"]`);
      assert.equal(await cell.getByTestId("thumb-placeholder").count(), 1, `${name} has a placeholder`);
    }

    // --- Reload: everything comes back from the node, decrypted again
    await founder.reload();
    await founder.getByTestId("album-page").waitFor({ timeout: 30_000 });
    await shot(founder, "04-reloaded-before-grid");
    await waitForGrid(founder);

    // --- The viewer: decrypted original, arrows, download with the original name
    const downloadOriginal = async (page) => {
      await page.getByTestId("viewer-download").waitFor({ timeout: 120_000 });
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByTestId("viewer-download").click(),
      ]);
      return { name: download.suggestedFilename(), bytes: await readFile(await download.path()) };
    };
    const png = files.find((f) => f.name.endsWith(".png"));
    assert.ok(png);
    await founder.locator(`[data-testid="photo-thumb"][data-name="${png.name}"] a`).click();
    await founder.getByTestId("photo-viewer").waitFor();
    await founder.waitForFunction(() => {
      const img = document.querySelector('[data-testid="viewer-image"]');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 400;
    });
    const got = await downloadOriginal(founder);
    assert.equal(got.name, png.name);
    assert.equal(sha256(got.bytes), png.sha256, "the decrypted PNG is the original, byte for byte");
    await shot(founder, "05-viewer");

    const position = await founder.getByTestId("viewer-position").textContent();
    await founder.keyboard.press("ArrowRight");
    await founder.waitForFunction(
      (before) => document.querySelector('[data-testid="viewer-position"]')?.textContent !== before,
      position,
    );
    await founder.keyboard.press("ArrowLeft");
    await founder.waitForFunction(
      (name) => document.querySelector('[data-testid="photo-viewer"]')?.getAttribute("data-name") === name,
      png.name,
    );

    const heic = files.find((f) => f.name.endsWith(".HEIC"));
    assert.ok(heic);
    await founder.goto(`${node.url}/#/albums/${albumId}`);
    await founder.locator(`[data-testid="photo-thumb"][data-name="${heic.name}"] a`).click();
    await founder.getByTestId("viewer-placeholder").waitFor({ timeout: 30_000 });
    const gotHeic = await downloadOriginal(founder);
    assert.equal(gotHeic.name, heic.name);
    assert.equal(sha256(gotHeic.bytes), heic.sha256, "the HEIC file is stored and comes back unchanged");
    await shot(founder, "06-viewer-heic");

    // --- A second identity: added as a member, granted the album, decrypts a photo
    const memberContext = await browser.newContext({ acceptDownloads: true });
    const member = await newPage(memberContext, node.url, "member");
    const second = await createIdentity(member, "Ben");
    // Not a member yet: the outsider screen (no claim form on a claimed node), and no session.
    await member.getByTestId("outsider").waitFor({ timeout: 30_000 });
    assert.equal(await member.getByTestId("claim-node").count(), 0, "a claimed node offers no claim form");
    assert.deepEqual(await cookieNames(memberContext), [], "no session for a non-member");

    await founder.goto(`${node.url}/#/members`);
    // Adding by member card is the advanced way now (invitations are the usual one: invite.test.mjs).
    await founder.getByTestId("add-member-advanced").locator("summary").click();
    await founder.getByTestId("add-member").waitFor();
    // Added by "scanning" their QR code: a screenshot of Ben's identity screen, read by the scanner.
    await founder.getByTestId("qr-picture").setInputFiles({
      name: "blank.png",
      mimeType: "image/png",
      buffer: await founder.getByTestId("add-member").screenshot(),
    });
    assert.match((await founder.getByTestId("qr-error").textContent()) ?? "", /No QR code found/);
    const qrPicture = await member.getByTestId("identity-qr").screenshot();
    await founder
      .getByTestId("qr-picture")
      .setInputFiles({ name: "ben.png", mimeType: "image/png", buffer: qrPicture });
    await founder.waitForFunction(
      (id) =>
        /** @type {HTMLInputElement | null} */ (document.querySelector('[data-testid="member-id-input"]'))?.value ===
        id,
      second.id,
    );
    assert.equal(await founder.getByTestId("member-recipient-input").inputValue(), second.recipient);
    await founder.getByTestId("member-add").click();
    const toggle = founder.locator(
      `[data-testid="grant-toggle"][data-album-id="${albumId}"][data-member-id="${second.id}"]`,
    );
    await toggle.waitFor({ timeout: 30_000 });
    assert.equal(await toggle.isChecked(), false);
    await shot(founder, "07-members");
    await toggle.click();
    await waitForGrant(founder, albumId, second.id, true);

    await member.getByTestId("check-again").click();
    await member.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
    // The hand-made sign-in the outsiders below are refused works for a member.
    const memberLogin = await signInByHand(member);
    assert.equal(memberLogin.status, 200, memberLogin.body);
    assert.equal(JSON.parse(memberLogin.body).role, "member");
    assert.equal(await member.getByTestId("dashboard-role").textContent(), "Member");
    await member.getByTestId("nav-albums").click();
    const card = member.locator(`[data-testid="album-card"][data-album-id="${albumId}"]`);
    await card.waitFor({ timeout: 30_000 });
    assert.equal(await card.getByTestId("album-title").textContent(), TITLE);
    await shot(member, "08-member-albums");
    await card.locator("a").click();
    await waitForGrid(member);
    const jpeg = files.find((f) => f.name.endsWith(".jpg"));
    assert.ok(jpeg);
    await member.locator(`[data-testid="photo-thumb"][data-name="${jpeg.name}"] a`).click();
    const gotJpeg = await downloadOriginal(member);
    assert.equal(gotJpeg.name, jpeg.name);
    assert.equal(sha256(gotJpeg.bytes), jpeg.sha256, "the member decrypts the original JPEG");

    // --- Revoked (after a confirmation): the member loses the album (and its blobs) at once, and
    // the album gets a new key
    const album = JSON.parse((await apiGet(founder, `/v1/albums/${albumId}`)).body);
    const albumPhotos = JSON.parse((await apiGet(founder, `/v1/albums/${albumId}/photos?limit=500`)).body).photos;
    const blobIds = albumPhotos.flatMap((p) => [p.blob, p.thumb].filter(Boolean));
    assert.equal(albumPhotos.length, 20);
    assert.equal(album.photos, 20);
    assert.equal(blobIds.length, 20 + imageCount);
    assert.equal(album.epoch, 0);
    // Unticking asks first; cancelling keeps the access.
    await toggle.click();
    await founder.getByTestId("revoke-dialog").waitFor();
    await founder.getByTestId("confirm-cancel").click();
    assert.equal(await founder.getByTestId("revoke-dialog").count(), 0);
    assert.equal(await toggle.getAttribute("data-granted"), "true", "cancel keeps the access");
    assert.equal((await apiGet(member, `/v1/albums/${albumId}`)).status, 200);
    await toggle.click();
    await founder.getByTestId("revoke-confirm").click();
    await waitForGrant(founder, albumId, second.id, false);
    assert.equal(await founder.getByTestId("rotation-pending").count(), 0, "the album key was changed");
    assert.equal(JSON.parse((await apiGet(founder, `/v1/albums/${albumId}`)).body).epoch, 1, "a new epoch");
    const revokedAlbum = await apiGet(member, `/v1/albums/${albumId}`);
    assert.equal(revokedAlbum.status, 403);
    assert.match(JSON.parse(revokedAlbum.body).message, /not shared with you/);
    assert.equal((await apiGet(member, `/v1/blobs/${blobIds[0]}`)).status, 403);
    await member.goto(`${node.url}/#/albums/${albumId}`);
    await member.reload();
    await member.getByTestId("album-error").waitFor({ timeout: 30_000 });
    assert.match((await member.getByTestId("album-error").textContent()) ?? "", /This album is not shared with you/);
    await shot(member, "09-revoked");

    // --- A third identity, not a member: refused a session, so refused the album and every blob

    const outsiderContext = await browser.newContext();
    const outsider = await newPage(outsiderContext, node.url, "outsider");
    await createIdentity(outsider, "Eve");
    await outsider.getByTestId("outsider").waitFor({ timeout: 30_000 });
    assert.equal(await outsider.getByTestId("claim-node").count(), 0, "a claimed node offers no claim form");
    await shot(outsider, "10-outsider");
    // Even a correctly signed challenge gets no session: 403 not_a_member, and no cookie.
    const outsiderLogin = await signInByHand(outsider);
    assert.equal(outsiderLogin.status, 403, outsiderLogin.body);
    assert.equal(JSON.parse(outsiderLogin.body).error, "not_a_member");
    assert.deepEqual(await cookieNames(outsiderContext), [], "no session cookie for a non-member");
    assert.equal((await apiGet(outsider, "/v1/auth/me")).status, 401, "not signed in");
    assert.equal((await apiGet(outsider, `/v1/albums/${albumId}`)).status, 401);
    assert.equal((await apiGet(outsider, "/v1/albums")).status, 401);
    assert.equal((await apiGet(outsider, "/v1/records")).status, 401);
    assert.equal((await apiGet(outsider, "/v1/members")).status, 401);
    const statuses = await outsider.evaluate(async (ids) => {
      const out = [];
      for (const id of ids) out.push((await fetch(`/v1/blobs/${id}`, { credentials: "same-origin" })).status);
      return out;
    }, blobIds);
    assert.deepEqual(
      statuses,
      blobIds.map(() => 401),
      "every blob is refused to a non-member",
    );
    // The same through the UI: an album link shows the outsider screen, not the album.
    await outsider.goto(`${node.url}/#/albums/${albumId}`);
    await outsider.reload();
    await outsider.getByTestId("outsider").waitFor({ timeout: 30_000 });
    assert.equal(await outsider.getByTestId("album-page").count(), 0);
    assert.deepEqual(await cookieNames(outsiderContext), [], "still no session cookie");

    // --- The node's data dir holds no plaintext: no file bytes, no title, no file names
    const needles = [
      { what: "album title", bytes: Buffer.from(TITLE) },
      ...files.map((f) => ({ what: `file name ${f.name}`, bytes: Buffer.from(f.name) })),
      ...files
        .filter((_, i) => i % 3 === 0 || !files[i].image)
        .map((f) => {
          const middle = Math.floor(f.bytes.length / 2);
          return { what: `64 bytes from the middle of ${f.name}`, bytes: f.bytes.subarray(middle, middle + 64) };
        }),
    ];
    const stored = await allFiles(node.dataDir);
    assert.ok(stored.length > 0, "the node stored files");
    let storedBytes = 0;
    for (const file of stored) {
      const bytes = await readFile(file);
      storedBytes += bytes.length;
      for (const needle of needles) {
        assert.equal(bytes.indexOf(needle.bytes), -1, `${needle.what} found in ${path.relative(node.dataDir, file)}`);
      }
    }
    assert.ok(storedBytes > BIG_SIZE, `the ciphertext is there (${storedBytes} bytes in ${stored.length} files)`);

    // --- The dashboard counts the storage used; signing out and in again
    await founder.goto(`${node.url}/#/`);
    const storage = founder.getByTestId("dashboard-storage");
    await storage.waitFor();
    const expected = albumPhotos.reduce((sum, p) => sum + p.size + (p.thumb_size ?? 0), 0);
    assert.equal(album.bytes, expected);
    assert.equal(Number(await storage.getAttribute("data-bytes")), expected);
    assert.ok(expected > BIG_SIZE);
    await founder.getByTestId("nav-settings").click();

    // --- Export from the web app: the photos open with the stock age tool and the identity backup
    const [backupDownload] = await Promise.all([
      founder.waitForEvent("download"),
      founder.getByTestId("settings-backup").click(),
    ]);
    const [exportDownload] = await Promise.all([
      founder.waitForEvent("download", { timeout: 120_000 }),
      founder.getByTestId("settings-export").click(),
    ]);
    assert.match(exportDownload.suggestedFilename(), /^p2pos-export-\d{4}-\d{2}-\d{2}\.zip$/);
    const { dir: work, cleanup: cleanupWork } = await tempDir("export");
    const archive = unzipSync(new Uint8Array(await readFile(await exportDownload.path())));
    const manifest = JSON.parse(Buffer.from(archive["manifest.json"]).toString());
    const exported = manifest.albums.find((a) => a.id === albumId);
    assert.equal(exported.photos.length, 20, "every photo is in the export");
    assert.ok(archive["README.txt"], "the export explains how to decrypt");
    const write = async (name, bytes) => {
      const file = path.join(work, name.replaceAll("/", "_"));
      await writeFile(file, bytes);
      return file;
    };
    const backupFile = path.join(work, "backup.age");
    await writeFile(backupFile, await readFile(await backupDownload.path()));
    const passFile = await write("pass", PASSPHRASE + "\n");
    // Two keys since the revocation: the photos (epoch 0) open with the first.
    assert.equal(exported.epoch, 1);
    assert.deepEqual(exported.keys.map((k) => k.epoch).sort(), [0, 1], "the founder holds both album keys");
    assert.ok(
      exported.photos.every((p) => p.epoch === 0),
      "every photo predates the revocation",
    );
    const epochKey = exported.keys.find((k) => k.epoch === 0);
    const keyFile = await write("key.age", archive[`${albumId}/${epochKey.file}`]);
    const albumKeyFile = path.join(work, "album-key.txt");
    // The album key with our CLI (the backup is passphrase-protected), then the photo with stock age.
    const unlock = spawnSync(P2POS_BIN, [
      "decrypt",
      "--identity",
      backupFile,
      "--passphrase-file",
      passFile,
      "--out",
      albumKeyFile,
      keyFile,
    ]);
    assert.equal(unlock.status, 0, String(unlock.stderr));
    const age = (file) => {
      const run = spawnSync("age", ["-d", "-i", albumKeyFile, file]);
      assert.equal(run.status, 0, `age -d: ${run.stderr}`);
      return run.stdout;
    };
    const pngName = files.find((f) => f.name.endsWith(".png"))?.name;
    assert.ok(pngName);
    let matched = 0;
    for (const entry of exported.photos) {
      const meta = JSON.parse(age(await write(entry.meta, archive[`${albumId}/${entry.meta}`])).toString());
      if (meta.name !== pngName && meta.name !== "IMG_4021.HEIC") continue;
      const original = files.find((f) => f.name === meta.name);
      assert.ok(original);
      const plain = age(await write(entry.file, archive[`${albumId}/${entry.file}`]));
      assert.equal(sha256(plain), original.sha256, `${meta.name} from the export is the original`);
      matched += 1;
    }
    assert.equal(matched, 2, "the PNG and the HEIC were found in the export and decrypted");
    await cleanupWork();

    await founder.getByTestId("sign-out").click();
    await founder.getByTestId("signed-out").waitFor();
    assert.equal((await apiGet(founder, "/v1/auth/me")).status, 401, "the session is gone");
    await founder.getByTestId("sign-in").click();
    await founder.getByTestId("vault-shell").waitFor({ timeout: 30_000 });

    await Promise.all([founderContext.close(), memberContext.close(), outsiderContext.close()]);
  },
);

/**
 * Upload files through the album page's picker; waits until they are done, none failed. (The
 * page's upload list outlives a visit to another page, so earlier uploads may be listed too.)
 */
async function uploadFiles(page, files) {
  const before = await page.locator('[data-testid="upload-item"][data-status="done"]').count();
  await page.getByTestId("upload-input").setInputFiles(files.map((f) => f.path));
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="upload-item"][data-status="done"]').length === n,
    before + files.length,
    { timeout: 60_000, polling: 250 },
  );
  assert.equal(await page.locator('[data-testid="upload-item"][data-status="failed"]').count(), 0);
}

/** The bodies of the album, grant and photo records `GET /v1/records` gives this page's session. */
async function albumRecords(page) {
  const response = await apiGet(page, "/v1/records?since=0&limit=10000");
  assert.equal(response.status, 200, response.body);
  return JSON.parse(response.body)
    .map((entry) => JSON.parse(Buffer.from(entry.record.body, "base64").toString("utf8")))
    .filter((body) => body.album !== undefined);
}

test(
  "revoked: Ann takes Ben's access away, then uploads; Ben cannot open the album, now at epoch 1",
  { timeout: 180_000 },
  async () => {
    const own = await startNode(DIST);
    const annContext = await browser.newContext();
    const benContext = await browser.newContext();
    try {
      // --- Ann founds the family on a node of its own, makes an album, uploads one photo
      const ann = await newPage(annContext, own.url, "Ann");
      await createIdentity(ann, "Ann");
      await ann.getByTestId("claim-code").fill(own.setupCode ?? "");
      await ann.getByTestId("claim-submit").click();
      await ann.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
      await ann.getByTestId("nav-albums").click();
      await ann.getByTestId("album-title-input").fill("Before and after");
      await ann.getByTestId("album-create").click();
      await ann.getByTestId("album-page").waitFor();
      const albumId = await ann.getByTestId("album-page").getAttribute("data-album-id");
      const drawn = await drawImages(ann, [
        { type: "image/jpeg", width: 320, height: 240, seed: 101 },
        { type: "image/jpeg", width: 320, height: 240, seed: 102 },
      ]);
      const [firstPhoto, laterPhoto] = await Promise.all(
        ["shared-before.jpg", "uploaded-after.jpg"].map(async (name, i) => {
          const file = path.join(temp.dir, name);
          await writeFile(file, drawn[i]);
          return { name, path: file };
        }),
      );
      await uploadFiles(ann, [firstPhoto]);

      // --- Ben, in his own browser: an outsider until Ann adds him and shares the album
      const ben = await newPage(benContext, own.url, "Ben");
      const benId = await createIdentity(ben, "Ben");
      await ben.getByTestId("outsider").waitFor({ timeout: 30_000 });
      await ann.getByTestId("nav-members").click();
      await ann.getByTestId("add-member-advanced").locator("summary").click();
      await ann.getByTestId("member-id-input").fill(benId.id ?? "");
      await ann.getByTestId("member-recipient-input").fill(benId.recipient);
      await ann.getByTestId("member-add").click();
      const toggle = ann.locator(
        `[data-testid="grant-toggle"][data-album-id="${albumId}"][data-member-id="${benId.id}"]`,
      );
      await toggle.waitFor({ timeout: 30_000 });
      await toggle.click();
      await waitForGrant(ann, albumId, benId.id, true);

      // Ben opens the album: its photo decrypts in his browser.
      await ben.getByTestId("check-again").click();
      await ben.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
      await ben.goto(`${own.url}/#/albums/${albumId}`);
      await ben.getByTestId("album-page").waitFor({ timeout: 30_000 });
      await ben.waitForFunction(
        (name) => {
          const img = document.querySelector(
            `[data-testid="photo-thumb"][data-name="${name}"] [data-testid="thumb-image"]`,
          );
          return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
        },
        firstPhoto.name,
        { timeout: 30_000, polling: 250 },
      );
      const beforeDetail = JSON.parse((await apiGet(ben, `/v1/albums/${albumId}`)).body);
      assert.equal(beforeDetail.epoch, 0);
      assert.ok(
        (await albumRecords(ben)).some((body) => body.album === albumId),
        "Ben reads the album's records while it is shared with him",
      );

      // --- Ann takes Ben's access away, confirming; the album gets a new key (epoch 1)
      await toggle.click();
      await ann.getByTestId("revoke-dialog").waitFor();
      await ann.getByTestId("revoke-confirm").click();
      await waitForGrant(ann, albumId, benId.id, false);
      assert.equal(await ann.getByTestId("rotation-pending").count(), 0, "the album key was changed");

      // --- Then Ann uploads a new photo: it goes to the new epoch
      await ann.goto(`${own.url}/#/albums/${albumId}`);
      await ann.getByTestId("album-page").waitFor({ timeout: 30_000 });
      assert.equal(await ann.getByTestId("album-key").getAttribute("data-epoch"), "1", "the page shows epoch 1");
      await uploadFiles(ann, [laterPhoto]);
      const detail = JSON.parse((await apiGet(ann, `/v1/albums/${albumId}`)).body);
      assert.equal(detail.epoch, 1, "the album is at epoch 1");
      assert.deepEqual(detail.keys.map((k) => k.epoch).sort(), [0, 1], "Ann holds both keys");
      const photoList = JSON.parse((await apiGet(ann, `/v1/albums/${albumId}/photos`)).body).photos;
      assert.equal(photoList.length, 2);
      const oldPhoto = photoList.find((p) => p.epoch === 0);
      const newPhoto = photoList.find((p) => p.epoch === 1);
      assert.ok(oldPhoto && newPhoto, `one photo per epoch: ${JSON.stringify(photoList.map((p) => p.epoch))}`);
      assert.ok(
        (await albumRecords(ann)).some((body) => body.type === "photo" && body.album === albumId && body.epoch === 1),
        "Ann reads the new photo's record",
      );

      // --- Ben's open page can no longer open the album (it notices by itself), nor after a reload
      await ben.getByTestId("album-error").waitFor({ timeout: 30_000 });
      assert.match((await ben.getByTestId("album-error").textContent()) ?? "", /This album is not shared with you/);
      await ben.reload();
      await ben.getByTestId("album-error").waitFor({ timeout: 30_000 });
      assert.match((await ben.getByTestId("album-error").textContent()) ?? "", /This album is not shared with you/);
      assert.equal(await ben.getByTestId("photo-thumb").count(), 0);
      await shot(ben, "20-revoked-after-upload");
      // Nor can anything of it be read through the API: the album, its blobs old and new, its records.
      const refused = await apiGet(ben, `/v1/albums/${albumId}`);
      assert.equal(refused.status, 403);
      assert.match(JSON.parse(refused.body).message, /not shared with you/);
      assert.deepEqual(JSON.parse((await apiGet(ben, "/v1/albums")).body), [], "no album is listed for Ben");
      for (const blob of [newPhoto.blob, newPhoto.thumb, oldPhoto.blob].filter(Boolean)) {
        assert.equal((await apiGet(ben, `/v1/blobs/${blob}`)).status, 403, `blob ${blob} refused to Ben`);
      }
      assert.deepEqual(
        (await albumRecords(ben)).filter((body) => body.album === albumId),
        [],
        "none of the album's records reach Ben",
      );
      // Ann's page says the same epoch.
      await ann.reload();
      await ann.getByTestId("album-key").waitFor({ timeout: 30_000 });
      assert.equal(await ann.getByTestId("album-key").getAttribute("data-epoch"), "1");

      // --- Removing Ben from the family has its own button and confirmation; then he has no session
      await ann.getByTestId("nav-members").click();
      const benRow = ann.locator(`[data-testid="member-row"][data-member-id="${benId.id}"]`);
      await benRow.getByTestId("member-remove").click();
      await ann.getByTestId("remove-dialog").waitFor();
      await ann.getByTestId("remove-confirm").click();
      await benRow.waitFor({ state: "detached", timeout: 30_000 });
      await ben.reload();
      await ben.getByTestId("outsider").waitFor({ timeout: 30_000 });
      const removedLogin = await signInByHand(ben);
      assert.equal(removedLogin.status, 403, removedLogin.body);
      assert.equal(JSON.parse(removedLogin.body).error, "not_a_member");
    } finally {
      await Promise.all([annContext.close(), benContext.close()]);
      await own.stop();
    }
  },
);
