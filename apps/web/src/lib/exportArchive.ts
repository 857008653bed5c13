/**
 * The export archive: the albums shared with you as age files plus a manifest, in the same layout
 * as `p2pos export`, zipped (stored, not compressed: ciphertext does not compress). With only the
 * stock `age` tool and your identity a member decrypts every photo: album key first, then the photo.
 */
import { zipSync } from "fflate";
import type { ApiClient } from "./api.ts";
import type { PhotoItem } from "./apiTypes.ts";
import { utf8Encode } from "./bytes.ts";

/** The same instructions as the CLI export's README.txt. */
export const EXPORT_README = `P2POS export
============
Everything here is encrypted with age (https://age-encryption.org). To read a photo you need your
p2pos identity file (your backup: age asks for its passphrase) and the stock \`age\` tool.

1. Find your album key: <album>/keys/<your id>-epoch<N>.age (N = the photo's epoch in manifest.json).
2. Decrypt it:   age -d -i my-identity.age <album>/keys/<your id>-epoch1.age > album-key.txt
3. Decrypt a photo:   age -d -i album-key.txt <album>/<photo>.age > photo
4. Its original name and type:   age -d -i album-key.txt <album>/<photo>.meta.age

manifest.json lists every album, key and photo with its size; nothing in it is secret.
`;

export interface ExportProgress {
  albums: number;
  photos: number;
  bytes: number;
}

/** Builds the archive of every album `me` can open; reports progress as blobs arrive. */
export async function buildExportArchive(
  api: ApiClient,
  me: string,
  onProgress?: (progress: ExportProgress) => void,
): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const progress: ExportProgress = { albums: 0, photos: 0, bytes: 0 };
  const manifest: { albums: unknown[] } = { albums: [] };
  for (const view of await api.albums()) {
    const album = await api.album(view.id);
    const dir = album.id;
    files[`${dir}/album-meta.age`] = utf8Encode(album.meta);
    const keys = album.keys.map(({ epoch, key }) => {
      const file = `keys/${me}-epoch${epoch}.age`;
      files[`${dir}/${file}`] = utf8Encode(key);
      return { member: me, epoch, file };
    });
    const photos = [];
    for await (const photo of allPhotos(api, view.id)) {
      const file = `${photo.id}.age`;
      const bytes = new Uint8Array(await (await api.getBlob(photo.blob)).arrayBuffer());
      files[`${dir}/${file}`] = bytes;
      let thumb: string | null = null;
      if (photo.thumb) {
        thumb = `${photo.id}.thumb.age`;
        files[`${dir}/${thumb}`] = new Uint8Array(await (await api.getBlob(photo.thumb)).arrayBuffer());
      }
      const meta = `${photo.id}.meta.age`;
      files[`${dir}/${meta}`] = utf8Encode(photo.meta);
      photos.push({ id: photo.id, epoch: photo.epoch, file, size: photo.size, thumb, meta, present: true });
      progress.photos += 1;
      progress.bytes += bytes.length;
      onProgress?.({ ...progress });
    }
    manifest.albums.push({
      id: album.id,
      epoch: album.epoch,
      recipient: album.recipient,
      meta: "album-meta.age",
      keys,
      photos,
    });
    progress.albums += 1;
    onProgress?.({ ...progress });
  }
  files["manifest.json"] = utf8Encode(JSON.stringify(manifest, null, 2) + "\n");
  files["README.txt"] = utf8Encode(EXPORT_README);
  return zipSync(files, { level: 0 });
}

/** Every photo of an album, a page at a time (the export streams through them; nothing holds all). */
async function* allPhotos(api: ApiClient, album: string): AsyncGenerator<PhotoItem> {
  let cursor: string | undefined;
  do {
    const page = await api.albumPhotos(album, { cursor, limit: 500 });
    yield* page.photos;
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
}
