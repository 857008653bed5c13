// Types of exif-fixture.mjs for the unit tests that import it (src/lib/exif.test.ts).
export interface ExifTags {
  make?: string;
  model?: string;
  orientation?: number;
  taken?: string;
  offset?: string;
}
export function exifSegment(tags: ExifTags): Uint8Array;
export function withExif(jpeg: Uint8Array, tags: ExifTags): Uint8Array;
