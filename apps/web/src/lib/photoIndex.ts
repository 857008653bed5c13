/**
 * The local photo index: one entry per photo this browser can decrypt, with what its sealed meta
 * says (name, caption, date taken, camera, pixel size), so the timeline can order every album's
 * photos by date taken and search them without asking the node anything (the node cannot: the
 * meta is encrypted to the album). Pure logic here: dates, ordering, grouping, search, and the
 * diff of a sync. Sealing and storage are in `photoIndexStore.ts`, the sync loop in
 * `photoIndexSync.ts`.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import type { PhotoItem } from "./apiTypes.ts";
import { toHex, utf8Encode } from "./bytes.ts";
import type { PhotoMeta } from "./photos.ts";

/** One photo of the index. `metaId` tells whether its sealed meta changed (it is opened again). */
export interface IndexEntry {
  /**
   * The listing's photo, as needed to show and open it. In the stored copy without its `meta`
   * ciphertext (`metaId` stands for it) and placements; both come back with the next walk.
   */
  item: PhotoItem;
  /** A digest of the sealed meta it was opened from (`metaDigest`). */
  metaId: string;
  /** Its album's title, when it could be opened. */
  albumTitle: string | undefined;
  meta: PhotoMeta;
  /** When it was taken (ms since the epoch): EXIF, else the file's date, else the record's. */
  taken: number;
  /** The calendar day it was taken, `YYYY-MM-DD` (the camera's clock for EXIF dates). */
  day: string;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `YYYY-MM-DD` of a time, in this browser's time zone. */
export function localDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Days in month `mo` (1–12) of year `y`. */
function daysIn(y: number, mo: number): number {
  return new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

/** How far ahead of now a date taken may be (time zones, a camera's clock a little fast). */
export const FUTURE_SLACK_MS = 86_400_000;

/**
 * A date another member's meta claims is believed only from 1970-01-01 to a day after `now`:
 * anything else (1e300, the year 9999) would break the day's label or pin the photo at the top of
 * everyone's timeline.
 */
export function plausibleDate(ms: unknown, now: number): ms is number {
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0 && ms <= now + FUTURE_SLACK_MS;
}

/**
 * An EXIF date as the meta holds it (`YYYY-MM-DDTHH:MM:SS`, plus `±HH:MM` when known): the instant
 * (without an offset, this browser's time zone is assumed) and the camera's calendar day.
 */
export function parseTaken(taken: string): { ms: number; day: string } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:([+-])(\d{2}):(\d{2}))?$/.exec(taken);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let ms: number;
  if (m[7] !== undefined) {
    const offset = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === "-" ? -1 : 1);
    ms = Date.UTC(y, mo - 1, d, h, mi, s) - offset;
  } else {
    ms = new Date(y, mo - 1, d, h, mi, s).getTime();
  }
  if (!Number.isFinite(ms)) return undefined;
  return { ms, day: `${m[1]}-${m[2]}-${m[3]}` };
}

/** When the record was stamped (ms), from the listing position (16 hex digits of wall time first). */
export function recordTime(item: Pick<PhotoItem, "cursor">): number {
  const wall = Number.parseInt(item.cursor.slice(0, 16), 16);
  return Number.isFinite(wall) ? wall : 0;
}

/**
 * The entry's date taken: EXIF, else the file's last-modified date, else the record's time. The
 * meta's dates count only when `plausibleDate` at `now` (the meta is whatever its author sealed).
 */
export function entryDate(
  meta: PhotoMeta,
  item: Pick<PhotoItem, "cursor">,
  now: number = Date.now(),
): { taken: number; day: string } {
  const exif = typeof meta.taken === "string" ? parseTaken(meta.taken) : undefined;
  if (exif && plausibleDate(exif.ms, now)) return { taken: exif.ms, day: exif.day };
  const ms = meta.lastModified > 0 && plausibleDate(meta.lastModified, now) ? meta.lastModified : recordTime(item);
  return { taken: ms, day: localDay(ms) };
}

/** What identifies a sealed meta: 128 bits of its SHA-256 (a new seal is new random bytes). */
export function metaDigest(meta: string): string {
  return toHex(sha256(utf8Encode(meta)).subarray(0, 16));
}

export function makeEntry(
  item: PhotoItem,
  albumTitle: string | undefined,
  meta: PhotoMeta,
  now: number = Date.now(),
): IndexEntry {
  return { item, metaId: metaDigest(item.meta), albumTitle, meta, ...entryDate(meta, item, now) };
}

/** An entry as stored: without the listing's meta ciphertext and placements (a third of the size). */
export function storedEntry(entry: IndexEntry): IndexEntry {
  return { ...entry, item: { ...entry.item, meta: "", nodes: [] } };
}

/** Newest taken first; equal dates by listing position (newest record first). A new array. */
export function sortEntries(entries: Iterable<IndexEntry>): IndexEntry[] {
  return [...entries].sort(
    (a, b) =>
      b.taken - a.taken ||
      (a.day < b.day ? 1 : a.day > b.day ? -1 : 0) ||
      (a.item.cursor < b.item.cursor ? 1 : a.item.cursor > b.item.cursor ? -1 : 0),
  );
}

export const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
] as const;
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] as const;

function dayParts(day: string): { year: number; month: number; date: number; weekday: number } {
  const [year, month, date] = day.split("-").map(Number) as [number, number, number];
  return { year, month, date, weekday: new Date(Date.UTC(year, month - 1, date)).getUTCDay() };
}

/** "June 2024" for a day or month key (`2024-06-14`, `2024-06`). */
export function monthLabel(key: string): string {
  const [year, month] = key.split("-").map(Number) as [number, number];
  return `${MONTHS[month - 1] ?? "?"} ${year}`;
}

/** "Fri 14 June" for `2024-06-14` (the year is in the month's header). */
export function dayLabel(day: string): string {
  const { month, date, weekday } = dayParts(day);
  return `${(WEEKDAYS[weekday] ?? "").slice(0, 3)} ${date} ${MONTHS[month - 1] ?? "?"}`;
}

export interface DayGroup {
  day: string;
  entries: IndexEntry[];
}

export interface MonthGroup {
  /** `YYYY-MM`. */
  month: string;
  days: DayGroup[];
}

/** Sorted entries (newest first) grouped by month, then by day, in the same order. */
export function groupByMonthAndDay(sorted: readonly IndexEntry[]): MonthGroup[] {
  const months: MonthGroup[] = [];
  let month: MonthGroup | undefined;
  let day: DayGroup | undefined;
  for (const entry of sorted) {
    const key = entry.day.slice(0, 7);
    if (month?.month !== key) {
      month = { month: key, days: [] };
      months.push(month);
      day = undefined;
    }
    if (day?.day !== entry.day) {
      day = { day: entry.day, entries: [] };
      month.days.push(day);
    }
    day.entries.push(entry);
  }
  return months;
}

// ---- Search ----

/** Lower case, accents gone (NFKD, combining marks dropped): "Crème" → "creme". */
export function fold(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/** Between words of a haystack: never in a folded query term (terms are split on white space). */
const SEP = "\u0001";

/** Search texts made so far, per entry object (an entry is replaced, not changed, when its photo is). */
const texts = new WeakMap<IndexEntry, string>();

/**
 * The words an entry is found by, folded: album, caption, name, camera, and its date in several
 * forms. Made once per entry.
 */
export function searchText(entry: IndexEntry): string {
  let text = texts.get(entry);
  if (text === undefined) {
    text = makeSearchText(entry);
    texts.set(entry, text);
  }
  return text;
}

/**
 * Make the search texts of `entries` ahead, `pause` between slices of `sliceMs`, so the first
 * keystroke of a search does not wait for them (10,000 take ~90 ms at once).
 */
export async function prepareSearch(
  entries: readonly IndexEntry[],
  pause: () => Promise<void>,
  isCancelled: () => boolean = () => false,
  sliceMs = 8,
): Promise<void> {
  let slice = performance.now();
  for (const entry of entries) {
    if (isCancelled()) return;
    searchText(entry);
    if (performance.now() - slice >= sliceMs) {
      await pause();
      slice = performance.now();
    }
  }
}

function makeSearchText(entry: IndexEntry): string {
  const { meta } = entry;
  const { year, month, date, weekday } = dayParts(entry.day);
  const monthName = MONTHS[month - 1] ?? "";
  const fields = [
    entry.albumTitle ?? "",
    meta.caption ?? "",
    meta.name,
    meta.make ?? "",
    meta.model ?? "",
    `${year} ${monthName} ${date} ${pad(month)} ${pad(date)} ${entry.day} ${entry.day.slice(0, 7)}`,
    WEEKDAYS[weekday] ?? "",
  ];
  const words = new Set<string>();
  for (const field of fields) {
    const folded = fold(field);
    // Each white-space piece whole ("img_0001.jpg", "2024-06-14") and each run of letters and digits.
    for (const piece of folded.split(/\s+/)) {
      if (piece) words.add(piece);
      for (const part of piece.split(/[^\p{L}\p{N}]+/u)) if (part) words.add(part);
    }
  }
  return SEP + [...words].join(SEP);
}

/** A query's terms, folded: every one must start a word of a photo's text. */
export function queryTerms(query: string): string[] {
  return fold(query)
    .split(/\s+/)
    .map((t) => t.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ""))
    .filter((t) => t.length > 0);
}

/** The entries (kept in order) and their search texts, built once per index state. */
export class SearchIndex {
  readonly entries: readonly IndexEntry[];
  readonly #rows: { entry: IndexEntry; text: string }[];

  constructor(entries: readonly IndexEntry[]) {
    this.entries = entries;
    this.#rows = entries.map((entry) => ({ entry, text: searchText(entry) }));
  }

  /** Entries whose words start with every term of `query`, in index order (all for an empty query). */
  search(query: string): IndexEntry[] {
    const terms = queryTerms(query).map((t) => SEP + t);
    if (terms.length === 0) return [...this.entries];
    const out: IndexEntry[] = [];
    for (const { entry, text } of this.#rows) {
      let all = true;
      for (const term of terms) {
        if (!text.includes(term)) {
          all = false;
          break;
        }
      }
      if (all) out.push(entry);
    }
    return out;
  }
}

// ---- Sync ----

export interface SyncPlan {
  /** Entries still listed with the same sealed meta and album title (their listing refreshed). */
  kept: IndexEntry[];
  /** Listed photos to decrypt: new, or their meta (or album title) changed. */
  open: PhotoItem[];
  /** How many entries were not listed any more. */
  dropped: number;
}

/**
 * What a complete walk of the listing means for the index: keep what is unchanged (without
 * decrypting it again), open what is new or changed, drop what is gone.
 */
export function planSync(
  previous: ReadonlyMap<string, IndexEntry>,
  listed: readonly PhotoItem[],
  titles: ReadonlyMap<string, string | undefined>,
): SyncPlan {
  const kept: IndexEntry[] = [];
  const open: PhotoItem[] = [];
  const seen = new Set<string>();
  for (const item of listed) {
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    const old = previous.get(item.id);
    const title = titles.get(item.album);
    if (old?.item.album === item.album && old.albumTitle === title && old.metaId === metaDigest(item.meta)) {
      kept.push(old.item === item ? old : { ...old, item });
    } else {
      open.push(item);
    }
  }
  let dropped = 0;
  for (const id of previous.keys()) if (!seen.has(id)) dropped++;
  return { kept, open, dropped };
}
