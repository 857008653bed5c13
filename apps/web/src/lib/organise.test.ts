import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import type { ApiClient } from "./api.ts";
import { newAlbumKey } from "./albumKeys.ts";
import {
  coverOf,
  daysLeft,
  eachOf,
  keptIn,
  mayEditPhoto,
  memberLabel,
  sortAlbums,
  sortPhotos,
  toggled,
  zipFileName,
  zipNames,
  zipStream,
  TRASH_RETENTION_MS,
} from "./organise.ts";
import type { Names } from "./names.ts";
import { sealBlob, type OpenPhoto } from "./photos.ts";

function photo(id: string, name: string, lastModified: number, thumb: string | null = `t-${id}`): OpenPhoto {
  return {
    view: { id, album: "a", epoch: 0, blob: `b-${id}`, size: 1, thumb, meta: "", author: "ann" },
    meta: { name, type: "image/jpeg", size: 1, lastModified },
  };
}

describe("who may change a photo (the vault's rule)", () => {
  it("admins always; others only their own photos while they hold the album's key", () => {
    const ben = { id: "ben", isAdmin: false };
    expect(mayEditPhoto({ id: "ann", isAdmin: true }, { author: "ben" }, false)).toBe(true);
    expect(mayEditPhoto(ben, { author: "ben" }, true)).toBe(true);
    expect(mayEditPhoto(ben, { author: "ben" }, false)).toBe(false);
    expect(mayEditPhoto(ben, { author: "cleo" }, true)).toBe(false);
  });
});

describe("ordering", () => {
  const beach = photo("p1", "beach.jpg", 300);
  const dunes = photo("p2", "dunes.jpg", 100);
  const img10 = photo("p3", "IMG_10.jpg", 200);
  const img9 = photo("p4", "IMG_9.jpg", 200);

  it("sorts photos by date either way, ties and names in natural order", () => {
    const ids = (list: OpenPhoto[]) => list.map((p) => p.view.id);
    expect(ids(sortPhotos([beach, dunes, img10, img9], "oldest"))).toEqual(["p2", "p4", "p3", "p1"]);
    expect(ids(sortPhotos([beach, dunes, img10, img9], "newest"))).toEqual(["p1", "p4", "p3", "p2"]);
    expect(ids(sortPhotos([beach, dunes, img10, img9], "name"))).toEqual(["p1", "p2", "p4", "p3"]);
  });

  it("sorts albums by name, newest or size", () => {
    const albums = [
      { id: "a", title: "Winter", created_ms: 1, photos: 5 },
      { id: "b", title: "Autumn", created_ms: 3, photos: 1 },
      { id: "c", title: undefined, created_ms: undefined, photos: 9 },
    ];
    expect(sortAlbums(albums, "name").map((a) => a.id)).toEqual(["c", "b", "a"]);
    expect(sortAlbums(albums, "newest").map((a) => a.id)).toEqual(["b", "a", "c"]);
    expect(sortAlbums(albums, "largest").map((a) => a.id)).toEqual(["c", "a", "b"]);
  });

  it("covers with the chosen photo, else the newest one with a thumbnail", () => {
    const noThumb = photo("p9", "new.mov", 999, null);
    expect(coverOf([dunes, beach, noThumb], undefined)?.view.id).toBe("p1");
    expect(coverOf([dunes, beach, noThumb], "p2")?.view.id).toBe("p2");
    expect(coverOf([dunes, beach], "gone")?.view.id, "a chosen cover since deleted").toBe("p1");
    expect(coverOf([], undefined)).toBeUndefined();
  });
});

describe("selection", () => {
  it("toggles, and keeps only what is still shown", () => {
    let s = new Set<string>();
    s = toggled(s, "a");
    s = toggled(s, "b");
    s = toggled(s, "a");
    expect([...s]).toEqual(["b"]);
    expect([...keptIn(new Set(["a", "b"]), ["b", "c"])]).toEqual(["b"]);
  });

  it("runs a bulk action on each item, reporting failures without stopping", async () => {
    const progress: number[] = [];
    const result = await eachOf(
      [{ id: "a" }, { id: "b" }, { id: "c" }],
      async ({ id }) => {
        if (id === "b") throw new Error("refused");
        return Promise.resolve();
      },
      (done) => progress.push(done),
    );
    expect(result.done).toEqual(["a", "c"]);
    expect(result.failed.map((f) => f.id)).toEqual(["b"]);
    expect(progress).toEqual([1, 2, 3]);
  });
});

describe("memberLabel", () => {
  const names = { family: undefined, members: new Map([["ANN", { name: "Ann" }]]) } as unknown as Names;
  it("says the member's own name, '(you)' beside ours, and the start of an id without a name", () => {
    expect(memberLabel("ANN", "ANN", names)).toBe("Ann (you)");
    expect(memberLabel("ANN", "BEN", names)).toBe("Ann");
    expect(memberLabel("BENBENBENBEN", "ANN", names)).toBe("BENBENB…");
    expect(memberLabel("ANN", "ANN")).toBe("You");
  });
});

describe("trash", () => {
  it("counts the days left, rounding up, never below zero", () => {
    const deleted = 1_000_000;
    expect(daysLeft(deleted + TRASH_RETENTION_MS, deleted)).toBe(30);
    expect(daysLeft(deleted + TRASH_RETENTION_MS, deleted + TRASH_RETENTION_MS - 1)).toBe(1);
    expect(daysLeft(deleted + TRASH_RETENTION_MS, deleted + TRASH_RETENTION_MS + 5)).toBe(0);
  });
});

describe("zip of a selection", () => {
  it("names entries uniquely and safely", () => {
    expect(zipNames(["a.jpg", "A.jpg", "a.jpg", "../x/b.png", "", "noext", "noext"])).toEqual([
      "a.jpg",
      "A (2).jpg",
      "a (3).jpg",
      "_x_b.png",
      "photo",
      "noext",
      "noext (2)",
    ]);
    expect(zipFileName("Summer 2026", 3)).toBe("Summer 2026 (3 photos).zip");
    expect(zipFileName(undefined, 1)).toBe("photos (1 photo).zip");
  });

  it("streams the decrypted originals into a zip whose entries are the originals", async () => {
    const album = await newAlbumKey();
    const originals = [new Uint8Array(200_000).map((_, i) => i % 251), new TextEncoder().encode("second")];
    const stored = new Map<string, Blob>();
    const items = [];
    for (const [i, bytes] of originals.entries()) {
      const sealed = await sealBlob(new Blob([bytes]), album.recipient);
      stored.set(sealed.id, sealed.data);
      items.push({
        view: { id: `p${i}`, epoch: 0, blob: sealed.id, size: sealed.size, thumb: null, meta: "" },
        meta: { name: "same.jpg", type: "image/jpeg", size: bytes.length, lastModified: 1_700_000_000_000 },
        keys: [album.secret],
      });
    }
    const fetched: string[] = [];
    const api = {
      getBlob: (id: string) => {
        fetched.push(id);
        const blob = stored.get(id);
        return blob ? Promise.resolve(blob) : Promise.reject(new Error("no blob"));
      },
    } as unknown as ApiClient;
    const started: number[] = [];
    const stream = zipStream(api, items, (n) => started.push(n));
    expect(fetched, "nothing is fetched before the archive is read").toEqual([]);
    const zip = new Uint8Array(await new Response(stream).arrayBuffer());
    const entries = unzipSync(zip);
    expect(Object.keys(entries).sort()).toEqual(["same (2).jpg", "same.jpg"]);
    expect(entries["same.jpg"]).toEqual(originals[0]);
    expect(entries["same (2).jpg"]).toEqual(originals[1]);
    expect(started).toEqual([1, 2]);
  });
});
