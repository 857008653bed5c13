/**
 * The timeline's work on 10,000 photos, per keystroke and per layout (docs/BENCHMARKS.md):
 * `npx vitest bench --run src/vault/timeline.bench.ts`. Entries like the seeder's (varied dates
 * over 1,250 days, cameras, shapes, names), one with an accented caption.
 */
import { bench, describe } from "vitest";
import type { PhotoItem } from "../lib/apiTypes.ts";
import { SearchIndex, groupByMonthAndDay, makeEntry, sortEntries, type IndexEntry } from "../lib/photoIndex.ts";
import { layoutTimeline } from "./timelineLayout.ts";

const N = 10_000;
const SHAPES = [
  [4000, 3000],
  [3000, 4000],
  [4000, 2250],
  [3000, 3000],
  [6000, 2000],
] as const;
const CAMERAS = [
  ["Canon", "Canon EOS R6"],
  ["FUJIFILM", "X-T4"],
  ["Apple", "iPhone 15 Pro"],
] as const;

function entries(): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (let n = 0; n < N; n++) {
    const day = new Date(Date.UTC(2026, 10, 30) - ((n * 7919) % 1250) * 86_400_000).toISOString().slice(0, 10);
    const [width, height] = SHAPES[n % SHAPES.length] ?? [1, 1];
    const [make, model] = CAMERAS[n % CAMERAS.length] ?? ["", ""];
    const item = {
      id: `p${n}`,
      album: `a${n % 4}`,
      cursor: `${(1_700_000_000_000 + n).toString(16).padStart(16, "0")}00000000p${n}`,
      meta: `sealed${n}`,
      nodes: [],
    } as unknown as PhotoItem;
    out.push(
      makeEntry(item, ["Summer holidays", "Winter", "Grandma's garden", "Ölfarben"][n % 4], {
        name: `IMG_${String(n).padStart(6, "0")}.jpg`,
        type: "image/jpeg",
        size: 1000,
        lastModified: 0,
        taken: `${day}T${String(7 + (n % 14)).padStart(2, "0")}:00:00`,
        width,
        height,
        make,
        model,
        ...(n === 0 ? { caption: "Crème brûlée at Grandma's lake house" } : {}),
      }),
    );
  }
  return sortEntries(out);
}

const sorted = entries();
const index = new SearchIndex(sorted);

describe(`search over ${N} photos (one keystroke: the query as typed so far)`, () => {
  bench("one word: 'grandma'", () => {
    index.search("grandma");
  });
  bench("two words with accents: 'crème gran'", () => {
    index.search("crème gran");
  });
  bench("a date: 'june 2024'", () => {
    index.search("june 2024");
  });
  bench("an ISO date: '2025-06-14'", () => {
    index.search("2025-06-14");
  });
  bench("a camera, matching a third: 'fuji x-t4'", () => {
    index.search("fuji x-t4");
  });
});

describe(`building the index and the layout for ${N} photos`, () => {
  bench("search texts (once per index change)", () => {
    new SearchIndex(sorted);
  });
  bench("sort by date taken", () => {
    sortEntries(sorted);
  });
  bench("group by month and day + justified layout at 1280 px", () => {
    layoutTimeline(groupByMonthAndDay(sorted), 1280);
  });
});
