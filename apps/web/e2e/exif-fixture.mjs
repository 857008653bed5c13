// @ts-check
// Test fixtures: EXIF written into a JPEG the way cameras do (an APP1 "Exif" segment right after
// SOI holding a big-endian TIFF structure: IFD0 with Make, Model and Orientation, and an Exif IFD
// with DateTimeOriginal and OffsetTimeOriginal). Used by the unit tests of src/lib/exif.ts and by
// e2e/viewer.test.mjs, so both read the same bytes. Writes only; the app reads with exifr.

const ASCII = 2;
const SHORT = 3;
const LONG = 4;

/**
 * @typedef {object} ExifTags
 * @property {string} [make]
 * @property {string} [model]
 * @property {number} [orientation] 1–8
 * @property {string} [taken] EXIF form, "YYYY:MM:DD HH:MM:SS"
 * @property {string} [offset] "+HH:MM"
 */

/** @typedef {{ tag: number, type: number, count: number, data: Buffer }} Entry */

/** @param {string} text */
function ascii(text) {
  const data = Buffer.from(`${text}\0`, "latin1");
  return { type: ASCII, count: data.length, data };
}

/** @param {Entry[]} entries */
function ifdSize(entries) {
  const extra = entries.reduce((sum, e) => sum + (e.data.length > 4 ? e.data.length + (e.data.length % 2) : 0), 0);
  return 2 + 12 * entries.length + 4 + extra;
}

/**
 * One IFD (entries sorted by tag) placed at `start` in the TIFF structure; values longer than four
 * bytes follow it.
 * @param {Entry[]} entries
 * @param {number} start
 */
function ifdBytes(entries, start) {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  const out = Buffer.alloc(ifdSize(sorted));
  out.writeUInt16BE(sorted.length, 0);
  let data = 2 + 12 * sorted.length + 4;
  sorted.forEach((entry, i) => {
    const at = 2 + 12 * i;
    out.writeUInt16BE(entry.tag, at);
    out.writeUInt16BE(entry.type, at + 2);
    out.writeUInt32BE(entry.count, at + 4);
    if (entry.data.length <= 4) {
      entry.data.copy(out, at + 8);
    } else {
      out.writeUInt32BE(start + data, at + 8);
      entry.data.copy(out, data);
      data += entry.data.length + (entry.data.length % 2);
    }
  });
  // Next IFD: none (the four zero bytes before the data area).
  return out;
}

/**
 * The APP1 segment (marker, length, "Exif\0\0", TIFF) carrying `tags`.
 * @param {ExifTags} tags
 */
export function exifSegment(tags) {
  /** @type {Entry[]} */
  const ifd0 = [];
  /** @type {Entry[]} */
  const exif = [];
  if (tags.make) ifd0.push({ tag: 0x010f, ...ascii(tags.make) });
  if (tags.model) ifd0.push({ tag: 0x0110, ...ascii(tags.model) });
  if (tags.orientation) {
    const data = Buffer.alloc(4);
    data.writeUInt16BE(tags.orientation, 0);
    ifd0.push({ tag: 0x0112, type: SHORT, count: 1, data });
  }
  if (tags.taken) exif.push({ tag: 0x9003, ...ascii(tags.taken) });
  if (tags.offset) exif.push({ tag: 0x9011, ...ascii(tags.offset) });
  const pointer = Buffer.alloc(4);
  if (exif.length > 0) ifd0.push({ tag: 0x8769, type: LONG, count: 1, data: pointer });
  // The Exif IFD comes right after IFD0 and its data.
  const exifStart = 8 + ifdSize(ifd0);
  pointer.writeUInt32BE(exifStart, 0);
  const header = Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08]);
  const tiff = Buffer.concat([header, ifdBytes(ifd0, 8), ...(exif.length > 0 ? [ifdBytes(exif, exifStart)] : [])]);
  const payload = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2, 0);
  return Buffer.concat([Buffer.from([0xff, 0xe1]), length, payload]);
}

/**
 * `jpeg` with an EXIF segment carrying `tags` inserted after its SOI marker.
 * @param {Uint8Array} jpeg
 * @param {ExifTags} tags
 */
export function withExif(jpeg, tags) {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error("not a JPEG: no SOI marker");
  return Buffer.concat([jpeg.subarray(0, 2), exifSegment(tags), jpeg.subarray(2)]);
}
