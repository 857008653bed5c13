import { describe, expect, it } from "vitest";
import { Poller } from "./poller.ts";

/** A poller whose loads, timers and visibility the test drives by hand. */
function harness() {
  const loads: { resolve: (v: number) => void; reject: (e: unknown) => void }[] = [];
  const timers = new Map<number, { run: () => void; ms: number }>();
  let nextTimer = 1;
  const seen: unknown[] = [];
  const world = { hidden: false };
  const poller = new Poller<number>({
    load: () =>
      new Promise<number>((resolve, reject) => {
        loads.push({ resolve, reject });
      }),
    intervalMs: 2000,
    onValue: (v) => seen.push(v),
    onError: (e) => seen.push(`error: ${String(e)}`),
    isHidden: () => world.hidden,
    setTimer: (run, ms) => {
      const id = nextTimer++;
      timers.set(id, { run, ms });
      return id;
    },
    clearTimer: (id) => timers.delete(id as number),
  });
  const fire = () => {
    const pending = [...timers.entries()];
    timers.clear();
    for (const [, t] of pending) t.run();
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { poller, loads, timers, seen, world, fire, settle };
}

describe("poller", () => {
  it("loads at once, then again an interval after each answer, never two at once", async () => {
    const h = harness();
    h.poller.start();
    expect(h.loads).toHaveLength(1);
    expect(h.timers.size).toBe(0); // no timer while a load is under way
    h.loads[0]?.resolve(1);
    await h.settle();
    expect(h.seen).toEqual([1]);
    expect([...h.timers.values()].map((t) => t.ms)).toEqual([2000]);
    h.fire();
    expect(h.loads).toHaveLength(2);
    h.loads[1]?.reject("offline");
    await h.settle();
    expect(h.seen).toEqual([1, "error: offline"]);
    expect(h.timers.size).toBe(1); // keeps trying after a failure
  });

  it("with wait, loads first an interval after the start", () => {
    const h = harness();
    h.poller.start(true);
    expect(h.loads).toHaveLength(0);
    expect([...h.timers.values()].map((t) => t.ms)).toEqual([2000]);
    h.fire();
    expect(h.loads).toHaveLength(1);
    h.poller.stop();
    expect(h.timers.size).toBe(0);
  });

  it("pauses while the page is hidden and loads at once when it shows again", async () => {
    const h = harness();
    h.poller.start();
    h.loads[0]?.resolve(1);
    await h.settle();
    h.world.hidden = true;
    h.poller.visibilityChanged();
    expect(h.timers.size).toBe(0);
    h.world.hidden = false;
    h.poller.visibilityChanged();
    expect(h.loads).toHaveLength(2);
    // Showing it again while a load is under way does not start a second one.
    h.poller.visibilityChanged();
    expect(h.loads).toHaveLength(2);
  });

  it("does not start or schedule while hidden", async () => {
    const h = harness();
    h.world.hidden = true;
    h.poller.start();
    expect(h.loads).toHaveLength(0);
    h.world.hidden = false;
    h.poller.visibilityChanged();
    expect(h.loads).toHaveLength(1);
    h.world.hidden = true;
    h.loads[0]?.resolve(7);
    await h.settle();
    expect(h.seen).toEqual([7]);
    expect(h.timers.size).toBe(0);
  });

  it("drops answers after stop and schedules nothing more", async () => {
    const h = harness();
    h.poller.start();
    h.poller.stop();
    h.loads[0]?.resolve(1);
    await h.settle();
    expect(h.seen).toEqual([]);
    expect(h.timers.size).toBe(0);
    h.poller.refresh();
    h.poller.visibilityChanged();
    expect(h.loads).toHaveLength(1);
  });

  it("refreshes now, or right after the load under way", async () => {
    const h = harness();
    h.poller.start();
    h.poller.refresh();
    expect(h.loads).toHaveLength(1);
    h.loads[0]?.resolve(1);
    await h.settle();
    expect(h.loads).toHaveLength(2); // the queued refresh, at once
    expect(h.timers.size).toBe(0);
    h.loads[1]?.resolve(2);
    await h.settle();
    expect(h.timers.size).toBe(1);
    h.poller.refresh();
    expect(h.timers.size).toBe(0);
    expect(h.loads).toHaveLength(3);
  });
});
