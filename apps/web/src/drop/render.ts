/**
 * Drawing a drop: decode the received bytes, paint them on a canvas under a watermark (the
 * receiver's name and the time), and wipe the canvas afterwards. The canvas is capped in size, so
 * the page never holds more pixels than it shows.
 */
import type { DropPicture } from "./machine.ts";
import { decodePicture } from "./session.ts";

/** The longest side of the canvas, in canvas pixels. */
const MAX_SIDE = 2048;

/** `createImageBitmap`, or through an `<img>` for formats it does not take directly (SVG). */
export async function decodeForView(bytes: Uint8Array<ArrayBuffer>, type: string): Promise<DropPicture> {
  try {
    return await decodePicture(bytes, type);
  } catch (error) {
    if (type !== "image/svg+xml") throw error;
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    const img = new Image();
    try {
      img.src = url;
      await img.decode();
      const bitmap = await createImageBitmap(img);
      return { bitmap, width: bitmap.width, height: bitmap.height };
    } finally {
      img.src = "";
      URL.revokeObjectURL(url);
    }
  }
}

/** The watermark's text: `<name> · <date and time>`. */
export function watermarkText(name: string, at: Date): string {
  return `${name} · ${at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
}

/** Paints the picture, then the watermark tiled diagonally over it and in a band at the bottom. */
export function drawPicture(canvas: HTMLCanvasElement, picture: DropPicture, watermark: string): void {
  const scale = Math.min(1, MAX_SIDE / Math.max(picture.width, picture.height, 1));
  const width = Math.max(1, Math.round(picture.width * scale));
  const height = Math.max(1, Math.round(picture.height * scale));
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("this browser gave no 2D canvas");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(picture.bitmap, 0, 0, width, height);

  const size = Math.max(12, Math.round(Math.min(width, height) / 20));
  ctx.save();
  ctx.font = `600 ${size}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.lineJoin = "round";
  ctx.lineWidth = Math.max(1, size / 12);
  ctx.fillStyle = "rgb(255 255 255 / 30%)";
  ctx.strokeStyle = "rgb(0 0 0 / 22%)";
  ctx.translate(width / 2, height / 2);
  ctx.rotate(-Math.PI / 7);
  const step = ctx.measureText(watermark).width + size * 3;
  const reach = Math.hypot(width, height) / 2 + step;
  let row = 0;
  for (let y = -reach; y < reach; y += size * 3.5) {
    const shift = (row++ % 2) * (step / 2);
    for (let x = -reach - shift; x < reach; x += step) {
      ctx.strokeText(watermark, x, y);
      ctx.fillText(watermark, x, y);
    }
  }
  ctx.restore();

  const band = Math.round(size * 1.6);
  ctx.fillStyle = "rgb(0 0 0 / 55%)";
  ctx.fillRect(0, height - band, width, band);
  ctx.font = `600 ${Math.round(size * 0.7)}px system-ui, sans-serif`;
  ctx.fillStyle = "rgb(255 255 255 / 92%)";
  ctx.textBaseline = "middle";
  ctx.fillText(`Seen once by ${watermark}`, size * 0.6, height - band / 2, width - size * 1.2);
}

/** Overwrites the canvas's pixels with zeros and shrinks it to nothing (its buffer is released). */
export function wipeCanvas(canvas: HTMLCanvasElement): void {
  const ctx = canvas.getContext("2d");
  if (ctx) {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalCompositeOperation = "copy";
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
  }
  canvas.width = 0;
  canvas.height = 0;
}

/** `1.2 MB`-style sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(0)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** A whole percentage of `part / total`. */
export function percent(part: number, total: number): number {
  return total > 0 ? Math.min(100, Math.floor((part / total) * 100)) : 0;
}
