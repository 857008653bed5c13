import { describe, expect, it } from "vitest";
import { gridRows } from "./gridRows.ts";

describe("gridRows", () => {
  // What `repeat(auto-fill, minmax(9rem, 1fr))` with a 0.75rem gap makes at 16 px per rem:
  // n columns fit when n * 144 + (n - 1) * 12 <= width.
  it("has as many columns as the CSS grid had", () => {
    expect(gridRows(1236, 16, false).columns).toBe(8); // 8 * 144 + 7 * 12 = 1236
    expect(gridRows(1235, 16, false).columns).toBe(7);
    expect(gridRows(358, 16, false).columns).toBe(2); // 390 px phone
    expect(gridRows(300, 16, false).columns).toBe(2); // 2 * 144 + 12 = 300
    expect(gridRows(299, 16, false).columns).toBe(1);
  });

  it("keeps one column however narrow, and one before the width is known", () => {
    expect(gridRows(100, 16, false).columns).toBe(1);
    expect(gridRows(0, 16, false).columns).toBe(1);
  });

  it("follows the root font size", () => {
    expect(gridRows(1236, 20, false).columns).toBe(6); // 6 * 180 + 5 * 15 = 1155; 7 would be 1275
  });

  it("estimates a row as its tile plus captions and the gap, taller with file names", () => {
    const plain = gridRows(300, 16, false);
    expect(plain.estimate).toBe(Math.round(144 + 3.3 * 16 + 12));
    const named = gridRows(300, 16, true);
    expect(named.estimate - plain.estimate).toBe(Math.round(1.2 * 16));
  });
});
