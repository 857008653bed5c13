// Renders public/favicon.svg to the PNG icons the manifest names (public/icons/), with Debian's
// Chromium: `node scripts/make-icons.mjs`. The PNGs are committed; run this again after changing
// the SVG. "maskable" icons keep the mark inside the safe zone (the inner 80 %).
import { readFile, writeFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const svg = await readFile(new URL("../public/favicon.svg", import.meta.url), "utf8");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" });
const icons = [
  { file: "icon-192.png", size: 192, padding: 0, background: "transparent" },
  { file: "icon-512.png", size: 512, padding: 0, background: "transparent" },
  { file: "maskable-512.png", size: 512, padding: 0.1, background: "#2f6f4f" },
];
for (const { file, size, padding, background } of icons) {
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  const inset = Math.round(size * padding);
  await page.setContent(
    `<body style="margin:0;background:${background}"><div style="padding:${inset}px;width:${size - 2 * inset}px;height:${size - 2 * inset}px">${svg.replace("<svg ", '<svg width="100%" height="100%" ')}</div></body>`,
  );
  await writeFile(new URL(`../public/icons/${file}`, import.meta.url), await page.screenshot({ omitBackground: true }));
  await page.close();
}
await browser.close();
