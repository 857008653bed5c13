import { describe, expect, it } from "vitest";
import { exifSegment, withExif } from "../../e2e/exif-fixture.mjs";
import { cameraName, exifDate, exifFacts, exifText, formatTaken, readExif, takenValue } from "./exif.ts";

// A JPEG's skeleton: SOI, the EXIF segment, a comment, EOI. exifr reads the segments only.
const jpeg = (tags: Parameters<typeof exifSegment>[0]) =>
  new Blob([
    new Uint8Array(withExif(new Uint8Array([0xff, 0xd8, 0xff, 0xfe, 0x00, 0x04, 0x68, 0x69, 0xff, 0xd9]), tags)),
  ]);

describe("readExif", () => {
  it("reads the date taken with its offset, and the camera", async () => {
    const file = jpeg({
      make: "Canon",
      model: "Canon EOS R5",
      orientation: 6,
      taken: "2024:07:14 15:30:09",
      offset: "+02:00",
    });
    expect(await readExif(file)).toEqual({ taken: "2024-07-14T15:30:09+02:00", make: "Canon", model: "Canon EOS R5" });
  });

  it("reads a date without an offset, and a camera without a date", async () => {
    expect(await readExif(jpeg({ taken: "2019:12:31 23:59:59" }))).toEqual({ taken: "2019-12-31T23:59:59" });
    expect(await readExif(jpeg({ make: "FUJIFILM", model: "X-T4" }))).toEqual({ make: "FUJIFILM", model: "X-T4" });
  });

  it("finds nothing in files without EXIF, or that are not images at all", async () => {
    expect(await readExif(new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])]))).toEqual({});
    expect(await readExif(new Blob(["just some text, not a picture"]))).toEqual({});
    expect(await readExif(new Blob([]))).toEqual({});
  });
});

describe("EXIF values", () => {
  it("turns EXIF dates into ISO wall-clock times and refuses blanks and impossible dates", () => {
    expect(exifDate("2024:07:14 15:30:09")).toBe("2024-07-14T15:30:09");
    expect(exifDate("2024-07-14T15:30:09.123")).toBe("2024-07-14T15:30:09");
    expect(exifDate("2024:07:14 15:30:09", "-05:00")).toBe("2024-07-14T15:30:09-05:00");
    expect(exifDate("2024:07:14 15:30:09", "garbage")).toBe("2024-07-14T15:30:09");
    expect(exifDate("0000:00:00 00:00:00")).toBeUndefined();
    expect(exifDate("    :  :     :  :  ")).toBeUndefined();
    expect(exifDate("2023:02:30 10:00:00")).toBeUndefined();
    expect(exifDate(1_700_000_000)).toBeUndefined();
  });

  it("prefers the original date to the digitised one", () => {
    expect(exifFacts({ DateTimeOriginal: "2020:01:01 10:00:00", CreateDate: "2021:01:01 10:00:00" })).toEqual({
      taken: "2020-01-01T10:00:00",
    });
    expect(exifFacts({ DateTimeOriginal: "0000:00:00 00:00:00", CreateDate: "2021:01:01 10:00:00" })).toEqual({
      taken: "2021-01-01T10:00:00",
    });
  });

  it("trims padded text and drops empty text", () => {
    expect(exifText("NIKON CORPORATION\u0000\u0000  ")).toBe("NIKON CORPORATION");
    expect(exifText("   ")).toBeUndefined();
    expect(exifText(42)).toBeUndefined();
    expect(exifText("x".repeat(500))).toHaveLength(100);
  });

  it("checks a stored date taken", () => {
    expect(takenValue("2024-07-14T15:30:09+02:00")).toBe("2024-07-14T15:30:09+02:00");
    expect(takenValue("2024-07-14T15:30:09")).toBe("2024-07-14T15:30:09");
    expect(takenValue("2024-02-30T15:30:09")).toBeUndefined();
    expect(takenValue("yesterday")).toBeUndefined();
    expect(takenValue(12)).toBeUndefined();
  });

  it("names the camera without repeating the maker", () => {
    expect(cameraName("Canon", "Canon EOS R5")).toBe("Canon EOS R5");
    expect(cameraName("NIKON CORPORATION", "NIKON Z 6")).toBe("NIKON Z 6");
    expect(cameraName("Apple", "iPhone 15 Pro")).toBe("Apple iPhone 15 Pro");
    expect(cameraName(undefined, "X-T4")).toBe("X-T4");
    expect(cameraName("FUJIFILM", undefined)).toBe("FUJIFILM");
    expect(cameraName(undefined, undefined)).toBeUndefined();
  });

  it("shows the camera's wall-clock time, whatever this browser's time zone", () => {
    expect(formatTaken("2024-07-14T15:30:09", "en-GB")).toBe("Sunday, 14 July 2024 at 15:30");
    expect(formatTaken("2024-07-14T15:30:09+02:00", "en-GB")).toBe("Sunday, 14 July 2024 at 15:30 (UTC+02:00)");
    expect(formatTaken("nonsense")).toBeUndefined();
  });
});
