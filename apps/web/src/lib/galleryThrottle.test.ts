import { describe, expect, it } from "vitest";
import { PacedQueue, TokenBucket } from "./galleryThrottle.ts";

describe("TokenBucket", () => {
  it("allows a burst, then the rate", () => {
    const bucket = new TokenBucket(2, 4, 0);
    expect([0, 0, 0, 0, 0].map(() => bucket.take(0))).toEqual([true, true, true, true, false]);
    expect(bucket.waitMs(0)).toBe(500);
    expect(bucket.take(499)).toBe(false);
    expect(bucket.take(500)).toBe(true);
    expect(bucket.take(500)).toBe(false);
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.take(1000)).toBe(false);
  });

  it("saves up no more than its burst", () => {
    const bucket = new TokenBucket(10, 3, 0);
    for (let i = 0; i < 3; i++) bucket.take(0);
    const afterAnHour = 3_600_000;
    expect([1, 2, 3, 4].map(() => bucket.take(afterAnHour))).toEqual([true, true, true, false]);
  });

  it("ignores a clock that goes backwards", () => {
    const bucket = new TokenBucket(1, 1, 1000);
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.take(2000)).toBe(true);
  });
});

describe("PacedQueue", () => {
  it("keeps under the hub's 10 messages per second, bursts of 20", () => {
    const queue = new PacedQueue<number>(8, 16, 0);
    for (let i = 0; i < 40; i++) queue.push(i);
    const sent: [number, number][] = [];
    let now = 0;
    while (queue.length > 0) {
      for (const item of queue.due(now)) sent.push([now, item]);
      const next = queue.nextAt(now);
      if (next === undefined) break;
      now = next;
    }
    expect(sent.map(([, item]) => item)).toEqual([...Array(40).keys()]);
    // The hub's own bucket (10 per second, bursts of 20) accepts every one of them.
    const hub = new TokenBucket(10, 20, 0);
    for (const [at] of sent) expect(hub.take(at)).toBe(true);
    expect(sent.filter(([at]) => at === 0)).toHaveLength(16);
    expect(now).toBeGreaterThanOrEqual(3000 - 1);
  });

  it("says nothing is due when it is empty", () => {
    const queue = new PacedQueue<string>(1, 1, 0);
    expect(queue.nextAt(0)).toBeUndefined();
    expect(queue.due(0)).toEqual([]);
  });
});
