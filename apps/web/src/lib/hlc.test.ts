import { describe, expect, it } from "vitest";
import { compareHlc, HlcClock } from "./hlc.ts";

// The same cases as crates/p2pos-core/src/hlc.rs.
describe("hybrid logical clock", () => {
  it("moves the counter within one millisecond", () => {
    const clock = new HlcClock();
    const a = clock.tick(1_000);
    const b = clock.tick(1_000);
    expect(compareHlc(b, a)).toBeGreaterThan(0);
    expect(b).toEqual({ wall_ms: 1_000, counter: 1 });
  });

  it("never goes backwards when the wall clock does", () => {
    const clock = new HlcClock();
    const a = clock.tick(5_000);
    const b = clock.tick(4_000);
    expect(compareHlc(b, a)).toBeGreaterThan(0);
    expect(b.wall_ms).toBe(5_000);
  });

  it("moves past what it observes and then tracks real time", () => {
    const clock = new HlcClock();
    clock.tick(1_000);
    expect(clock.observe({ wall_ms: 2_000, counter: 7 }, 1_500)).toEqual({ wall_ms: 2_000, counter: 8 });
    expect(clock.tick(3_000)).toEqual({ wall_ms: 3_000, counter: 0 });
  });

  it("refuses a timestamp too far ahead and changes nothing", () => {
    const clock = new HlcClock(undefined, 1_000);
    const before = clock.tick(1_000);
    expect(() => clock.observe({ wall_ms: 10_000, counter: 0 }, 1_000)).toThrow(/9000 ms ahead/);
    expect(clock.last).toEqual(before);
  });

  it("borrows a millisecond when the counter is exhausted", () => {
    const clock = new HlcClock({ wall_ms: 7, counter: 0xffff_ffff });
    expect(clock.tick(1)).toEqual({ wall_ms: 8, counter: 0 });
  });
});
