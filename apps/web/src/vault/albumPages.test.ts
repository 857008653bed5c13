import { describe, expect, it } from "vitest";
import type { PhotoItem, ReplicationChanges } from "../lib/apiTypes.ts";
import { PhotoPages, mergeNewestFirst, type PagesSource } from "./albumPages.ts";

const HERE = "OAKNODE";

/** A photo at position `n` (larger: newer), stored here or not. */
function photo(n: number, state = "ok"): PhotoItem {
  const cursor = n.toString(16).padStart(24, "0") + `p${n}`;
  return {
    id: `p${n}`,
    album: "a",
    epoch: 0,
    blob: `b${n}`,
    size: 1,
    thumb: null,
    thumb_size: null,
    meta: `m${n}`,
    author: "ADA",
    cursor,
    nodes: [
      {
        node: HERE,
        name: "Oak",
        state,
        error: null,
        error_kind: null,
        last_attempt_ms_ago: null,
      },
    ],
  };
}

/** Pages over an in-memory album, newest first, as the node cuts them; changes are queued by the test. */
class Album implements PagesSource {
  photos: PhotoItem[];
  answers: Partial<ReplicationChanges>[] = [];
  calls: string[] = [];
  failNextPage = false;
  readonly limit = 3;

  constructor(count: number) {
    this.photos = Array.from({ length: count }, (_, i) => photo(count - i));
  }

  page(cursor: string | undefined) {
    this.calls.push(`page ${cursor ?? "-"}`);
    if (this.failNextPage) {
      this.failNextPage = false;
      return Promise.reject(new Error("node away"));
    }
    const after = cursor === undefined ? this.photos : this.photos.filter((p) => p.cursor < cursor);
    const photos = after.slice(0, this.limit);
    const last = photos[photos.length - 1];
    const next = after.length > this.limit && last ? last.cursor : null;
    return Promise.resolve({ photos, next });
  }

  changes(since: string | undefined, through: string | undefined) {
    this.calls.push(`changes ${since ?? "-"} ${through ?? "-"}`);
    const answer = since === undefined ? {} : (this.answers.shift() ?? {});
    return Promise.resolve({
      node: { node: HERE, name: "Oak" },
      cursor: answer.cursor ?? `c${this.calls.length}`,
      reset: false,
      more: false,
      added: [],
      changed: [],
      removed: [],
      ...answer,
    });
  }
}

const ids = (pages: PhotoPages) => pages.snapshot.photos.map((p) => p.id);

describe("PhotoPages", () => {
  it("asks for the changes cursor before the first page, then pages to the end without repeats", async () => {
    const album = new Album(7);
    const pages = new PhotoPages(album);
    await pages.loadMore();
    expect(album.calls).toEqual(["changes - -", "page -"]);
    expect(ids(pages)).toEqual(["p7", "p6", "p5"]);
    expect(pages.snapshot.here).toBe(HERE);
    const first = pages.snapshot;
    // Two calls at once (the sentinel and an effect): one request.
    await Promise.all([pages.loadMore(), pages.loadMore()]);
    expect(ids(pages)).toEqual(["p7", "p6", "p5", "p4", "p3", "p2"]);
    // A page adds to the same array (no copy of what was loaded), in a new snapshot.
    expect(pages.snapshot).not.toBe(first);
    expect(pages.snapshot.photos).toBe(first.photos);
    await pages.loadMore();
    expect(ids(pages)).toEqual(["p7", "p6", "p5", "p4", "p3", "p2", "p1"]);
    expect(pages.snapshot.done).toBe(true);
    const requests = album.calls.length;
    await pages.loadMore();
    expect(album.calls.length).toBe(requests);
  });

  it("keeps a failed page's error and loads it on the next try", async () => {
    const album = new Album(5);
    const pages = new PhotoPages(album);
    album.failNextPage = true;
    await pages.loadMore();
    expect(pages.snapshot.error).toBeInstanceOf(Error);
    expect(ids(pages)).toEqual([]);
    await pages.loadMore();
    expect(pages.snapshot.error).toBeUndefined();
    expect(ids(pages)).toEqual(["p5", "p4", "p3"]);
  });

  it("applies changes: removed go, placements update, added slot in only within what is loaded", async () => {
    const album = new Album(9);
    const pages = new PhotoPages(album);
    await pages.loadMore();
    await pages.loadMore();
    expect(ids(pages)).toEqual(["p9", "p8", "p7", "p6", "p5", "p4"]);
    const before = pages.snapshot.photos;
    album.answers.push({
      cursor: "c-next",
      removed: ["p8"],
      changed: [{ photo: "p6", album: "a", nodes: photo(6, "pending").nodes }],
      // p10 is new at the top, p4.5 between loaded ones, p2.5 past the loaded pages.
      added: [photo(10), { ...photo(4), id: "p4b", cursor: photo(4).cursor + "z" }, { ...photo(2), id: "p2b" }],
    });
    await pages.poll();
    const through = album.calls.filter((c) => c.startsWith("changes")).at(-1);
    expect(through).toBe(`changes c1 ${photo(4).cursor}`);
    expect(ids(pages)).toEqual(["p10", "p9", "p7", "p6", "p5", "p4b", "p4"]);
    expect(pages.snapshot.photos.find((p) => p.id === "p6")?.nodes[0]?.state).toBe("pending");
    // Untouched photos keep their objects (the grid's chunks compare them by reference).
    expect(pages.snapshot.photos.find((p) => p.id === "p9")).toBe(before[0]);
    // Photos removed or replaced: a new array.
    expect(pages.snapshot.photos).not.toBe(before);
    expect(pages.snapshot.membership).toBe(1);

    // Idle: the same list object, no new snapshot of photos.
    const idle = pages.snapshot.photos;
    await pages.poll();
    expect(album.calls.at(-1)).toBe(`changes c-next ${photo(4).cursor}`);
    expect(pages.snapshot.photos).toBe(idle);
  });

  it("asks again at once while more changes wait, and starts over on a reset", async () => {
    const album = new Album(4);
    const pages = new PhotoPages(album);
    await pages.loadMore();
    await pages.loadMore();
    expect(pages.snapshot.done).toBe(true);
    album.answers.push({ cursor: "k1", more: true, removed: ["p4"] }, { cursor: "k2", removed: ["p3"] });
    await pages.poll();
    // All loaded: no `through`.
    expect(album.calls.slice(-2)).toEqual(["changes c1 -", "changes k1 -"]);
    expect(ids(pages)).toEqual(["p2", "p1"]);

    album.answers.push({ cursor: "fresh", reset: true });
    await pages.poll();
    expect(album.calls.slice(-2)).toEqual(["changes k2 -", "page -"]);
    expect(ids(pages)).toEqual(["p4", "p3", "p2"]);
    expect(pages.snapshot.done).toBe(false);
    await pages.poll();
    expect(album.calls.at(-1)).toBe(`changes fresh ${photo(2).cursor}`);
  });

  it("drops answers once stopped", async () => {
    const album = new Album(4);
    const pages = new PhotoPages(album);
    const seen: number[] = [];
    pages.subscribe((s) => seen.push(s.photos.length));
    const loading = pages.loadMore();
    pages.stop();
    await loading;
    expect(ids(pages)).toEqual([]);
    expect(seen.every((n) => n === 0)).toBe(true);
  });
});

describe("mergeNewestFirst", () => {
  it("merges two newest-first lists by position", () => {
    const merged = mergeNewestFirst([photo(9), photo(5), photo(1)], [photo(3), photo(10), photo(6)]);
    expect(merged.map((p) => p.id)).toEqual(["p10", "p9", "p6", "p5", "p3", "p1"]);
  });
});
