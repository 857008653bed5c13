import { beforeAll, describe, expect, it } from "vitest";
import type { PhotoItem, PhotoPage, ReplicationChanges } from "./apiTypes.ts";
import { newAlbumKey, sealMeta } from "./albumKeys.ts";
import { ageSecretKeyBytes } from "./identityFile.ts";
import { importAgeKey } from "./keys.ts";
import { storedEntry, type IndexEntry } from "./photoIndex.ts";
import { openPhotoMeta } from "./photos.ts";
import { PhotoIndexer, type IndexerSource } from "./photoIndexSync.ts";

let recipient: string;
let keys: CryptoKey[];
let otherRecipient: string;

beforeAll(async () => {
  const album = await newAlbumKey();
  recipient = album.recipient;
  keys = [await importAgeKey(ageSecretKeyBytes(album.secret))];
  otherRecipient = (await newAlbumKey()).recipient;
});

let wall = 1_700_000_000_000;
async function photo(id: string, taken: string, to = recipient): Promise<PhotoItem> {
  wall += 1000;
  return {
    id,
    album: "a1",
    epoch: 0,
    blob: `b-${id}`,
    size: 10,
    thumb: null,
    thumb_size: null,
    meta: await sealMeta({ name: `${id}.jpg`, type: "image/jpeg", size: 10, lastModified: 0, taken }, to),
    author: "ADA",
    cursor: `${wall.toString(16).padStart(16, "0")}00000000${id}`,
    nodes: [],
  };
}

/** The node's listing in memory (newest record first, pages of `limit`) and a queue of changes. */
class Node implements IndexerSource {
  photos: PhotoItem[] = [];
  changesQueue: Partial<ReplicationChanges>[] = [];
  stored: IndexEntry[] | undefined;
  opened: string[] = [];
  pages = 0;
  pauses = 0;

  page(cursor: string | undefined, limit: number): Promise<PhotoPage> {
    this.pages++;
    const sorted = [...this.photos].sort((a, b) => (a.cursor < b.cursor ? 1 : -1));
    const from = cursor === undefined ? 0 : sorted.findIndex((p) => p.cursor < cursor);
    const photos = from < 0 ? [] : sorted.slice(from, from + Math.min(limit, 2));
    const last = photos[photos.length - 1];
    const more = from >= 0 && from + photos.length < sorted.length;
    return Promise.resolve({ photos, next: more && last ? last.cursor : null });
  }
  changes(since: string | undefined): Promise<ReplicationChanges> {
    const next = since === undefined ? {} : (this.changesQueue.shift() ?? {});
    return Promise.resolve({
      node: { node: "OAK", name: "Oak" },
      cursor: "c",
      reset: false,
      more: false,
      added: [],
      changed: [],
      removed: [],
      ...next,
    });
  }
  album() {
    return Promise.resolve({ title: "Summer", keys });
  }
  async open(item: PhotoItem, albumKeys: CryptoKey[]) {
    this.opened.push(item.id);
    return openPhotoMeta(item, albumKeys);
  }
  load() {
    return Promise.resolve(this.stored);
  }
  saves = 0;
  save(entries: readonly IndexEntry[], isCancelled: () => boolean = () => false) {
    this.saves++;
    // As the real store does: nothing written once cancelled.
    if (isCancelled()) return Promise.resolve();
    // As the real store keeps them: without the meta ciphertext and placements.
    this.stored = structuredClone(entries.map(storedEntry));
    return Promise.resolve();
  }
  pause() {
    this.pauses++;
    return Promise.resolve();
  }
  now() {
    return performance.now();
  }
}

const ids = (indexer: PhotoIndexer) => indexer.snapshot.entries.map((e) => e.item.id);

describe("the photo indexer", () => {
  it("walks every page, orders by date taken, stores it; the next visit decrypts only what changed", async () => {
    const node = new Node();
    node.photos = [
      await photo("p1", "2024-06-14T10:00:00"),
      await photo("p2", "2020-01-01T10:00:00"),
      await photo("p3", "2022-03-03T10:00:00"),
      await photo("locked", "2023-03-03T10:00:00", otherRecipient),
      await photo("p4", "2021-01-01T10:00:00"),
    ];
    const first = new PhotoIndexer(node);
    const figures = await first.sync();
    expect(node.pages).toBe(3);
    expect(ids(first)).toEqual(["p1", "p3", "p4", "p2"]);
    expect(figures).toMatchObject({ listed: 5, opened: 4, failed: 1, dropped: 0 });
    expect(first.snapshot).toMatchObject({ synced: true, loaded: true, progress: undefined, here: "OAK" });
    expect(first.snapshot.entries[0]).toMatchObject({ albumTitle: "Summer", day: "2024-06-14" });
    expect(first.snapshot.keys.get("a1")).toBe(keys);
    expect(node.stored?.map((e) => e.item.id)).toEqual(["p1", "p3", "p4", "p2"]);
    expect(node.stored?.every((e) => e.item.meta === "" && e.item.nodes.length === 0)).toBe(true);

    // Next visit: p2 deleted, p3's meta re-sealed (a new caption), p5 added.
    node.photos = node.photos.filter((p) => p.id !== "p2");
    const p3 = node.photos.find((p) => p.id === "p3");
    if (!p3) throw new Error("p3 is listed");
    p3.meta = await sealMeta(
      { name: "p3.jpg", type: "image/jpeg", size: 10, lastModified: 0, caption: "new" },
      recipient,
    );
    node.photos.push(await photo("p5", "2025-01-01T10:00:00"));
    node.opened = [];
    const second = new PhotoIndexer(node);
    await second.load();
    expect(ids(second)).toEqual(["p1", "p3", "p4", "p2"]); // at once, from the stored copy
    const again = await second.sync();
    expect(node.opened.sort()).toEqual(["locked", "p3", "p5"]);
    expect(again).toMatchObject({ listed: 5, opened: 2, failed: 1, dropped: 1 });
    // p3 lost its date taken: it falls back to its record's time (November 2023).
    expect(ids(second)).toEqual(["p5", "p1", "p3", "p4"]);
    expect(second.snapshot.entries[2]?.meta.caption).toBe("new");
  });

  it("applies the changes feed: added are opened, removed go, a reset walks again", async () => {
    const node = new Node();
    node.photos = [await photo("p1", "2024-06-14T10:00:00")];
    const indexer = new PhotoIndexer(node);
    await indexer.sync();
    const added = await photo("p2", "2024-07-01T10:00:00");
    node.photos.push(added);
    node.changesQueue.push({ added: [added] });
    await indexer.poll();
    expect(ids(indexer)).toEqual(["p2", "p1"]);
    node.changesQueue.push({ removed: ["p1"] });
    await indexer.poll();
    expect(ids(indexer)).toEqual(["p2"]);
    expect(node.stored?.map((e) => e.item.id)).toEqual(["p2"]);

    node.photos.push(await photo("p3", "2019-01-01T10:00:00"));
    node.pages = 0;
    node.changesQueue.push({ reset: true });
    await indexer.poll();
    expect(node.pages).toBeGreaterThan(0);
    expect(ids(indexer)).toEqual(["p2", "p1", "p3"]);
  });

  it("stopped (sign-out) while a poll decrypts: nothing is saved after", async () => {
    const node = new Node();
    node.photos = [await photo("p1", "2024-06-14T10:00:00")];
    const indexer = new PhotoIndexer(node);
    await indexer.sync();
    const savesBefore = node.saves;
    const storedBefore = node.stored;
    const added = await photo("p2", "2024-07-01T10:00:00");
    node.changesQueue.push({ added: [added] });
    // The meta's decryption waits until the indexer was stopped.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached: () => void = () => undefined;
    const opening = new Promise<void>((resolve) => (reached = resolve));
    const open = node.open.bind(node);
    node.open = async (item, albumKeys) => {
      reached();
      await released;
      return open(item, albumKeys);
    };
    const polling = indexer.poll();
    await opening;
    indexer.stop();
    release();
    await polling;
    expect(node.saves).toBe(savesBefore);
    expect(node.stored).toBe(storedBefore);
  });

  it("hands the store a cancellation that turns true when stopped", async () => {
    const node = new Node();
    node.photos = [await photo("p1", "2024-06-14T10:00:00")];
    let cancelled: (() => boolean) | undefined;
    node.save = (_entries, isCancelled) => {
      cancelled = isCancelled;
      return Promise.resolve();
    };
    const indexer = new PhotoIndexer(node);
    await indexer.sync();
    expect(cancelled?.()).toBe(false);
    indexer.stop();
    expect(cancelled?.()).toBe(true);
  });

  it("reports a failed walk and keeps what it had", async () => {
    const node = new Node();
    node.photos = [await photo("p1", "2024-06-14T10:00:00")];
    const indexer = new PhotoIndexer(node);
    await indexer.sync();
    node.page = () => Promise.reject(new Error("offline"));
    expect(await indexer.sync()).toBeUndefined();
    expect(indexer.snapshot.error).toBeInstanceOf(Error);
    expect(ids(indexer)).toEqual(["p1"]);
  });
});
