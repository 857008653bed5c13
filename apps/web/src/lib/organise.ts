/**
 * Organising the vault (issue 15): delete, restore, rename, copy and move, covers, sorting, and
 * the streamed zip of a selection. Every change is a signed record the node judges again
 * (`crates/family-vault/src/vault.rs`); the permission helpers here only decide what the page
 * offers.
 *
 * - Deleting a photo or album writes its current record again with `deleted: true`; it then
 *   waits in the trash for {@link TRASH_RETENTION_MS} (30 days), and restoring writes it with
 *   `deleted: false`. After that the node refuses a restore and releases the blobs.
 * - A photo never changes album: a copy decrypts it here and encrypts it again to the target
 *   album's current key (new blobs, new record); a move is a copy, then a delete of the original.
 * - A zip of a selection is made as it is saved: each photo is fetched, decrypted and streamed
 *   into the archive (`client-zip`), never the whole archive in memory when the browser can
 *   write to a file.
 */
import { displayName, type Names } from "./names.ts";
import { downloadZip } from "client-zip";
import type { ApiClient } from "./api.ts";
import type { AlbumKey, PhotoItem } from "./apiTypes.ts";
import { openAlbumKey, openMeta, sealMeta, type AlbumMeta } from "./albumKeys.ts";
import { decryptWithIdentities, type AgeIdentity } from "./crypt.ts";
import { openBlob, sealBlob, uploadPhoto, type OpenPhoto, type PhotoMeta } from "./photos.ts";
import type { Vault } from "./vault.ts";
import { albumRecord, photoRecord, type RecordContext } from "./vaultRecords.ts";

/** How long something deleted stays in the trash, restorable (the vault's `TRASH_RETENTION_MS`). */
export const TRASH_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** The fields of a photo's current record that a delete or restore writes again unchanged. */
export type PhotoFields = Pick<PhotoItem, "id" | "epoch" | "blob" | "size" | "thumb" | "thumb_size" | "meta">;

/** The fields of an album's current record that a delete, restore or rename keeps. */
export interface AlbumFields {
  id: string;
  epoch: number;
  recipient: string;
  meta: string;
}

/** Who is acting: their id, and whether they are an admin. */
export interface Actor {
  id: string;
  isAdmin: boolean;
}

/**
 * Whether `actor` may change or delete (and restore) a photo: the vault's rule. An admin may; so
 * may a holder of the album's key who added the photo or owns the album (owners are admins).
 */
export function mayEditPhoto(actor: Actor, photo: Pick<PhotoItem, "author">, holdsKey: boolean): boolean {
  return actor.isAdmin || (holdsKey && photo.author === actor.id);
}

/** Whether `actor` may rename, delete or restore albums, and choose covers: admins only. */
export function mayChangeAlbums(actor: Actor): boolean {
  return actor.isAdmin;
}

/** Writes a photo's current record again with `deleted` set: a delete, or a restore. */
export async function setPhotoDeleted(
  api: ApiClient,
  ctx: RecordContext,
  album: string,
  photo: PhotoFields,
  deleted: boolean,
): Promise<void> {
  await api.postRecord(
    await photoRecord(ctx, {
      photo: photo.id,
      album,
      epoch: photo.epoch,
      blob: photo.blob,
      size: photo.size,
      thumb: photo.thumb ?? null,
      thumb_size: photo.thumb_size ?? null,
      meta: photo.meta,
      deleted,
    }),
  );
}

/** What a bulk action did: the ids it finished, and those that failed with why. */
export interface BulkResult {
  done: string[];
  failed: { id: string; error: unknown }[];
}

/** Runs `action` on each item in turn; one failure does not stop the rest. */
export async function eachOf<T extends { id: string }>(
  items: readonly T[],
  action: (item: T) => Promise<unknown>,
  onProgress?: (done: number, total: number) => void,
): Promise<BulkResult> {
  const result: BulkResult = { done: [], failed: [] };
  for (const item of items) {
    try {
      await action(item);
      result.done.push(item.id);
    } catch (error) {
      result.failed.push({ id: item.id, error });
    }
    onProgress?.(result.done.length + result.failed.length, items.length);
  }
  return result;
}

/** Writes an album's record again: its key and epoch unchanged, `meta` as given, `deleted` set. */
export async function writeAlbum(
  api: ApiClient,
  ctx: RecordContext,
  album: AlbumFields,
  deleted: boolean,
): Promise<void> {
  await api.postRecord(
    await albumRecord(ctx, {
      album: album.id,
      epoch: album.epoch,
      recipient: album.recipient,
      meta: album.meta,
      deleted,
    }),
  );
}

/**
 * Changes an album's title or cover (admins holding its current key): its meta opened, changed and
 * sealed again to the album's current recipient, checked against the key we hold.
 */
export async function updateAlbumMeta(
  vault: Vault,
  album: AlbumFields,
  keys: readonly AgeIdentity[],
  change: Partial<AlbumMeta>,
): Promise<void> {
  const target = await vault.uploadTarget(album.id);
  let meta: AlbumMeta;
  try {
    meta = await openMeta<AlbumMeta>(album.meta, keys);
  } catch {
    meta = { title: "" };
  }
  const next: AlbumMeta = { ...meta, ...change };
  if (typeof next.title === "string") next.title = next.title.trim();
  const sealed = await sealMeta(next, target.recipient);
  await writeAlbum(
    vault.api,
    vault.context(),
    { ...album, epoch: target.epoch, recipient: target.recipient, meta: sealed },
    false,
  );
}

/** Opens the album keys listed in a trash or album view (those sealed to us). */
export async function openKeys(keys: readonly AlbumKey[], ageKey: AgeIdentity): Promise<CryptoKey[]> {
  const opened: CryptoKey[] = [];
  for (const { key } of keys) {
    try {
      opened.push(await openAlbumKey(key, ageKey));
    } catch {
      // An older key sealed to a recipient we no longer have.
    }
  }
  return opened;
}

/**
 * Copies a photo into `targetAlbum`: the original and its thumbnail decrypted here and encrypted
 * to the target's current key, its meta sealed again, a new photo record. Returns the new id.
 */
export async function copyPhoto(
  vault: Vault,
  source: { view: PhotoFields; keys: readonly AgeIdentity[] },
  targetAlbum: string,
): Promise<string> {
  const target = await vault.uploadTarget(targetAlbum);
  const rawMeta = await openMeta<Record<string, unknown>>(source.view.meta, source.keys);
  const original = await openBlob(vault.api, source.view.blob, source.keys);
  const blob = await sealBlob(original, target.recipient);
  const thumb = source.view.thumb
    ? await sealBlob(await openBlob(vault.api, source.view.thumb, source.keys), target.recipient)
    : undefined;
  const meta = await sealMeta(rawMeta, target.recipient);
  const info = rawMeta as unknown as PhotoMeta;
  return uploadPhoto(vault.api, vault.context(), target, { blob, thumb, meta, info });
}

/** Moves a photo: a copy into `targetAlbum`, then the original to the trash. Returns the new id. */
export async function movePhoto(
  vault: Vault,
  source: { album: string; view: PhotoFields; keys: readonly AgeIdentity[] },
  targetAlbum: string,
): Promise<string> {
  if (source.album === targetAlbum) throw new TypeError("The photo is already in that album.");
  const copy = await copyPhoto(vault, source, targetAlbum);
  await setPhotoDeleted(vault.api, vault.context(), source.album, source.view, true);
  return copy;
}

/** How a grid of photos is ordered. */
export type PhotoOrder = "oldest" | "newest" | "name";

export const PHOTO_ORDERS: { value: PhotoOrder; label: string }[] = [
  { value: "oldest", label: "Oldest first" },
  { value: "newest", label: "Newest first" },
  { value: "name", label: "By name" },
];

/** A new array of the photos in `order` (date from the file's own date, then name, then id). */
export function sortPhotos(photos: readonly OpenPhoto[], order: PhotoOrder): OpenPhoto[] {
  const date = (p: OpenPhoto) => p.meta?.lastModified ?? 0;
  const name = (p: OpenPhoto) => p.meta?.name ?? "";
  const byName = (a: OpenPhoto, b: OpenPhoto) =>
    name(a).localeCompare(name(b), undefined, { numeric: true }) || a.view.id.localeCompare(b.view.id);
  return [...photos].sort((a, b) => {
    switch (order) {
      case "oldest":
        return date(a) - date(b) || byName(a, b);
      case "newest":
        return date(b) - date(a) || byName(a, b);
      case "name":
        return byName(a, b);
    }
  });
}

/** How the album list is ordered. */
export type AlbumOrder = "name" | "newest" | "largest";

export const ALBUM_ORDERS: { value: AlbumOrder; label: string }[] = [
  { value: "name", label: "By name" },
  { value: "newest", label: "Newest first" },
  { value: "largest", label: "Most photos" },
];

export interface SortableAlbum {
  id: string;
  title: string | undefined;
  created_ms: number | undefined;
  photos: number;
}

/** A new array of the albums in `order` (ties by title, then id). */
export function sortAlbums<T extends SortableAlbum>(albums: readonly T[], order: AlbumOrder): T[] {
  const byTitle = (a: T, b: T) =>
    (a.title ?? "").localeCompare(b.title ?? "", undefined, { numeric: true }) || a.id.localeCompare(b.id);
  return [...albums].sort((a, b) => {
    switch (order) {
      case "name":
        return byTitle(a, b);
      case "newest":
        return (b.created_ms ?? 0) - (a.created_ms ?? 0) || byTitle(a, b);
      case "largest":
        return b.photos - a.photos || byTitle(a, b);
    }
  });
}

/**
 * The album's cover: the photo an admin chose, while it is in the album and has a thumbnail;
 * otherwise the newest photo (by the file's date) that has one.
 */
export function coverOf(photos: readonly OpenPhoto[], chosen: string | undefined): OpenPhoto | undefined {
  const withThumb = photos.filter((p) => p.view.thumb);
  const picked = chosen === undefined ? undefined : withThumb.find((p) => p.view.id === chosen);
  return picked ?? sortPhotos(withThumb, "newest")[0];
}

/** Selection: a new set with `id` toggled. */
export function toggled(selection: ReadonlySet<string>, id: string): Set<string> {
  const next = new Set(selection);
  if (!next.delete(id)) next.add(id);
  return next;
}

/** Selection: only the ids still shown (a photo deleted or moved elsewhere leaves it). */
export function keptIn(selection: ReadonlySet<string>, shown: readonly string[]): Set<string> {
  const present = new Set(shown);
  return new Set([...selection].filter((id) => present.has(id)));
}

/**
 * File names for a zip, in order: the original names, made unique (`a.jpg`, `a (2).jpg`) and
 * safe (no folders, no empty names).
 */
export function zipNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((raw) => {
    const clean = raw.replace(/[\\/]/g, "_").replace(/^\.+/, "").trim() || "photo";
    const dot = clean.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, ""];
    let name = clean;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${stem} (${n})${ext}`;
    used.add(name.toLowerCase());
    return name;
  });
}

/** A photo to put in a zip: its record, its meta opened, and the keys that open it. */
export interface ZipItem {
  view: PhotoFields;
  meta: PhotoMeta | undefined;
  keys: readonly AgeIdentity[];
}

/**
 * The zip of `items`, as a stream: each original is fetched and decrypted when the archive gets
 * to it. `onEntry` tells how many have started.
 */
export function zipStream(
  api: ApiClient,
  items: readonly ZipItem[],
  onEntry?: (started: number, total: number) => void,
): ReadableStream<Uint8Array> {
  const names = zipNames(items.map((item) => item.meta?.name ?? item.view.id));
  async function* entries() {
    for (const [i, item] of items.entries()) {
      onEntry?.(i + 1, items.length);
      const encrypted = await api.getBlob(item.view.blob);
      const input = await decryptWithIdentities(encrypted.stream(), item.keys);
      yield {
        name: names[i],
        input,
        // A file date of 0 is unknown: the zip says now.
        lastModified: item.meta?.lastModified ? new Date(item.meta.lastModified) : new Date(),
      };
    }
  }
  const body = downloadZip(entries()).body;
  if (!body) throw new Error("the zip stream could not be made");
  return body;
}

/** The browser's "save as" with a writable file (Chromium), when there is one. */
interface SaveFilePicker {
  showSaveFilePicker?: (options: {
    suggestedName: string;
    types?: { description: string; accept: Record<string, string[]> }[];
  }) => Promise<{ createWritable: () => Promise<WritableStream<Uint8Array>> }>;
}

/**
 * Saves a stream as `fileName`: straight into a file the user picks where the browser can (so the
 * archive is never whole in memory), else as a download of the collected blob. Returns false when
 * the user cancelled the picker.
 */
export async function saveStream(
  stream: ReadableStream<Uint8Array>,
  fileName: string,
  download: (fileName: string, blob: Blob) => void,
): Promise<boolean> {
  const picker = (globalThis as SaveFilePicker).showSaveFilePicker;
  if (picker) {
    let handle: Awaited<ReturnType<NonNullable<SaveFilePicker["showSaveFilePicker"]>>>;
    try {
      handle = await picker({
        suggestedName: fileName,
        types: [{ description: "Zip archive", accept: { "application/zip": [".zip"] } }],
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") {
        await stream.cancel();
        return false;
      }
      // No picker here after all (not allowed in this context): the download below.
      return saveAsDownload(stream, fileName, download);
    }
    await stream.pipeTo(await handle.createWritable());
    return true;
  }
  return saveAsDownload(stream, fileName, download);
}

async function saveAsDownload(
  stream: ReadableStream<Uint8Array>,
  fileName: string,
  download: (fileName: string, blob: Blob) => void,
): Promise<boolean> {
  const blob = await new Response(stream).blob();
  download(fileName, new Blob([blob], { type: "application/zip" }));
  return true;
}

/** A zip file name for a selection from an album: `Summer 2026 (3 photos).zip`. */
export function zipFileName(albumTitle: string | undefined, count: number): string {
  const base = (albumTitle ?? "photos").replace(/[\\/:*?"<>|]/g, "_").trim() || "photos";
  return `${base} (${count} ${count === 1 ? "photo" : "photos"}).zip`;
}

/** A member as the family knows them: their own name (`profile`), "(you)" beside ours. */
export function memberLabel(id: string, me: string, names?: Names): string {
  const name = names?.members.get(id)?.name;
  if (id === me) return name ? `${name} (you)` : "You";
  return displayName(names, id);
}

/** Days left in the trash at `nowMs`, at least 0 (rounded up: "1 day" until the last moment). */
export function daysLeft(expiresMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((expiresMs - nowMs) / (24 * 60 * 60 * 1000)));
}
