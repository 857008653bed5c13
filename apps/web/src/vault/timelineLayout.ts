/**
 * The timeline's layout as a flat list of virtual items (month headers, day headers, rows of
 * photos), each with its exact height, for the window virtualizer. Each day's photos fill rows of
 * equal height (`justified-layout`, as Immich and Google Photos do), the row height aimed at
 * ~110 px on a 390 px phone and ~180 px at 1280 px. Pure: recomputed when the photos or the width
 * change.
 */
import justifiedLayout from "justified-layout";
import { dayLabel, monthLabel, type IndexEntry, type MonthGroup } from "../lib/photoIndex.ts";

export const MONTH_HEIGHT = 56;
export const DAY_HEIGHT = 36;
/** Space between photos, across and down. */
export const GAP = 4;

export interface PlacedPhoto {
  entry: IndexEntry;
  width: number;
}

export type TimelineItem =
  | { kind: "month"; key: string; label: string; height: number }
  | { kind: "day"; key: string; label: string; day: string; height: number }
  | { kind: "row"; key: string; photos: PlacedPhoto[]; rowHeight: number; height: number };

/** The row height aimed at for a width: 110 px at 390, 180 px at 1280, in between linearly. */
export function targetRowHeight(width: number): number {
  const t = Math.min(1, Math.max(0, (width - 390) / (1280 - 390)));
  return Math.round(110 + t * 70);
}

/** Width over height, from the meta's pixel size (square when unknown), kept within reason. */
export function aspectRatio(entry: IndexEntry): number {
  const { width, height } = entry.meta;
  if (!width || !height) return 1;
  return Math.min(3, Math.max(1 / 3, width / height));
}

/** The virtual items of the grouped photos for a container `width` px wide. */
export function layoutTimeline(months: readonly MonthGroup[], width: number): TimelineItem[] {
  const items: TimelineItem[] = [];
  const containerWidth = Math.max(100, Math.floor(width));
  const target = targetRowHeight(containerWidth);
  for (const month of months) {
    items.push({ kind: "month", key: `m:${month.month}`, label: monthLabel(month.month), height: MONTH_HEIGHT });
    for (const day of month.days) {
      items.push({ kind: "day", key: `d:${day.day}`, label: dayLabel(day.day), day: day.day, height: DAY_HEIGHT });
      const layout = justifiedLayout(day.entries.map(aspectRatio), {
        containerWidth,
        containerPadding: 0,
        boxSpacing: GAP,
        targetRowHeight: target,
        targetRowHeightTolerance: 0.15,
        showWidows: true,
        widowLayoutStyle: "left",
      });
      let row: PlacedPhoto[] = [];
      let top = -1;
      let rowHeight = 0;
      const flush = () => {
        if (row.length === 0) return;
        const first = row[0]?.entry.item.id ?? "";
        items.push({ kind: "row", key: `r:${day.day}:${first}`, photos: row, rowHeight, height: rowHeight + GAP });
        row = [];
      };
      layout.boxes.forEach((box, i) => {
        const entry = day.entries[i];
        if (!entry) return;
        if (box.top !== top) {
          flush();
          top = box.top;
          rowHeight = Math.round(box.height);
        }
        row.push({ entry, width: Math.max(1, Math.floor(box.width)) });
      });
      flush();
    }
  }
  return items;
}
