import { describe, expect, it } from "vitest";
import { UrlCache } from "./urlCache.ts";

function harness(capacity: number) {
  let made = 0;
  const revoked: string[] = [];
  const cache = new UrlCache({
    capacity,
    create: () => `blob:${++made}`,
    revoke: (url) => revoked.push(url),
  });
  const loads: string[] = [];
  const load = (key: string) => (signal: AbortSignal) => {
    loads.push(key);
    return new Promise<Blob>((resolve, reject) => {
      if (signal.aborted) reject(new DOMException("aborted", "AbortError"));
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      queueMicrotask(() => resolve(new Blob([key])));
    });
  };
  return { cache, revoked, loads, load };
}

describe("UrlCache", () => {
  it("loads each key once and hands the same URL back", async () => {
    const { cache, loads, load } = harness(3);
    const a = await cache.get("a", load("a"));
    expect(await cache.get("a", load("a"))).toBe(a);
    expect(loads).toEqual(["a"]);
    expect(cache.peek("a")).toBe(a);
  });

  it("evicts the least recently used past its capacity and revokes its URL", async () => {
    const { cache, revoked, load } = harness(2);
    const a = await cache.get("a", load("a"));
    const b = await cache.get("b", load("b"));
    await cache.get("a", load("a")); // a is now the most recent
    await cache.get("c", load("c"));
    expect(cache.has("b")).toBe(false);
    expect(revoked).toEqual([b]);
    expect(cache.peek("a")).toBe(a);
    expect(cache.size).toBe(2);
  });

  it("keeps what is in use even past its capacity", async () => {
    const { cache, revoked, load } = harness(1);
    cache.keep(["a", "b"]);
    await cache.get("a", load("a"));
    await cache.get("b", load("b"));
    expect(cache.size).toBe(2);
    expect(revoked).toEqual([]);
    // No longer in use: back to the capacity, oldest first.
    cache.keep(["b"]);
    expect(cache.has("a")).toBe(false);
    expect(revoked).toEqual(["blob:1"]);
  });

  it("aborts a load evicted before it finishes and never makes its URL", async () => {
    const { cache, revoked, load } = harness(1);
    const pending = cache.get("a", load("a"));
    void cache.get("b", load("b"));
    await expect(pending).rejects.toThrow(/abort/i);
    expect(revoked).toEqual([]);
    expect(cache.has("a")).toBe(false);
  });

  it("forgets a failed load so the next call tries again", async () => {
    const { cache } = harness(2);
    await expect(cache.get("x", () => Promise.reject(new Error("offline")))).rejects.toThrow("offline");
    expect(cache.has("x")).toBe(false);
    expect(await cache.get("x", () => Promise.resolve(new Blob(["x"])))).toBe("blob:1");
  });

  it("revokes everything when cleared", async () => {
    const { cache, revoked, load } = harness(4);
    await cache.get("a", load("a"));
    await cache.get("b", load("b"));
    cache.clear();
    expect(revoked.sort()).toEqual(["blob:1", "blob:2"]);
    expect(cache.size).toBe(0);
  });
});
