import { describe, expect, it } from "vitest";
import {
  clampView,
  doubleTapScale,
  FIT,
  fitSize,
  isDoubleTap,
  maxScale,
  MIN_MAX_SCALE,
  panBy,
  pinchScale,
  swipeAction,
  wheelFactor,
  zoomTo,
} from "./zoom.ts";

const stage = { width: 1000, height: 800 };

describe("fitting", () => {
  it("contains a large picture in the stage, in proportion", () => {
    expect(fitSize({ width: 4000, height: 3000 }, stage)).toEqual({ width: 1000, height: 750 });
    expect(fitSize({ width: 3000, height: 4000 }, stage)).toEqual({ width: 600, height: 800 });
  });

  it("never blows a small picture up past its own pixels", () => {
    expect(fitSize({ width: 400, height: 300 }, stage)).toEqual({ width: 400, height: 300 });
  });

  it("gives nothing for unknown sizes", () => {
    expect(fitSize({ width: 0, height: 300 }, stage)).toEqual({ width: 0, height: 0 });
    expect(fitSize({ width: 400, height: 300 }, { width: 0, height: 0 })).toEqual({ width: 0, height: 0 });
  });

  it("allows zooming to twice the original's pixels, within bounds", () => {
    expect(maxScale({ width: 4000, height: 3000 }, { width: 1000, height: 750 })).toBe(8);
    expect(maxScale({ width: 400, height: 300 }, { width: 400, height: 300 })).toBe(MIN_MAX_SCALE);
    expect(maxScale({ width: 100_000, height: 300 }, { width: 1000, height: 3 })).toBe(32);
  });
});

describe("zooming and panning", () => {
  const fitted = { width: 1000, height: 750 };

  it("keeps the point under the cursor in place", () => {
    const at = { x: 200, y: -100 };
    const zoomed = zoomTo(FIT, 2, at, fitted, stage, 8);
    expect(zoomed.scale).toBe(2);
    // The picture point under `at` was (at - 0) / 1; now it is at (at - offset) / 2: the same.
    expect((at.x - zoomed.x) / zoomed.scale).toBeCloseTo(at.x);
    expect((at.y - zoomed.y) / zoomed.scale).toBeCloseTo(at.y);
  });

  it("clamps the scale between fit and the maximum, and recentres at fit", () => {
    const zoomed = zoomTo(FIT, 100, { x: 300, y: 0 }, fitted, stage, 8);
    expect(zoomed.scale).toBe(8);
    expect(zoomTo(zoomed, 0.1, { x: 0, y: 0 }, fitted, stage, 8)).toEqual({ scale: 1, x: 0, y: 0 });
  });

  it("pans only as far as the picture's edge", () => {
    const zoomed = { scale: 2, x: 0, y: 0 };
    // 2000 × 1500 on a 1000 × 800 stage: 500 px of slack each way across, 350 down.
    expect(panBy(zoomed, { x: 10_000, y: -10_000 }, fitted, stage, 8)).toEqual({ scale: 2, x: 500, y: -350 });
    expect(panBy(zoomed, { x: -20, y: 30 }, fitted, stage, 8)).toEqual({ scale: 2, x: -20, y: 30 });
  });

  it("centres a side smaller than the stage", () => {
    // 600 × 800 fitted, zoomed 1.5: 900 wide, still narrower than the stage.
    expect(clampView({ scale: 1.5, x: 120, y: 90 }, { width: 600, height: 800 }, stage, 8)).toEqual({
      scale: 1.5,
      x: 0,
      y: 90,
    });
  });

  it("turns wheel deltas into gentle factors, in and out", () => {
    expect(wheelFactor(-100)).toBeGreaterThan(1);
    expect(wheelFactor(100)).toBeLessThan(1);
    expect(wheelFactor(100) * wheelFactor(-100)).toBeCloseTo(1);
    // Lines and pages count as many pixels; a huge delta is capped.
    expect(wheelFactor(3, 1)).toBeCloseTo(wheelFactor(48));
    expect(wheelFactor(10_000)).toBeCloseTo(wheelFactor(200));
  });

  it("double tap zooms in on a fitted picture and back out when zoomed", () => {
    const natural = { width: 4000, height: 3000 };
    expect(doubleTapScale(FIT, natural, fitted, 8)).toBe(MIN_MAX_SCALE);
    expect(doubleTapScale(FIT, { width: 1000, height: 750 }, fitted, 8)).toBe(2.5);
    expect(doubleTapScale({ scale: 3, x: 0, y: 0 }, natural, fitted, 8)).toBe(1);
  });

  it("pinches in proportion to the fingers' spread", () => {
    expect(pinchScale(2, 100, 150)).toBe(3);
    expect(pinchScale(2, 0, 150)).toBe(2);
  });
});

describe("gestures", () => {
  it("tells swipes apart", () => {
    expect(swipeAction({ x: -120, y: 10 }, 300)).toBe("next");
    expect(swipeAction({ x: 120, y: -10 }, 300)).toBe("previous");
    // A short quick flick counts; a short slow drag does not.
    expect(swipeAction({ x: -30, y: 0 }, 40)).toBe("next");
    expect(swipeAction({ x: -30, y: 0 }, 400)).toBeUndefined();
    // Diagonal: nothing.
    expect(swipeAction({ x: 80, y: 70 }, 200)).toBeUndefined();
    // Pulled down far: close; pushed up: nothing.
    expect(swipeAction({ x: 5, y: 160 }, 300)).toBe("close");
    expect(swipeAction({ x: 5, y: -160 }, 300)).toBeUndefined();
  });

  it("counts two quick taps in one place as a double tap", () => {
    const first = { at: { x: 10, y: 10 }, time: 1000 };
    expect(isDoubleTap(undefined, first)).toBe(false);
    expect(isDoubleTap(first, { at: { x: 15, y: 12 }, time: 1200 })).toBe(true);
    expect(isDoubleTap(first, { at: { x: 15, y: 12 }, time: 1400 })).toBe(false);
    expect(isDoubleTap(first, { at: { x: 100, y: 10 }, time: 1100 })).toBe(false);
  });
});
