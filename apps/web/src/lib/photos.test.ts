import { describe, expect, it } from "vitest";
import type { ApiClient } from "./api.ts";
import { newAlbumKey, openAlbumKey, sealMeta } from "./albumKeys.ts";
import { blobId } from "./blob.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { HlcClock } from "./hlc.ts";
import { displayKind, looksLikeImage, openBlob, openPhotoMeta, preparePhoto, sealBlob, uploadPhoto } from "./photos.ts";
import type { SignedRecord } from "./records.ts";
import { readAllBytes } from "./streams.ts";
import { bodyOf, newObjectId } from "./vaultRecords.ts";
import { sealAlbumKey } from "./albumKeys.ts";
import { withExif } from "../../e2e/exif-fixture.mjs";

/** getRandomValues fills at most 64 KiB at a time. */
function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
  return bytes;
}

async function albumFixture() {
  const member = await importIdentity(await generateIdentityFile());
  const album = await newAlbumKey();
  const key = await openAlbumKey(await sealAlbumKey(album.secret, member.recipient), member.ageKey);
  return { member, album, key };
}

/** An in-memory node: blobs by id, records in order. */
function fakeApi() {
  const blobs = new Map<string, Blob>();
  const records: SignedRecord[] = [];
  const order: string[] = [];
  const api = {
    putBlob: async (id: string, body: Blob, options?: { onProgress?: (sent: number, total: number) => void }) => {
      expect(await blobId(new Uint8Array(await body.arrayBuffer()))).toBe(id);
      blobs.set(id, body);
      order.push(id);
      options?.onProgress?.(body.size, body.size);
      return { id, size: body.size };
    },
    getBlob: (id: string) => {
      const blob = blobs.get(id);
      return blob ? Promise.resolve(blob) : Promise.reject(new Error("404"));
    },
    postRecord: (record: SignedRecord) => {
      records.push(record);
      return Promise.resolve({ seq: records.length, current: true });
    },
  };
  return { api: api as unknown as ApiClient, blobs, records, order };
}

describe("photos", () => {
  it("seals a file: the id is BLAKE3 of the ciphertext, which opens to the original", async () => {
    const { album, key } = await albumFixture();
    const original = randomBytes(200_000);
    const progress: number[] = [];
    const sealed = await sealBlob(new Blob([original]), album.recipient, (done) => progress.push(done));
    const ciphertext = new Uint8Array(await sealed.data.arrayBuffer());
    expect(sealed.size).toBe(ciphertext.length);
    expect(sealed.id).toBe(await blobId(ciphertext));
    expect(progress.at(-1)).toBe(original.length);
    const { api } = fakeApi();
    const opened = await openBlob({ ...api, getBlob: () => Promise.resolve(sealed.data) }, sealed.id, [key]);
    expect(new Uint8Array(await opened.arrayBuffer())).toEqual(original);
    expect(await readAllBytes(opened.stream())).toEqual(original);
  });

  it("prepares an undecodable file without a thumbnail and uploads it with its record", async () => {
    const { member, album, key } = await albumFixture();
    const bytes = randomBytes(70_000);
    const file = new File([bytes], "IMG_0001.HEIC", { type: "image/heic", lastModified: 1_600_000_000_000 });
    const prepared = await preparePhoto(file, album.recipient);
    expect(prepared.thumb).toBeUndefined();
    expect(prepared.meta).not.toContain("IMG_0001");

    const { api, records, blobs } = fakeApi();
    const clock = new HlcClock();
    const albumId = newObjectId();
    const ctx = { signer: member, family: newObjectId(), hlc: () => clock.tick() };
    const photo = await uploadPhoto(api, ctx, { album: albumId, epoch: 0 }, prepared);
    const [record] = records;
    if (!record) throw new Error("no record posted");
    const body = bodyOf(record);
    expect(body).toMatchObject({
      type: "photo",
      photo,
      album: albumId,
      epoch: 0,
      blob: prepared.blob.id,
      size: prepared.blob.size,
      thumb: null,
      thumb_size: null,
      deleted: false,
    });
    expect(blobs.size).toBe(1);
    expect(await openPhotoMeta(prepared, [key])).toEqual({
      name: "IMG_0001.HEIC",
      type: "image/heic",
      size: 70_000,
      lastModified: 1_600_000_000_000,
    });
    const opened = await openBlob(api, prepared.blob.id, [key]);
    expect(new Uint8Array(await opened.arrayBuffer())).toEqual(bytes);
  });

  it("opens a meta another client wrote with fewer fields, filling in neutral values", async () => {
    const member = await importIdentity(await generateIdentityFile());
    const album = await newAlbumKey();
    const key = await openAlbumKey(await sealAlbumKey(album.secret, member.recipient), member.ageKey);
    const meta = await sealMeta({ name: "photo-1.jpg", size: "big" }, album.recipient);
    expect(await openPhotoMeta({ meta, size: 123 }, [key])).toEqual({
      name: "photo-1.jpg",
      type: "application/octet-stream",
      size: 123,
      lastModified: 0,
    });
  });

  it("keeps the date taken and the camera from EXIF in the encrypted meta", async () => {
    const { album, key } = await albumFixture();
    const bytes = withExif(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), {
      make: "Canon",
      model: "Canon EOS R5",
      taken: "2024:07:14 15:30:09",
      offset: "+02:00",
    });
    const file = new File([new Uint8Array(bytes)], "IMG_0002.JPG", {
      type: "image/jpeg",
      lastModified: 1_700_000_000_000,
    });
    const prepared = await preparePhoto(file, album.recipient);
    expect(prepared.meta).not.toContain("Canon");
    expect(await openPhotoMeta(prepared, [key])).toEqual({
      name: "IMG_0002.JPG",
      type: "image/jpeg",
      size: bytes.length,
      lastModified: 1_700_000_000_000,
      taken: "2024-07-14T15:30:09+02:00",
      make: "Canon",
      model: "Canon EOS R5",
    });
    // Files that are not images are not searched for EXIF.
    const other = await preparePhoto(new File([new Uint8Array(bytes)], "notes.bin"), album.recipient);
    expect(await openPhotoMeta(other, [key])).not.toHaveProperty("make");
  });

  it("leaves out optional facts another client wrote malformed", async () => {
    const { album, key } = await albumFixture();
    const meta = await sealMeta(
      {
        name: "a.jpg",
        type: "image/jpeg",
        size: 5,
        lastModified: 1,
        taken: "last summer",
        make: 7,
        width: -3,
        height: 2,
      },
      album.recipient,
    );
    expect(await openPhotoMeta({ meta }, [key])).toEqual({
      name: "a.jpg",
      type: "image/jpeg",
      size: 5,
      lastModified: 1,
    });
    const good = await sealMeta({ name: "b.jpg", width: 4000, height: 3000, model: "X-T4" }, album.recipient);
    expect(await openPhotoMeta({ meta: good }, [key])).toMatchObject({ width: 4000, height: 3000, model: "X-T4" });
  });

  it("tells images, videos and other files apart", () => {
    expect(looksLikeImage({ type: "image/png", name: "a.png" })).toBe(true);
    expect(looksLikeImage({ type: "", name: "a.JPG" })).toBe(true);
    expect(looksLikeImage({ type: "video/mp4", name: "a.mp4" })).toBe(false);
    expect(displayKind({ type: "image/webp" })).toBe("image");
    expect(displayKind({ type: "image/heic" })).toBe("file");
    expect(displayKind({ type: "video/mp4" })).toBe("video");
    expect(displayKind(undefined)).toBe("file");
  });
});
