import { describe, expect, it } from "vitest";
import { preloadOrder, slideshowNext, step } from "./navigation.ts";

describe("navigation", () => {
  it("steps within the list, or around it when looping", () => {
    expect(step(0, 1, 3)).toBe(1);
    expect(step(2, 1, 3)).toBeUndefined();
    expect(step(0, -1, 3)).toBeUndefined();
    expect(step(2, 1, 3, true)).toBe(0);
    expect(step(0, -1, 3, true)).toBe(2);
    expect(step(0, 1, 0)).toBeUndefined();
    expect(step(-1, 1, 3)).toBeUndefined();
  });

  it("runs a slideshow to the end, loads more, loops or stops", () => {
    expect(slideshowNext(0, 3, { loop: false, hasMore: false })).toEqual({ go: 1 });
    expect(slideshowNext(2, 3, { loop: false, hasMore: true })).toEqual({ loadMore: true });
    expect(slideshowNext(2, 3, { loop: true, hasMore: false })).toEqual({ go: 0 });
    expect(slideshowNext(2, 3, { loop: false, hasMore: false })).toEqual({ stop: true });
    expect(slideshowNext(0, 1, { loop: true, hasMore: false })).toEqual({ stop: true });
  });

  it("decrypts ahead in the direction of travel first", () => {
    expect(preloadOrder(5, 10, 1)).toEqual([6, 4]);
    expect(preloadOrder(5, 10, -1)).toEqual([4, 6]);
    expect(preloadOrder(0, 10, 1, 2)).toEqual([1, 2]);
    expect(preloadOrder(9, 10, 1)).toEqual([8]);
  });
});
