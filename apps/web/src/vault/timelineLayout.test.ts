import { describe, expect, it } from "vitest";
import type { PhotoItem } from "../lib/apiTypes.ts";
import { groupByMonthAndDay, makeEntry, sortEntries } from "../lib/photoIndex.ts";
import { DAY_HEIGHT, GAP, MONTH_HEIGHT, layoutTimeline, targetRowHeight } from "./timelineLayout.ts";

function entry(id: string, taken: string, width: number, height: number) {
  const item = { id, album: "a", cursor: `0000000000000001${id}`, meta: id, nodes: [] } as unknown as PhotoItem;
  return makeEntry(item, "A", { name: id, type: "image/jpeg", size: 1, lastModified: 0, taken, width, height });
}

describe("timeline layout", () => {
  it("aims at ~110 px rows on a phone and ~180 px at 1280 px", () => {
    expect(targetRowHeight(390)).toBe(110);
    expect(targetRowHeight(1280)).toBe(180);
    expect(targetRowHeight(320)).toBe(110);
    expect(targetRowHeight(2000)).toBe(180);
  });

  it("makes headers, then justified rows of equal height that fill the width", () => {
    const entries = sortEntries([
      ...Array.from({ length: 10 }, (_, i) =>
        entry(`a${i}`, `2024-06-14T10:${String(i).padStart(2, "0")}:00`, 4000, 3000),
      ),
      entry("b0", "2024-06-02T10:00:00", 3000, 4000),
      entry("c0", "2024-05-01T10:00:00", 6000, 2000),
    ]);
    const items = layoutTimeline(groupByMonthAndDay(entries), 1280);
    // Headers in order, each day followed by its rows (the first day's 10 photos need two).
    const kinds = items.map((i) => i.kind).join(" ");
    expect(kinds).toMatch(/^month day row row( row)* day row month day row$/);
    expect(items[0]).toMatchObject({ label: "June 2024", height: MONTH_HEIGHT });
    expect(items[1]).toMatchObject({ label: "Fri 14 June", height: DAY_HEIGHT });
    const first = items[2];
    if (first?.kind !== "row") throw new Error("a row");
    // A full row: its photos and gaps span the width (within rounding), near the target height.
    const used = first.photos.reduce((sum, p) => sum + p.width, 0) + GAP * (first.photos.length - 1);
    expect(used).toBeGreaterThan(1270);
    expect(used).toBeLessThanOrEqual(1280);
    expect(first.rowHeight).toBeGreaterThan(180 * 0.8);
    expect(first.rowHeight).toBeLessThan(180 * 1.2);
    expect(first.height).toBe(first.rowHeight + GAP);
    // Every photo once, in order.
    const laid = items.flatMap((i) => (i.kind === "row" ? i.photos.map((p) => p.entry.item.id) : []));
    expect(laid).toEqual(entries.map((e) => e.item.id));
    // Narrower: more, lower rows.
    const phone = layoutTimeline(groupByMonthAndDay(entries), 390);
    expect(phone.filter((i) => i.kind === "row").length).toBeGreaterThan(items.filter((i) => i.kind === "row").length);
    expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
  });
});
