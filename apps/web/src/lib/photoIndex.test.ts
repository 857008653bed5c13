import { describe, expect, it } from "vitest";
import type { PhotoItem } from "./apiTypes.ts";
import {
  SearchIndex,
  dayLabel,
  entryDate,
  fold,
  groupByMonthAndDay,
  localDay,
  makeEntry,
  monthLabel,
  parseTaken,
  planSync,
  queryTerms,
  recordTime,
  sortEntries,
  type IndexEntry,
} from "./photoIndex.ts";
import type { PhotoMeta } from "./photos.ts";

/** A listed photo; its cursor encodes `wall` ms as the node does (16 hex digits, 8 of counter, id). */
export function item(id: string, wall = 1_700_000_000_000, album = "a1", meta = `sealed-${id}`): PhotoItem {
  return {
    id,
    album,
    epoch: 0,
    blob: `b-${id}`,
    size: 10,
    thumb: `t-${id}`,
    thumb_size: 5,
    meta,
    author: "ADA",
    cursor: `${wall.toString(16).padStart(16, "0")}00000000${id}`,
    nodes: [],
  };
}

function meta(part: Partial<PhotoMeta> = {}): PhotoMeta {
  return { name: "IMG_0001.jpg", type: "image/jpeg", size: 10, lastModified: 0, ...part };
}

function entry(id: string, part: Partial<PhotoMeta>, albumTitle = "Summer", wall?: number): IndexEntry {
  return makeEntry(item(id, wall), albumTitle, meta(part));
}

describe("dates", () => {
  it("parses EXIF dates with and without an offset; the day is the camera's", () => {
    expect(parseTaken("2024-06-14T23:30:00+02:00")).toEqual({
      ms: Date.UTC(2024, 5, 14, 21, 30, 0),
      day: "2024-06-14",
    });
    expect(parseTaken("2024-06-14T01:00:00-05:30")?.ms).toBe(Date.UTC(2024, 5, 14, 6, 30, 0));
    expect(parseTaken("2024-06-14T10:00:00")).toEqual({ ms: new Date(2024, 5, 14, 10).getTime(), day: "2024-06-14" });
    for (const bad of ["2024-06-14 10:00:00", "2024-13-01T00:00:00", "2024-06-14T24:00:00", "", "yesterday"]) {
      expect(parseTaken(bad)).toBeUndefined();
    }
  });

  it("falls back to the file's date, then the record's", () => {
    const modified = new Date(2023, 0, 2, 12).getTime();
    expect(entryDate(meta({ taken: "2024-06-14T10:00:00", lastModified: modified }), item("x"))).toMatchObject({
      day: "2024-06-14",
    });
    expect(entryDate(meta({ lastModified: modified }), item("x"))).toEqual({ taken: modified, day: "2023-01-02" });
    const wall = new Date(2022, 4, 5, 8).getTime();
    expect(recordTime(item("x", wall))).toBe(wall);
    expect(entryDate(meta(), item("x", wall))).toEqual({ taken: wall, day: localDay(wall) });
    expect(recordTime({ cursor: "zz" })).toBe(0);
  });

  it("refuses dates outside 1970 … tomorrow from another member's meta: the record's time instead", () => {
    const now = Date.UTC(2026, 11, 3, 10);
    const wall = new Date(2026, 10, 5, 8).getTime();
    const record = { taken: wall, day: localDay(wall) };
    const x = item("x", wall);
    // The file's date: absurd, far future, before 1970, not a number.
    for (const lastModified of [1e300, Infinity, NaN, now + 2 * 86_400_000, Date.UTC(9999, 0, 1), -1e12]) {
      expect(entryDate(meta({ lastModified }), x, now)).toEqual(record);
    }
    expect(entryDate(meta({ lastModified: "1e300" as unknown as number }), x, now)).toEqual(record);
    // Up to a day ahead (time zones, a clock a little fast) is kept.
    expect(entryDate(meta({ lastModified: now + 3_600_000 }), x, now).taken).toBe(now + 3_600_000);
    // EXIF: far future, before 1970, a day that does not exist, not a string.
    for (const taken of [
      "9999-12-31T23:59:59",
      "2030-01-01T00:00:00+00:00",
      "1969-12-31T10:00:00-02:00",
      "2024-02-31T10:00:00",
    ]) {
      expect(entryDate(meta({ taken }), x, now)).toEqual(record);
    }
    expect(entryDate(meta({ taken: 20240614 as unknown as string }), x, now)).toEqual(record);
    // A bad EXIF date with a good file date: the file's.
    const modified = new Date(2023, 0, 2, 12).getTime();
    expect(entryDate(meta({ taken: "9999-12-31T23:59:59", lastModified: modified }), x, now)).toEqual({
      taken: modified,
      day: "2023-01-02",
    });
    // Such an entry is sorted and grouped like any other, and survives a store round trip.
    const e = makeEntry(x, "A", meta({ lastModified: 1e300 }), now);
    const stored = JSON.parse(JSON.stringify(e)) as IndexEntry;
    expect(stored.taken).toBe(wall);
    expect(stored.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("labels months and days in English", () => {
    expect(monthLabel("2024-06")).toBe("June 2024");
    expect(monthLabel("2024-06-14")).toBe("June 2024");
    expect(dayLabel("2024-06-14")).toBe("Fri 14 June");
    expect(dayLabel("2026-01-01")).toBe("Thu 1 January");
  });
});

describe("ordering and grouping", () => {
  it("orders by date taken, newest first, whatever the record order; ties by record", () => {
    const old = entry("old", { taken: "2020-01-01T10:00:00" }, "A", 3_000);
    const mid = entry("mid", { taken: "2022-05-01T10:00:00" }, "A", 1_000);
    const newest = entry("new", { taken: "2024-06-14T10:00:00" }, "B", 2_000);
    const twinA = entry("twinA", { taken: "2021-01-01T10:00:00" }, "A", 10);
    const twinB = entry("twinB", { taken: "2021-01-01T10:00:00" }, "A", 20);
    expect(sortEntries([old, twinA, mid, newest, twinB]).map((e) => e.item.id)).toEqual([
      "new",
      "mid",
      "twinB",
      "twinA",
      "old",
    ]);
  });

  it("groups by month then day, keeping the order", () => {
    const sorted = sortEntries([
      entry("a", { taken: "2024-06-14T18:00:00" }),
      entry("b", { taken: "2024-06-14T09:00:00" }),
      entry("c", { taken: "2024-06-02T09:00:00" }),
      entry("d", { taken: "2024-05-31T09:00:00" }),
      entry("e", { taken: "2023-06-14T09:00:00" }),
    ]);
    const months = groupByMonthAndDay(sorted);
    expect(months.map((m) => m.month)).toEqual(["2024-06", "2024-05", "2023-06"]);
    expect(months[0]?.days.map((d) => [d.day, d.entries.map((e) => e.item.id)])).toEqual([
      ["2024-06-14", ["a", "b"]],
      ["2024-06-02", ["c"]],
    ]);
    expect(groupByMonthAndDay([])).toEqual([]);
  });
});

describe("search", () => {
  const entries = sortEntries([
    entry(
      "lake",
      {
        name: "IMG_0042.JPG",
        caption: "Crème brûlée at Grandma's lake house",
        taken: "2024-06-14T18:00:00+02:00",
        make: "FUJIFILM",
        model: "X-T4",
      },
      "Summer holidays",
    ),
    entry(
      "snow",
      { name: "DSC_1000.jpg", taken: "2023-12-24T09:00:00", make: "Canon", model: "Canon EOS R6" },
      "Winter",
    ),
    entry("june", { name: "june-party.png", taken: "2022-06-01T09:00:00" }, "Parties"),
    entry("plain", { name: "scan.pdf", lastModified: new Date(2021, 2, 3).getTime() }, "Ölfarben"),
  ]);
  const index = new SearchIndex(entries);
  const ids = (q: string) => index.search(q).map((e) => e.item.id);

  it("folds case and accents", () => {
    expect(fold("Crème BRÛLÉE Ölfarben")).toBe("creme brulee olfarben");
    expect(queryTerms("  Crème,  brûlée! ")).toEqual(["creme", "brulee"]);
    expect(ids("creme")).toEqual(["lake"]);
    expect(ids("BRÛLÉE")).toEqual(["lake"]);
    expect(ids("olfarben")).toEqual(["plain"]);
  });

  it("matches every term as a word prefix, over album, caption, name, camera and date", () => {
    expect(ids("gran lake")).toEqual(["lake"]);
    expect(ids("grandma winter")).toEqual([]);
    expect(ids("ake")).toEqual([]); // not inside a word
    expect(ids("summer")).toEqual(["lake"]);
    expect(ids("img_0042")).toEqual(["lake"]);
    expect(ids("0042")).toEqual(["lake"]);
    expect(ids("fuji x-t4")).toEqual(["lake"]);
    expect(ids("canon eos")).toEqual(["snow"]);
  });

  it("finds dates by year, month, day and ISO date", () => {
    expect(ids("2024")).toEqual(["lake"]);
    expect(ids("june")).toEqual(["lake", "june"]);
    expect(ids("june 2024")).toEqual(["lake"]);
    expect(ids("2024-06-14")).toEqual(["lake"]);
    expect(ids("2024-06")).toEqual(["lake"]);
    expect(ids("dec 2023")).toEqual(["snow"]);
    expect(ids("2021-03-03")).toEqual(["plain"]);
    expect(ids("friday")).toEqual(["lake"]);
  });

  it("returns everything for an empty query, in order", () => {
    expect(ids("")).toEqual(entries.map((e) => e.item.id));
    expect(ids("   ")).toHaveLength(4);
  });
});

describe("sync plan", () => {
  it("keeps unchanged photos, opens new and changed ones, counts the gone", () => {
    const kept = makeEntry(item("same"), "A", meta());
    const edited = makeEntry(item("edited"), "A", meta());
    const moved = makeEntry(item("moved"), "A", meta());
    const retitled = makeEntry(item("retitled", undefined, "a2"), "Old title", meta());
    const gone = makeEntry(item("gone"), "A", meta());
    const previous = new Map([kept, edited, moved, retitled, gone].map((e) => [e.item.id, e]));
    const titles = new Map([
      ["a1", "A"],
      ["a2", "New title"],
      ["a3", "C"],
    ]);
    const listedSame = { ...item("same"), nodes: [] };
    const plan = planSync(
      previous,
      [
        listedSame,
        item("edited", undefined, "a1", "sealed-again"),
        item("moved", undefined, "a3", "sealed-moved"),
        item("retitled", undefined, "a2"),
        item("new"),
        item("new"),
      ],
      titles,
    );
    expect(plan.kept.map((e) => e.item.id)).toEqual(["same"]);
    expect(plan.kept[0]?.item).toBe(listedSame);
    expect(plan.open.map((p) => p.id)).toEqual(["edited", "moved", "retitled", "new"]);
    expect(plan.dropped).toBe(1);
  });
});
