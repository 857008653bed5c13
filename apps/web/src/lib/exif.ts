/**
 * What a photo's EXIF says about when and with what it was taken, read in the browser at upload
 * (by exifr) and kept in the photo's encrypted meta. Only the beginning of the file is read: EXIF
 * sits in the first 64 KiB of a JPEG, at the start of a TIFF-based raw file, and near the start of
 * most HEIC files; anything it cannot find or parse is left out, never an error. exifr's "lite"
 * build (JPEG, HEIC, TIFF; no XMP, ICC or IPTC) is loaded on first use, so only the upload worker
 * carries it.
 */

/** The EXIF facts kept in a photo's meta (docs/FORMATS.md, "Photo meta"). */
export interface ExifFacts {
  /** Local time on the camera's clock, `YYYY-MM-DDTHH:MM:SS`, plus `±HH:MM` when EXIF says it. */
  taken?: string;
  make?: string;
  model?: string;
}

/** How much of the file is handed to the parser. */
export const EXIF_SCAN_BYTES = 1024 * 1024;

/** The tags read, by number (the lite build has no name dictionary to pick by): the camera … */
const IFD0_TAGS = [0x010f /* Make */, 0x0110 /* Model */];
/** … and the date taken (or digitised) with its UTC offset. */
const EXIF_TAGS = [
  0x9003 /* DateTimeOriginal */, 0x9004 /* CreateDate */, 0x9010 /* OffsetTime */, 0x9011 /* OffsetTimeOriginal */,
];

export async function readExif(file: Blob): Promise<ExifFacts> {
  let raw: Record<string, unknown> | undefined;
  try {
    const head = new Uint8Array(await file.slice(0, EXIF_SCAN_BYTES).arrayBuffer());
    const { parse } = await import("exifr/dist/lite.esm.mjs");
    raw = (await parse(head, {
      ifd0: { pick: IFD0_TAGS },
      exif: { pick: EXIF_TAGS },
      // Keep dates as EXIF wrote them: a Date would be read in this browser's time zone.
      reviveValues: false,
      translateValues: false,
      // Nothing else.
      gps: false,
      interop: false,
      ifd1: false,
      xmp: false,
      icc: false,
      iptc: false,
      jfif: false,
      ihdr: false,
    })) as Record<string, unknown> | undefined;
  } catch {
    return {};
  }
  return exifFacts(raw ?? {});
}

/** The facts from exifr's raw output (tag name → value), validated. */
export function exifFacts(raw: Record<string, unknown>): ExifFacts {
  const taken =
    exifDate(raw["DateTimeOriginal"], raw["OffsetTimeOriginal"] ?? raw["OffsetTime"]) ??
    exifDate(raw["CreateDate"], raw["OffsetTime"]);
  const make = exifText(raw["Make"]);
  const model = exifText(raw["Model"]);
  return { ...(taken ? { taken } : {}), ...(make ? { make } : {}), ...(model ? { model } : {}) };
}

/**
 * An EXIF date (`YYYY:MM:DD HH:MM:SS`, sometimes with `-` or a `T`, or sub-seconds) as
 * `YYYY-MM-DDTHH:MM:SS`, with the offset (`±HH:MM`) when one is given; undefined for blanks
 * (`0000:00:00 00:00:00`, spaces) and impossible dates.
 */
export function exifDate(value: unknown, offset?: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  if (y < 1800 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const check = new Date(Date.UTC(y, mo - 1, d));
  if (check.getUTCDate() !== d) return undefined;
  const date = `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}`;
  const zone = typeof offset === "string" && /^[+-]\d{2}:\d{2}$/.test(offset.trim()) ? offset.trim() : "";
  return date + zone;
}

/** A stored `taken` (see ExifFacts), checked the same way; undefined when malformed. */
export function takenValue(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})?$/.exec(value);
  if (!match) return undefined;
  return exifDate(`${match[1]} ${match[2]}`, match[3]) === value ? value : undefined;
}

/** Text EXIF writes padded with spaces or NULs; at most 100 characters kept. */
export function exifText(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  // EXIF ASCII fields are NUL-terminated and often padded: keep the printable part.
  // eslint-disable-next-line no-control-regex
  const text = value.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
  return text ? text.slice(0, 100) : undefined;
}

/** "Canon" and "Canon EOS R5" read as "Canon EOS R5"; either alone as itself. */
export function cameraName(make: string | undefined, model: string | undefined): string | undefined {
  if (!make) return model;
  if (!model) return make;
  const brand = make.split(/\s+/)[0] ?? make;
  return model.toLowerCase().startsWith(brand.toLowerCase()) ? model : `${make} ${model}`;
}

/**
 * A `taken` value for people, in the wall-clock time the camera recorded (not moved into this
 * browser's time zone), with its UTC offset when known.
 */
export function formatTaken(taken: string, locale?: string): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-]\d{2}:\d{2})?$/.exec(taken);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const wall = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  const text = new Intl.DateTimeFormat(locale, {
    dateStyle: "full",
    timeStyle: "short",
    timeZone: "UTC",
  }).format(wall);
  return match[7] ? `${text} (UTC${match[7]})` : text;
}
