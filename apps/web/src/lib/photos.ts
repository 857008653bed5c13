/**
 * Photos: encrypt, thumbnail, upload, open.
 *
 * Per photo the node stores two blobs, both age files for the album's recipient: the original file
 * byte for byte, and (when the browser can decode it) a small WebP/JPEG thumbnail drawn honouring
 * EXIF orientation. The file's name, type, size and date travel in the photo record's `meta`, also
 * encrypted to the album. Blob ids are BLAKE3 of the ciphertext. `preparePhoto` works in a page or
 * a Web Worker (the app runs it in one: `src/photoWorker.ts`).
 */
import type { ApiClient, BlobUploadOptions } from "./api.ts";
import type { PhotoItem } from "./apiTypes.ts";
import { sealMeta } from "./albumKeys.ts";
import { BlobHasher } from "./blob.ts";
import { exifText, readExif, takenValue } from "./exif.ts";
import { encryptToRecipients, type AgeIdentity } from "./crypt.ts";
import { openBlobData, openMetaBatched } from "./opener.ts";
import { photoRecord, newObjectId, type RecordContext } from "./vaultRecords.ts";

/**
 * What `meta` holds, encrypted: the original file's own facts, an optional caption, and what the
 * browser learnt at upload (docs/FORMATS.md, "Photo meta"): pixel size as displayed (after EXIF
 * orientation) and, from EXIF, when and with which camera it was taken. Photos uploaded before
 * these existed, or by other clients, lack them.
 */
export interface PhotoMeta {
  name: string;
  type: string;
  size: number;
  lastModified: number;
  caption?: string;
  width?: number;
  height?: number;
  /** When it was taken, on the camera's clock: `YYYY-MM-DDTHH:MM:SS`, plus `±HH:MM` when known. */
  taken?: string;
  make?: string;
  model?: string;
}

/** Longest side of a thumbnail, in pixels. */
export const THUMB_SIZE = 320;

/** An encrypted blob ready to upload. */
export interface SealedBlob {
  id: string;
  size: number;
  data: Blob;
}

export interface PreparedPhoto {
  blob: SealedBlob;
  thumb: SealedBlob | undefined;
  meta: string;
  info: PhotoMeta;
}

/** Encrypt a file or blob to `recipient`, streaming, hashing the ciphertext as it goes. */
export async function sealBlob(
  source: Blob,
  recipient: string,
  onProgress?: (done: number, total: number) => void,
): Promise<SealedBlob> {
  let read = 0;
  const counted = source.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.length;
        onProgress?.(read, source.size);
        controller.enqueue(chunk);
      },
    }),
  );
  const encrypted = await encryptToRecipients(counted, [recipient]);
  const hasher = await BlobHasher.create();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const reader = encrypted.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
    parts.push(new Uint8Array(value));
  }
  return { id: hasher.digest(), size: hasher.size, data: new Blob(parts, { type: "application/octet-stream" }) };
}

/** Whether this file is worth trying to decode as an image. */
export function looksLikeImage(file: Pick<File, "type" | "name">): boolean {
  if (file.type.startsWith("image/")) return true;
  return file.type === "" && /\.(jpe?g|png|webp|gif|avif|bmp)$/i.test(file.name);
}

/**
 * A thumbnail of an image file, or undefined when this browser cannot decode it (HEIC in most
 * browsers, videos, anything else). Orientation follows the file's EXIF tag.
 */
export async function makeThumbnail(file: Blob & Pick<File, "type" | "name">): Promise<Blob | undefined> {
  return (await decodeForThumbnail(file))?.thumb;
}

/** The thumbnail and the picture's displayed size (EXIF orientation applied), when decodable. */
async function decodeForThumbnail(
  file: Blob & Pick<File, "type" | "name">,
): Promise<{ thumb: Blob | undefined; width: number; height: number } | undefined> {
  if (!looksLikeImage(file)) return undefined;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return undefined;
  }
  try {
    const scale = Math.min(1, THUMB_SIZE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const size = { width: bitmap.width, height: bitmap.height };
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d");
    if (!context) return { thumb: undefined, ...size };
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    const webp = await canvas.convertToBlob({ type: "image/webp", quality: 0.8 });
    // Browsers without a WebP encoder hand back PNG: JPEG is smaller for photos.
    const thumb = webp.type === "image/webp" ? webp : await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
    return { thumb, ...size };
  } finally {
    bitmap.close();
  }
}

/**
 * Thumbnail, encrypt original and thumbnail, seal meta. Progress is over the original's bytes.
 * `options.thumbnail` replaces the image decoding (for videos, whose frames only a page can draw).
 */
export async function preparePhoto(
  file: File,
  albumRecipient: string,
  onProgress?: (done: number, total: number) => void,
  options: { caption?: string; thumbnail?: Blob } = {},
): Promise<PreparedPhoto> {
  const { caption } = options;
  // A thumbnail made elsewhere (a video's first frame needs a <video> element: the page's job).
  const decoded = options.thumbnail ? undefined : await decodeForThumbnail(file);
  const thumbnail = options.thumbnail ?? decoded?.thumb;
  // EXIF is read from images only (and never fails the upload: unreadable means left out).
  const exif = looksLikeImage(file) ? await readExif(file) : {};
  const info: PhotoMeta = {
    name: file.name,
    type: file.type || "application/octet-stream",
    size: file.size,
    lastModified: file.lastModified,
    ...(caption ? { caption } : {}),
    ...(decoded ? { width: decoded.width, height: decoded.height } : {}),
    ...exif,
  };
  const thumb = thumbnail ? await sealBlob(thumbnail, albumRecipient) : undefined;
  const blob = await sealBlob(file, albumRecipient, onProgress);
  return { blob, thumb, meta: await sealMeta(info, albumRecipient), info };
}

export interface UploadTarget {
  album: string;
  epoch: number;
}

/**
 * Upload a prepared photo's blobs (thumbnail first, so the grid fills in fast), then post its
 * record. Progress is over the bytes of both blobs. Returns the photo id.
 */
export async function uploadPhoto(
  api: ApiClient,
  ctx: RecordContext,
  target: UploadTarget,
  prepared: PreparedPhoto,
  options: BlobUploadOptions = {},
): Promise<string> {
  const total = prepared.blob.size + (prepared.thumb?.size ?? 0);
  const thumbSize = prepared.thumb?.size ?? 0;
  if (prepared.thumb) {
    await api.putBlob(prepared.thumb.id, prepared.thumb.data, {
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (sent) => options.onProgress?.(sent, total),
    });
  }
  await api.putBlob(prepared.blob.id, prepared.blob.data, {
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (sent) => options.onProgress?.(thumbSize + sent, total),
  });
  const photo = newObjectId();
  // Signed now, after the blobs are up: the record is stamped when it is sent.
  await api.postRecord(
    await photoRecord(ctx, {
      photo,
      album: target.album,
      epoch: target.epoch,
      blob: prepared.blob.id,
      size: prepared.blob.size,
      thumb: prepared.thumb?.id ?? null,
      thumb_size: prepared.thumb?.size ?? null,
      meta: prepared.meta,
      deleted: false,
    }),
  );
  return photo;
}

/**
 * A photo's meta, opened with the album keys. Another client may have written less (or other
 * types) than this one does: what is missing or mistyped gets a neutral value, so one odd record
 * shows as a file of unknown type instead of breaking the album.
 */
export async function openPhotoMeta(
  photo: { meta: string; size?: number },
  albumKeys: readonly AgeIdentity[],
): Promise<PhotoMeta> {
  // Decrypted with the other metas asked for in this task, in the app's worker (lib/opener.ts).
  const raw = (await openMetaBatched(photo.meta, albumKeys)) as Record<string, unknown>;
  const text = (value: unknown, fallback: string) => (typeof value === "string" ? value : fallback);
  const number = (value: unknown, fallback: number) => (typeof value === "number" ? value : fallback);
  const pixels = (value: unknown) =>
    typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 1_000_000 ? value : undefined;
  const width = pixels(raw["width"]);
  const height = pixels(raw["height"]);
  // The optional facts are checked like EXIF itself: a malformed one is left out, not shown.
  const taken = takenValue(raw["taken"]);
  const make = exifText(raw["make"]);
  const model = exifText(raw["model"]);
  return {
    name: text(raw["name"], "unnamed"),
    type: text(raw["type"], "application/octet-stream"),
    size: number(raw["size"], photo.size ?? 0),
    lastModified: number(raw["lastModified"], 0),
    ...(typeof raw["caption"] === "string" ? { caption: raw["caption"] } : {}),
    ...(width && height ? { width, height } : {}),
    ...(taken ? { taken } : {}),
    ...(make ? { make } : {}),
    ...(model ? { model } : {}),
  };
}

/** Download and decrypt a blob into a Blob of `type` (in the app's worker: lib/opener.ts). */
export async function openBlob(
  api: ApiClient,
  id: string,
  albumKeys: readonly AgeIdentity[],
  type = "application/octet-stream",
  signal?: AbortSignal,
): Promise<Blob> {
  return openBlobData(await api.getBlob(id, signal), albumKeys, type);
}

/** What opening and showing a photo needs of its listing: a page's `PhotoItem`, a trashed photo. */
export type PhotoListed = Pick<
  PhotoItem,
  "id" | "album" | "epoch" | "blob" | "size" | "thumb" | "thumb_size" | "meta" | "author"
>;

/** A photo of an album with its meta opened (undefined when it cannot be). */
export interface OpenPhoto {
  view: PhotoListed;
  meta: PhotoMeta | undefined;
}

/** Open every photo's meta, keeping the listing's order (newest first, as the node pages them). */
export async function openPhotos(
  photos: readonly PhotoListed[],
  albumKeys: readonly AgeIdentity[],
): Promise<OpenPhoto[]> {
  return Promise.all(
    photos.map(async (view) => ({ view, meta: await openPhotoMeta(view, albumKeys).catch(() => undefined) })),
  );
}

/** What kind of viewer a photo gets. */
export function displayKind(meta: Pick<PhotoMeta, "type"> | undefined): "image" | "video" | "file" {
  if (!meta) return "file";
  if (meta.type.startsWith("image/") && meta.type !== "image/heic" && meta.type !== "image/heif") return "image";
  if (meta.type.startsWith("video/")) return "video";
  return "file";
}
