import { describe, expect, it } from "vitest";
import { compareHlc, HlcClock, isObservable, wallMsTextIsSafe } from "./hlc.ts";

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

  it("refuses a timestamp that is not a safe integer (a u64 JSON.parse rounded) and changes nothing", () => {
    const clock = new HlcClock();
    const before = clock.tick(1_000);
    const rounded = JSON.parse('{"wall_ms":18446744073709551615,"counter":0}') as { wall_ms: number; counter: number };
    expect(() => clock.observe(rounded, 1_000)).toThrow(/not a safe integer/);
    expect(() => clock.observe({ wall_ms: 1.5, counter: 0 }, 1_000)).toThrow(/not a safe integer/);
    expect(() => clock.observe({ wall_ms: 1, counter: 2 ** 32 }, 1_000)).toThrow(/not a safe integer/);
    expect(clock.last).toEqual(before);
    expect(isObservable(rounded, 1_000)).toBe(false);
    expect(isObservable({ wall_ms: 61_001, counter: 0 }, 1_000)).toBe(false);
    expect(isObservable({ wall_ms: 61_000, counter: 0 }, 1_000)).toBe(true);
  });

  it("reads wall_ms as written: digits a number holds exactly, nothing else", () => {
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":1700000000000,"counter":0}}')).toBe(true);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms" : 0 ,"counter":0}}')).toBe(true);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":9007199254740991,"counter":0}}')).toBe(true);
    // 2^53 + 1 parses as 2^53, which Number.isSafeInteger refuses; 2^64 - 1 parses as 2^64.
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":9007199254740993,"counter":0}}')).toBe(false);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":18446744073709551615,"counter":0}}')).toBe(false);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":1.7e12,"counter":0}}')).toBe(false);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":-1,"counter":0}}')).toBe(false);
    expect(wallMsTextIsSafe('{"hlc":{"wall_ms":"1","counter":0}}')).toBe(false);
    expect(wallMsTextIsSafe('{"hlc":{"counter":0}}')).toBe(false);
    // Text inside a string is not a key.
    expect(wallMsTextIsSafe('{"x":"\\"wall_ms\\":99999999999999999999","hlc":{"wall_ms":5,"counter":0}}')).toBe(true);
  });
});
