/**
 * Profile photos: the checks every avatar passes before it is shown, the colours and initials of a
 * member without one, the crop square, and the loop that shrinks a photo until its data URL fits
 * the profile record (`MAX_AVATAR_LENGTH`).
 *
 * An avatar comes from another member's `profile` record: untrusted text. It is shown only as an
 * `<img src>` and only when `safeAvatar` accepts it (a base64 WebP, JPEG or PNG data URL, no longer
 * than the profile allows, whose header declares a still picture of at most `MAX_AVATAR_PIXELS` a
 * side: a few bytes of lossless WebP or PNG can declare 16383×16383, which the browser would try to
 * decode in every member's tab); never built into HTML or a CSS `url()`.
 *
 * Decoding and drawing need a browser (`createImageBitmap`, a canvas); the rest runs anywhere.
 */
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { P2posError } from "./errors.ts";

/** Largest avatar data URL: the sealed profile must stay under the node's 8 KiB `meta` cap. */
export const MAX_AVATAR_LENGTH = 5_000;
/** The side of the square we store, in pixels (shown at up to 48 CSS px, so 2× screens are sharp). */
export const AVATAR_SIDE = 96;

export type AvatarErrorKind =
  /** Not a picture this browser can read (or a broken file). */
  | "unreadable"
  /** A HEIC/HEIF photo this browser cannot read. */
  | "heic"
  /** Even the smallest, lowest-quality version does not fit the profile. */
  | "too_large"
  /** The browser could not draw or encode it. */
  | "no_canvas";

export class AvatarError extends P2posError<AvatarErrorKind> {}

/** Accepted avatars: base64 WebP, JPEG or PNG, canonical base64 alphabet, nothing else. */
const AVATAR_URL =
  /^data:image\/(?:webp|jpeg|png);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Largest side, in pixels, of an avatar we show (ours are `AVATAR_SIDE`). */
export const MAX_AVATAR_PIXELS = 256;

/** The avatar if it may be shown as an `<img src>`, else undefined. */
export function safeAvatar(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > MAX_AVATAR_LENGTH) return undefined;
  if (!AVATAR_URL.test(value)) return undefined;
  const comma = value.indexOf(",");
  const type = value.slice("data:image/".length, value.indexOf(";"));
  const size = imageSize(type, decodeBase64(value.slice(comma + 1)));
  if (size === undefined || size.width > MAX_AVATAR_PIXELS || size.height > MAX_AVATAR_PIXELS) return undefined;
  return value;
}

/**
 * The pixel size a picture's header declares, read from its bytes (`type`: `png`, `webp` or
 * `jpeg`, which the bytes must be); undefined for a malformed header, a zero side, or an animation
 * (PNG `acTL`, WebP's animation flag or frames). Only the header is read: nothing is decoded.
 */
export function imageSize(type: string, bytes: Uint8Array): { width: number; height: number } | undefined {
  const size =
    type === "png" ? pngSize(bytes) : type === "webp" ? webpSize(bytes) : type === "jpeg" ? jpegSize(bytes) : undefined;
  return size !== undefined && size.width > 0 && size.height > 0 ? size : undefined;
}

type Size = { width: number; height: number } | undefined;

const ascii = (bytes: Uint8Array, at: number, length: number) =>
  String.fromCharCode(...bytes.subarray(at, at + length));
const u16be = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, at: number) => u16le(b, at) | ((b[at + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, at: number) => ((u16be(b, at) << 16) | u16be(b, at + 2)) >>> 0;
const u32le = (b: Uint8Array, at: number) => ((u16le(b, at + 2) << 16) | u16le(b, at)) >>> 0;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** PNG: the IHDR chunk first; no `acTL` (APNG) before the image data. */
function pngSize(b: Uint8Array): Size {
  if (b.length < 33 || PNG_SIGNATURE.some((byte, i) => b[i] !== byte)) return undefined;
  if (u32be(b, 8) !== 13 || ascii(b, 12, 4) !== "IHDR") return undefined;
  const size = { width: u32be(b, 16), height: u32be(b, 20) };
  // Walk the chunks (length, type, data, CRC) up to the image data.
  for (let at = 33; at + 8 <= b.length;) {
    const length = u32be(b, at);
    const kind = ascii(b, at + 4, 4);
    if (kind === "acTL") return undefined;
    if (kind === "IDAT") return size;
    at += 12 + length;
  }
  return undefined; // no image data
}

/** WebP: RIFF chunks; the `VP8X` canvas (not animated) and every frame's own size. */
function webpSize(b: Uint8Array): Size {
  if (b.length < 30 || ascii(b, 0, 4) !== "RIFF" || ascii(b, 8, 4) !== "WEBP") return undefined;
  let size: Size;
  let frames = 0;
  const fits = (next: { width: number; height: number }) =>
    size === undefined || (next.width <= size.width && next.height <= size.height);
  for (let at = 12; at + 8 <= b.length;) {
    const kind = ascii(b, at, 4);
    const length = u32le(b, at + 4);
    const data = at + 8;
    if (data + length > b.length) return undefined;
    if (kind === "VP8X") {
      if (at !== 12 || length < 10) return undefined;
      if (((b[data] ?? 0) & 0x02) !== 0) return undefined; // the animation flag
      size = { width: u24le(b, data + 4) + 1, height: u24le(b, data + 7) + 1 };
    } else if (kind === "ANIM" || kind === "ANMF") {
      return undefined;
    } else if (kind === "VP8 ") {
      // A key frame: 3 bytes of frame tag, the start code, then 14-bit width and height.
      if (length < 10 || b[data + 3] !== 0x9d || b[data + 4] !== 0x01 || b[data + 5] !== 0x2a) return undefined;
      const frame = { width: u16le(b, data + 6) & 0x3fff, height: u16le(b, data + 8) & 0x3fff };
      if (!fits(frame)) return undefined;
      size ??= frame;
      frames += 1;
    } else if (kind === "VP8L") {
      // The signature byte, then 14 bits of width − 1 and 14 of height − 1.
      if (length < 5 || b[data] !== 0x2f) return undefined;
      const bits = u32le(b, data + 1);
      const frame = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
      if (!fits(frame)) return undefined;
      size ??= frame;
      frames += 1;
    }
    at = data + length + (length % 2);
  }
  return frames === 1 ? size : undefined;
}

/** JPEG: the first start-of-frame segment (SOF0–SOF15 but DHT, JPG and DAC), before the scan. */
function jpegSize(b: Uint8Array): Size {
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  for (let at = 2; at + 4 <= b.length;) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1] ?? 0;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2; // markers without a segment
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // the end, or the scan, before a frame
    const length = u16be(b, at + 2);
    if (length < 2) return undefined;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 7 || at + 9 > b.length) return undefined;
      return { width: u16be(b, at + 7), height: u16be(b, at + 5) };
    }
    at += 2 + length;
  }
  return undefined;
}

/**
 * Background colours for initials, picked by member id. Each has at least 4.5:1 contrast with
 * white text (WCAG AA; checked in avatar.test.ts), in light and dark mode alike.
 */
export const AVATAR_COLOURS: readonly string[] = [
  "#2f6f4f",
  "#1f5f8b",
  "#6b4c9a",
  "#8e3b46",
  "#8a5300",
  "#0f6a6a",
  "#9c3d7a",
  "#4a5d23",
  "#a13f2d",
  "#3d5a80",
];

/** The colour of a member's initials: the same id, the same colour, in every browser. */
export function avatarColour(id: string): string {
  // FNV-1a over the id's UTF-16 units.
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return AVATAR_COLOURS[(hash >>> 0) % AVATAR_COLOURS.length] ?? "#2f6f4f";
}

/** "Ann Rivers" → "AR", "ben" → "B", "émile zola" → "ÉZ", "" → "?" (whole characters, emoji too). */
export function initials(name: string): string {
  const words = name
    .trim()
    .split(/\s+/)
    .filter((word) => /[\p{L}\p{N}\p{Extended_Pictographic}]/u.test(word));
  const first = (word: string | undefined) => {
    if (word === undefined) return "";
    const letter = Array.from(word).find((c) => /[\p{L}\p{N}\p{Extended_Pictographic}]/u.test(c)) ?? "";
    return letter.toLocaleUpperCase();
  };
  if (words.length === 0) return "?";
  return words.length === 1 ? first(words[0]) : `${first(words[0])}${first(words[words.length - 1])}`;
}

// ---- the crop ---------------------------------------------------------------------------------

/** Where the square is taken from: its centre (fractions of the picture) and the zoom (≥ 1). */
export interface Crop {
  x: number;
  y: number;
  zoom: number;
}

export const CENTRED: Crop = { x: 0.5, y: 0.5, zoom: 1 };
export const MAX_ZOOM = 4;

/** The square of the picture a crop takes, in its pixels; always inside the picture. */
export function cropSquare(width: number, height: number, crop: Crop): { sx: number; sy: number; side: number } {
  const zoom = Math.min(MAX_ZOOM, Math.max(1, crop.zoom));
  const side = Math.min(width, height) / zoom;
  const clamp = (centre: number, extent: number) => Math.min(extent - side, Math.max(0, centre * extent - side / 2));
  return { sx: clamp(crop.x, width), sy: clamp(crop.y, height), side };
}

/**
 * The crop after a drag of (dx, dy) in a preview `previewSide` pixels wide: the picture follows the
 * pointer, and the centre stays where the square fits.
 */
export function dragCrop(crop: Crop, width: number, height: number, dx: number, dy: number, previewSide: number): Crop {
  const { sx, sy, side } = cropSquare(width, height, crop);
  const scale = side / previewSide;
  const next = { sx: sx - dx * scale, sy: sy - dy * scale };
  const x = (Math.min(width - side, Math.max(0, next.sx)) + side / 2) / width;
  const y = (Math.min(height - side, Math.max(0, next.sy)) + side / 2) / height;
  return { ...crop, x, y };
}

// ---- fitting the profile ------------------------------------------------------------------------

/** Draws the crop at `side`×`side` pixels and encodes it (the browser's canvas, or a test's). */
export type AvatarEncoder = (side: number, type: "image/webp" | "image/jpeg", quality: number) => Promise<Blob>;

/** Tried in order, largest and best first; each side at each quality. */
const SIDES = [AVATAR_SIDE, 80, 64, 48];
const QUALITIES = [0.85, 0.75, 0.65, 0.55, 0.45, 0.35];

/** A blob as a `data:` URL (no FileReader, so it runs in Node too). */
export async function dataUrl(blob: Blob): Promise<string> {
  return `data:${blob.type};base64,${encodeBase64(new Uint8Array(await blob.arrayBuffer()))}`;
}

/**
 * The largest, best avatar whose data URL fits `maxLength`: WebP first, JPEG where the browser
 * cannot encode WebP (its canvas then hands back PNG), lowering the quality, then the size.
 * Throws `too_large` when nothing fits.
 */
export async function fitAvatar(encode: AvatarEncoder, maxLength = MAX_AVATAR_LENGTH): Promise<string> {
  let type: "image/webp" | "image/jpeg" = "image/webp";
  for (const side of SIDES) {
    for (const quality of QUALITIES) {
      let blob = await encode(side, type, quality);
      if (type === "image/webp" && blob.type !== "image/webp") {
        type = "image/jpeg";
        blob = await encode(side, type, quality);
      }
      const url = await dataUrl(blob);
      if (url.length <= maxLength && safeAvatar(url) === url) return url;
    }
  }
  throw new AvatarError("too_large", "Even a small version of this photo is too large for a profile: try another.");
}

// ---- browsers ---------------------------------------------------------------------------------

function looksLikeHeic(file: Pick<File, "type" | "name">): boolean {
  return /^image\/hei[cf]/i.test(file.type) || /\.(heic|heif)$/i.test(file.name);
}

/** The picture in a file, upright (EXIF orientation applied). Browsers only. */
export async function decodePhoto(file: Blob & Pick<File, "type" | "name">): Promise<ImageBitmap> {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    if (bitmap.width > 0 && bitmap.height > 0) return bitmap;
    bitmap.close();
  } catch {
    // Not decodable here: said below.
  }
  if (looksLikeHeic(file)) {
    throw new AvatarError(
      "heic",
      "This browser cannot read HEIC photos (the iPhone's format). Choose a JPEG or PNG, or export the photo as JPEG first.",
    );
  }
  throw new AvatarError("unreadable", "This file is not a picture this browser can read, or it is damaged.");
}

/** A canvas `side` pixels square: an OffscreenCanvas where there is one. */
function squareCanvas(side: number): OffscreenCanvas | HTMLCanvasElement {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(side, side);
  const canvas = document.createElement("canvas");
  canvas.width = side;
  canvas.height = side;
  return canvas;
}

/** The canvas's 2D context (each kind by its own overload, which a union of the two loses). */
function draw2d(
  canvas: OffscreenCanvas | HTMLCanvasElement,
): OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null {
  return "convertToBlob" in canvas ? canvas.getContext("2d") : canvas.getContext("2d");
}

/** Draw the crop of `bitmap` onto `context`, `side` pixels square. */
export function drawCrop(
  context: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D,
  bitmap: ImageBitmap,
  crop: Crop,
  side: number,
): void {
  const { sx, sy, side: from } = cropSquare(bitmap.width, bitmap.height, crop);
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, sx, sy, from, from, 0, 0, side, side);
}

/** The browser's encoder for a crop of `bitmap` (JPEG gets a white background for transparent PNGs). */
export function canvasEncoder(bitmap: ImageBitmap, crop: Crop): AvatarEncoder {
  return async (side, type, quality) => {
    const canvas = squareCanvas(side);
    const context = draw2d(canvas);
    if (!context) throw new AvatarError("no_canvas", "This browser could not draw the photo.");
    if (type === "image/jpeg") {
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, side, side);
    }
    drawCrop(context, bitmap, crop, side);
    const blob =
      "convertToBlob" in canvas
        ? await canvas.convertToBlob({ type, quality })
        : await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, quality));
    if (!blob) throw new AvatarError("no_canvas", "This browser could not encode the photo.");
    return blob;
  };
}
