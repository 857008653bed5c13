// @ts-check
// Names and invitations end to end, in Chromium against real processes: a hub and two nodes, Oak
// and Pine. Ann claims Oak, names herself and the family, makes an album and enrols Pine. She
// invites Ben by link: Ben's browser creates his identity, he types his name and asks to join;
// both screens show the same four words; Ann approves (sharing the album). Ben's browser opens the
// vault by itself, and both see each other's names. At Pine, Ann's restored identity sees the
// same names: the profiles replicated, encrypted, and Pine's fold accepts them. Then Cleo joins
// from anywhere: the hub's page, the nodes' HTTP origins blocked, over a WebRTC data channel.
// Ann also sets a profile photo (a HEIC and a broken file first get their messages); Ben, and Ann
// at Pine, see it in the Members table, decoded.
//
// With P2POS_SCREENSHOTS=<dir>, the invite and members pages are saved there at 1280×800 and
// 390 px wide (docs/screenshots/invite-*.png, members-*.png, profile-photo-*.png come from this).
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  createIdentity as createIdentityWith,
  DIST,
  freePort,
  launchBrowser,
  newPage,
  restoreThroughUi,
  runCli,
  startHub,
  startNode,
  tempDir,
} from "./support.mjs";

const PASSPHRASE = "a long and careful family passphrase";
const TITLE = "Summer 2026";
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 390, height: 844 };

let hub;
let oak;
let pine;
let browser;
let temp;
const nodeSetup = {};

/** `p2pos node` flags for one of the story's nodes: its name, the hub, loopback WebRTC, 1 s syncs. */
function nodeOptions(name, port, dataDir) {
  return {
    listen: `127.0.0.1:${port}`,
    dataDir,
    args: [
      "--name",
      name,
      "--hub",
      hub.wsUrl,
      "--rtc-bind",
      "127.0.0.1:0",
      "--public-url",
      `http://127.0.0.1:${port}`,
      "--sync-interval-secs",
      "1",
    ],
  };
}

before(async () => {
  temp = await tempDir("invite");
  hub = await startHub(DIST);
  for (const name of ["Oak", "Pine"]) {
    const dataDir = path.join(temp.dir, name.toLowerCase());
    await mkdir(dataDir);
    nodeSetup[name] = nodeOptions(name, await freePort(), dataDir);
  }
  [oak, pine] = await Promise.all([startNode(DIST, nodeSetup.Oak), startNode(DIST, nodeSetup.Pine)]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all([oak?.stop(), pine?.stop()]);
  await hub?.stop();
  await temp?.cleanup();
});

/** Screenshots of `page` at 1280×800 and 390 px wide, when P2POS_SCREENSHOTS names a directory. */
async function shots(page, name) {
  const dir = process.env.P2POS_SCREENSHOTS;
  if (!dir) return;
  for (const [size, viewport] of [
    ["1280", WIDE],
    ["390", NARROW],
  ]) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(200);
    await page.screenshot({ path: path.join(dir, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(WIDE);
}

/**
 * A photo drawn in the browser (a face-like shape on a gradient), saved as a JPEG file.
 * @param {import("playwright-core").Page} page
 * @param {string} file
 */
async function drawPortrait(page, file) {
  const bytes = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(800, 600);
    const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
    const sky = ctx.createLinearGradient(0, 0, 0, 600);
    sky.addColorStop(0, "#7fb7e6");
    sky.addColorStop(1, "#f3d9a4");
    ctx.fillStyle = sky;
    ctx.fillRect(0, 0, 800, 600);
    ctx.fillStyle = "#5a3b22";
    ctx.beginPath();
    ctx.arc(430, 250, 130, Math.PI, 0);
    ctx.fill();
    ctx.fillStyle = "#e8b894";
    ctx.beginPath();
    ctx.ellipse(430, 280, 105, 125, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#2f6f4f";
    ctx.beginPath();
    ctx.ellipse(430, 620, 220, 190, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#2b2b2b";
    for (const x of [390, 470]) {
      ctx.beginPath();
      ctx.arc(x, 265, 11, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.strokeStyle = "#9c4a3c";
    ctx.lineWidth = 7;
    ctx.beginPath();
    ctx.arc(430, 310, 42, 0.15 * Math.PI, 0.85 * Math.PI);
    ctx.stroke();
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  });
  await writeFile(file, Uint8Array.from(bytes));
}

/**
 * The avatar in `memberId`'s row of the Members table: photo or initials, and whether it decoded.
 * @param {import("playwright-core").Page} page
 * @param {string | null} memberId
 */
async function rowAvatar(page, memberId) {
  const avatar = page.locator(`[data-testid="member-row"][data-member-id="${memberId}"] [data-testid="member-avatar"]`);
  return avatar.evaluate((element) => ({
    kind: element.getAttribute("data-kind"),
    alt: element.getAttribute("alt"),
    width: element instanceof HTMLImageElement ? element.naturalWidth : 0,
    src: element instanceof HTMLImageElement ? element.src : "",
    text: element.getAttribute("data-initials"),
  }));
}

/** Wait until `memberId`'s row shows a decoded photo (reloading meanwhile); returns it. */
async function waitForPhoto(page, memberId, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let seen;
  while (Date.now() < deadline) {
    await page.getByTestId("member-row").first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    seen = await rowAvatar(page, memberId);
    if (seen.kind === "photo" && seen.width > 0) return seen;
    await page.reload();
  }
  assert.fail(`no decoded photo for ${memberId}: ${JSON.stringify(seen)}`);
}

/** The member names of the Members table, in order, with "(you)" where the table says so. */
async function memberNames(page) {
  return page.locator('[data-testid="member-row"]').evaluateAll((rows) =>
    rows.map((row) => {
      const name = row.querySelector('[data-testid="member-name"]')?.textContent ?? "";
      return row.textContent?.includes("(you)") ? `${name} (you)` : name;
    }),
  );
}

/** Wait until the Members table shows exactly `expected` (sorted), reloading the page meanwhile. */
async function waitForNames(page, expected, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let seen = [];
  while (Date.now() < deadline) {
    await page.getByTestId("member-row").first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    seen = (await memberNames(page)).sort();
    if (JSON.stringify(seen) === JSON.stringify([...expected].sort())) return;
    await page.reload();
  }
  assert.deepEqual(seen, [...expected].sort());
}

test(
  "Ann invites Ben by link; both see the words, then each other's names, on Oak and on Pine",
  { timeout: 300_000 },
  async () => {
    const started = Date.now();
    const log = (step) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${step}`);

    // --- Ann at Oak: identity, claim, her name and the family's, an album
    const annContext = await browser.newContext({ acceptDownloads: true, viewport: WIDE });
    const ann = await newPage(annContext, oak.url, "Ann");
    const annId = await createIdentityWith(ann, "Ann", PASSPHRASE);
    await ann.getByTestId("claim-node").waitFor({ timeout: 30_000 });
    await ann.getByTestId("claim-code").fill(oak.setupCode ?? "");
    await ann.getByTestId("claim-submit").click();
    await ann.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
    await ann.getByTestId("nav-albums").click();
    await ann.getByTestId("album-title-input").fill(TITLE);
    await ann.getByTestId("album-create").click();
    await ann.getByTestId("album-page").waitFor();
    const albumId = await ann.getByTestId("album-page").getAttribute("data-album-id");

    await ann.getByTestId("nav-members").click();
    await ann.getByTestId("family-name-input").fill("The Rivers");
    await ann.getByTestId("family-name-save").click();
    await ann.getByRole("heading", { name: "Members of The Rivers" }).waitFor({ timeout: 30_000 });
    await ann.getByTestId("my-name-input").fill("Ann");
    await ann.getByTestId("my-name-save").click();
    await waitForNames(ann, ["Ann (you)"]);
    log("Ann named herself and the family");

    // --- Ann's profile photo: a HEIC this browser cannot read, a broken file, then a real photo
    const photo = ann.getByTestId("profile-photo");
    assert.equal(
      await rowAvatar(ann, annId.id)
        .then((a) => [a.kind, a.text])
        .then(String),
      "initials,A",
    );
    const heic = path.join(temp.dir, "IMG_0001.HEIC");
    await writeFile(heic, Buffer.concat([Buffer.from("\0\0\0\x18ftypheic"), Buffer.alloc(64)]));
    await photo.getByTestId("profile-photo-input").setInputFiles(heic);
    assert.match((await photo.getByTestId("profile-photo-error").textContent()) ?? "", /cannot read HEIC photos/);
    const broken = path.join(temp.dir, "broken.jpg");
    await writeFile(broken, "not a picture at all");
    await photo.getByTestId("profile-photo-input").setInputFiles(broken);
    await photo.getByText("not a picture this browser can read").waitFor();
    const portrait = path.join(temp.dir, "ann.jpg");
    await drawPortrait(ann, portrait);
    await photo.getByTestId("profile-photo-input").setInputFiles(portrait);
    const preview = photo.getByTestId("profile-photo-preview");
    await preview.waitFor();
    assert.equal(await photo.getByTestId("profile-photo-error").count(), 0, "the error went with a good photo");
    await photo.getByTestId("profile-photo-zoom").fill("1.6");
    // Drag the picture a little left (the crop moves right), then back up with the keyboard.
    const box = await preview.boundingBox();
    assert.ok(box, "the preview is shown");
    await ann.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await ann.mouse.down();
    await ann.mouse.move(box.x + box.width / 2 - 20, box.y + box.height / 2 + 10, { steps: 4 });
    await ann.mouse.up();
    await preview.press("ArrowUp");
    await shots(ann, "profile-photo-picker");
    await photo.getByTestId("profile-photo-save").click();
    await photo.getByText("Saved: the family sees your new photo.").waitFor({ timeout: 30_000 });
    const annPhoto = await waitForPhoto(ann, annId.id);
    assert.match(annPhoto.src, /^data:image\/webp;base64,/, "Chromium encodes WebP");
    assert.ok(annPhoto.src.length <= 5_000, `fits the profile: ${annPhoto.src.length} characters`);
    assert.equal(annPhoto.width, 96, "stored at 96 px");
    assert.equal(annPhoto.alt, "", "decorative beside the name");
    // The header shows it beside her name, without a page change.
    await ann.waitForFunction(
      () => document.querySelector('[data-testid="own-avatar"]')?.getAttribute("data-kind") === "photo",
    );
    // A new name keeps the photo.
    await ann.getByTestId("my-name-input").fill("Ann Rivers");
    await ann.getByTestId("my-name-save").click();
    await waitForNames(ann, ["Ann Rivers (you)"]);
    assert.equal((await waitForPhoto(ann, annId.id)).src, annPhoto.src, "the rename kept the photo");
    await ann.getByTestId("my-name-input").fill("Ann");
    await ann.getByTestId("my-name-save").click();
    await waitForNames(ann, ["Ann (you)"]);
    log(`Ann set a profile photo (${annPhoto.src.length} characters)`);

    // --- Pine enrolled from Oak's Nodes page
    await ann.getByTestId("nav-nodes").click();
    await ann.getByTestId("enrol-start").click();
    const token = ((await ann.getByTestId("enrol-token").textContent()) ?? "").trim();
    const added = await runCli(["peer", "add", token, "--data-dir", nodeSetup.Pine.dataDir]);
    assert.equal(added.code, 0, added.stderr);
    log("Pine enrolled");

    // --- Ann invites: a link with the secret in its fragment
    await ann.getByTestId("nav-members").click();
    await ann.getByTestId("invite-start").click();
    const link = await ann.getByTestId("invite-link").inputValue();
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#invite=[A-Za-z0-9_-]{43}$/, "the secret is in the fragment only");
    await ann.getByTestId("invite-qr").waitFor();
    await shots(ann, "invite-link");

    // --- Ben, in his own browser, opens the link: identity, name, ask
    const benContext = await browser.newContext({ viewport: WIDE });
    const ben = await benContext.newPage();
    ben.on("pageerror", (error) => console.error("[Ben page error]", error));
    await ben.goto(link);
    const benId = await createIdentityWith(ben, "Ben", PASSPHRASE);
    await ben.getByTestId("join-family").waitFor({ timeout: 30_000 });
    await ben.getByTestId("join-name").fill("Ben");
    await ben.getByTestId("join-ask").click();
    const benWords = ((await ben.getByTestId("join-words").textContent()) ?? "").trim();
    assert.match(benWords, /^[a-z]+ [a-z]+ [a-z]+ [a-z]+$/, "four words");
    await shots(ben, "invite-ben-words");
    log(`Ben asked to join: ${benWords}`);

    // --- Ann sees Ben's name and the same words, shares the album, approves
    await ann.getByTestId("invite-request").waitFor({ timeout: 30_000 });
    assert.equal(await ann.getByTestId("invite-request-name").textContent(), "Ben");
    assert.equal(((await ann.getByTestId("invite-words").textContent()) ?? "").trim(), benWords, "the same words");
    await ann.locator(`[data-testid="invite-share"][data-album-id="${albumId}"]`).check();
    await shots(ann, "invite-request");
    await ann.getByTestId("invite-approve").click();
    await ann.getByTestId("invite-approved").waitFor({ timeout: 30_000 });
    log("Ann approved");

    // --- Ben's browser opens the vault by itself; both see each other's names
    await ben.getByTestId("vault-shell").waitFor({ timeout: 30_000 });
    assert.equal(new URL(ben.url()).hash, "#/", "the secret left the address bar");
    await ben.getByTestId("nav-albums").click();
    await ben.getByText(TITLE).first().waitFor({ timeout: 30_000 });
    await ben.getByTestId("nav-members").click();
    await waitForNames(ben, ["Ann", "Ben (you)"]);
    await ben.getByRole("heading", { name: "Members of The Rivers" }).waitFor();
    await waitForNames(ann, ["Ann (you)", "Ben"]);
    // Ben sees Ann's photo, decoded; his own row has his initials.
    assert.equal((await waitForPhoto(ben, annId.id)).src, annPhoto.src, "Ben sees Ann's photo");
    assert.deepEqual(
      await rowAvatar(ben, benId.id).then((a) => [a.kind, a.text]),
      ["initials", "B"],
      "no photo: initials",
    );
    const benRow = ann.locator(`[data-testid="member-row"][data-member-id="${benId.id}"]`);
    assert.equal(await benRow.getByTestId("member-name").getAttribute("title"), benId.id, "the id stays at hand");
    await shots(ann, "members-admin");
    await shots(ben, "members-member");
    // The album's Share panel shows who holds its key with their faces too.
    await ben.getByTestId("nav-albums").click();
    await ben.getByText(TITLE).first().click();
    await ben.getByTestId("album-share").click();
    const annShare = ben.locator(
      `[data-testid="share-member"][data-member-id="${annId.id}"] [data-testid="share-avatar"]`,
    );
    // Initials until the names are read, then the photo, decoded.
    await annShare.and(ben.locator('[data-kind="photo"]')).waitFor({ timeout: 30_000 });
    await ben.waitForFunction(
      (selector) => {
        const image = document.querySelector(selector);
        return image instanceof HTMLImageElement && image.complete && image.naturalWidth > 0;
      },
      `[data-testid="share-member"][data-member-id="${annId.id}"] [data-testid="share-avatar"]`,
      { timeout: 30_000 },
    );
    assert.equal(await annShare.getAttribute("src"), annPhoto.src, "the Share panel shows Ann's photo");
    await ben.getByTestId("nav-members").click();
    log("names on Oak");

    // --- At Pine: Ann's identity restored in a fresh browser sees the same names
    await ann.getByTestId("nav-settings").click();
    const [backupDownload] = await Promise.all([
      ann.waitForEvent("download"),
      ann.getByTestId("settings-backup").click(),
    ]);
    const backupFile = path.join(temp.dir, backupDownload.suggestedFilename());
    await backupDownload.saveAs(backupFile);
    const pineContext = await browser.newContext({ viewport: WIDE });
    const atPine = await newPage(pineContext, pine.url, "Pine");
    await restoreThroughUi(atPine, backupFile, PASSPHRASE);
    await atPine.getByTestId("vault-shell").waitFor({ timeout: 60_000 });
    await atPine.getByTestId("nav-members").click();
    await waitForNames(atPine, ["Ann (you)", "Ben"], 60_000);
    assert.equal((await waitForPhoto(atPine, annId.id)).src, annPhoto.src, "the photo replicated to Pine");
    await atPine.getByRole("heading", { name: "Members of The Rivers" }).waitFor();
    assert.ok(annId.id, "Ann has an id");
    log("names on Pine");

    // --- Cleo, from anywhere: the hub's page with the nodes' HTTP origins blocked. Her browser is
    // a stranger's, admitted over a data channel only while the invitation is open.
    await ann.getByTestId("nav-nodes").click();
    const oakId = (await ann.getByTestId("this-node-id").getAttribute("data-id")) ?? "";
    await ann.getByTestId("nav-members").click();
    await ann.getByTestId("invite-start").click();
    const fragment = new URL(await ann.getByTestId("invite-link").inputValue()).hash;
    const anywhere = await browser.newContext({ viewport: WIDE });
    for (const node of [oak, pine]) await anywhere.route(`${node.url}/**`, (route) => route.abort());
    const cleo = await anywhere.newPage();
    cleo.on("pageerror", (error) => console.error("[Cleo page error]", error));
    await cleo.goto(`${hub.url}/?node=${encodeURIComponent(oakId)}${fragment}`);
    await createIdentityWith(cleo, "Cleo", PASSPHRASE);
    await cleo.getByTestId("join-family").waitFor({ timeout: 60_000 });
    await cleo.getByTestId("join-name").fill("Cleo");
    await cleo.getByTestId("join-ask").click();
    const cleoWords = ((await cleo.getByTestId("join-words").textContent()) ?? "").trim();
    // Her request answered, the node closes her stranger's channel (its slot is free for the next
    // stranger) and says why; the page shows that, and connects again by itself to see whether
    // she was approved.
    await cleo
      .getByTestId("remote-reconnecting")
      .filter({ hasText: "request to join was passed on" })
      .waitFor({ timeout: 15_000 });
    const screenshots = process.env.P2POS_SCREENSHOTS;
    if (screenshots) await cleo.screenshot({ path: path.join(screenshots, "invite-cleo-asked-1280.png") });
    await ann.getByTestId("invite-request").waitFor({ timeout: 30_000 });
    assert.equal(((await ann.getByTestId("invite-words").textContent()) ?? "").trim(), cleoWords, "the same words");
    await ann.getByTestId("invite-approve").click();
    await cleo.getByTestId("vault-shell").waitFor({ timeout: 60_000 });
    await cleo.getByTestId("nav-members").click();
    await waitForNames(cleo, ["Ann", "Ben", "Cleo (you)"], 60_000);
    log("Cleo joined over a data channel");

    // --- Ann removes her photo: her initials again, for her and for the others.
    await ann.getByTestId("profile-photo-remove").click();
    await ann.getByText("Removed: the family sees your initials.").waitFor({ timeout: 30_000 });
    await ann.locator('[data-testid="own-avatar"][data-kind="initials"]').waitFor();
    const annAvatar = `[data-testid="member-row"][data-member-id="${annId.id}"] [data-testid="member-avatar"]`;
    for (const page of [ann, ben]) {
      await page.reload();
      // Her initials, once the names are read (before, the start of her id stands for her name).
      await page.waitForFunction(
        (selector) => {
          const avatar = document.querySelector(selector);
          return avatar?.getAttribute("data-kind") === "initials" && avatar.getAttribute("data-initials") === "A";
        },
        annAvatar,
        { timeout: 30_000 },
      );
    }
  },
);
