/**
 * Profile photos: the checks every avatar passes before it is shown, the colours and initials of a
 * member without one, the crop square, and the loop that shrinks a photo until its data URL fits
 * the profile record (`MAX_AVATAR_LENGTH`).
 *
 * An avatar comes from another member's `profile` record: untrusted text. It is shown only as an
 * `<img src>` and only when `safeAvatar` accepts it (a base64 WebP, JPEG or PNG data URL, no longer
 * than the profile allows); never built into HTML or a CSS `url()`.
 *
 * Decoding and drawing need a browser (`createImageBitmap`, a canvas); the rest runs anywhere.
 */
import { encodeBase64 } from "./base64.ts";
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

/** The avatar if it may be shown as an `<img src>`, else undefined. */
export function safeAvatar(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > MAX_AVATAR_LENGTH) return undefined;
  return AVATAR_URL.test(value) ? value : undefined;
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
    const context = canvas.getContext("2d");
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
