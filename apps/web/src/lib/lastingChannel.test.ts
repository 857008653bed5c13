import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api.ts";
import { type Channel, LastingChannel, type LinkState } from "./lastingChannel.ts";

/** A channel that answers every request with its own name, and can be broken. */
class FakeChannel implements Channel {
  private readonly handlers = new Set<(error: Error) => void>();
  closed = false;
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  fetch = (url: string) => Promise.resolve(new Response(`${this.name} ${url}`));
  upload = (url: string, body: Blob) => Promise.resolve(new Response(`${this.name} ${url} ${body.size}`));

  onClosed(handler: (error: Error) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  close(): void {
    this.closed = true;
  }

  breakDown(): void {
    for (const handler of this.handlers) handler(new ApiError(0, "network", "The connection to the node was lost."));
  }
}

/** `open()` hands out the queued results in order: a channel, or an error. */
function opener(results: (FakeChannel | Error)[]) {
  const calls = { count: 0 };
  const open = () => {
    calls.count += 1;
    const next = results.shift();
    if (!next) return Promise.reject(new Error("no more channels"));
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return { open, calls };
}

const text = async (response: Response) => response.text();

describe("LastingChannel", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends over the open channel", async () => {
    const { open } = opener([new FakeChannel("one")]);
    const lasting = await LastingChannel.start({ open });
    expect(await text(await lasting.fetch("/v1/albums"))).toBe("one /v1/albums");
    expect(await text(await lasting.upload("/v1/blobs/x", new Blob(["abc"])))).toBe("one /v1/blobs/x 3");
  });

  it("fails at start when the first channel cannot be opened", async () => {
    const { open } = opener([new Error("no path")]);
    await expect(LastingChannel.start({ open })).rejects.toThrow("no path");
  });

  it("reconnects with backoff after a loss; requests made meanwhile wait for the new channel", async () => {
    const first = new FakeChannel("one");
    const { open, calls } = opener([first, new Error("node offline"), new Error("no path"), new FakeChannel("two")]);
    const states: LinkState<FakeChannel>[] = [];
    const lasting = await LastingChannel.start({ open, onState: (state) => states.push(state) });

    first.breakDown();
    const waiting = lasting.fetch("/v1/albums");
    expect(states.at(-1)).toMatchObject({ status: "reconnecting", attempt: 1, retryInMs: 1000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(calls.count).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(states.at(-1)).toMatchObject({ status: "reconnecting", attempt: 2, retryInMs: 2000 });
    expect((states.at(-1) as { error: Error }).error.message).toBe("node offline");
    await vi.advanceTimersByTimeAsync(2000);
    expect(states.at(-1)).toMatchObject({ status: "reconnecting", attempt: 3, retryInMs: 4000 });
    await vi.advanceTimersByTimeAsync(4000);
    expect(calls.count).toBe(4);
    expect(states.at(-1)).toMatchObject({ status: "open" });
    expect(await text(await waiting)).toBe("two /v1/albums");
    expect(await text(await lasting.fetch("/v1/members"))).toBe("two /v1/members");
  });

  it("ignores a loss of a channel it no longer uses, and a second report of the same loss", async () => {
    const first = new FakeChannel("one");
    const second = new FakeChannel("two");
    const { open, calls } = opener([first, second]);
    const lasting = await LastingChannel.start({ open });
    first.breakDown();
    first.breakDown();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.count).toBe(2);
    first.breakDown();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.count).toBe(2);
    expect(await text(await lasting.fetch("/v1/albums"))).toBe("two /v1/albums");
  });

  it("fails a waiting request after waitMs, or when it is aborted", async () => {
    const first = new FakeChannel("one");
    const { open } = opener([first]);
    const lasting = await LastingChannel.start({ open, waitMs: 5000, backoffMs: () => 60_000 });
    first.breakDown();
    const late = lasting.fetch("/v1/albums");
    const assertion = expect(late).rejects.toMatchObject({ code: "network" });
    await vi.advanceTimersByTimeAsync(5000);
    await assertion;

    const controller = new AbortController();
    const cancelled = lasting.fetch("/v1/albums", { signal: controller.signal });
    controller.abort();
    await expect(cancelled).rejects.toMatchObject({ code: "aborted" });
  });

  it("close stops reconnecting, closes the channel and fails what waits", async () => {
    const first = new FakeChannel("one");
    const { open, calls } = opener([first, new FakeChannel("two")]);
    const lasting = await LastingChannel.start({ open });
    first.breakDown();
    const waiting = lasting.fetch("/v1/albums");
    lasting.close();
    await expect(waiting).rejects.toMatchObject({ code: "aborted" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.count).toBe(1);
    await expect(lasting.fetch("/v1/albums")).rejects.toMatchObject({ code: "aborted" });
  });

  it("close closes the open channel", async () => {
    const first = new FakeChannel("one");
    const lasting = await LastingChannel.start({ open: opener([first]).open });
    lasting.close();
    expect(first.closed).toBe(true);
  });

  it("closes a channel that opens after close", async () => {
    const first = new FakeChannel("one");
    const late = new FakeChannel("late");
    let release: (channel: FakeChannel) => void = () => undefined;
    const results: Promise<FakeChannel>[] = [
      Promise.resolve(first),
      new Promise<FakeChannel>((resolve) => (release = resolve)),
    ];
    const lasting = await LastingChannel.start({ open: () => results.shift() ?? Promise.reject(new Error("none")) });
    first.breakDown();
    await vi.advanceTimersByTimeAsync(1000);
    lasting.close();
    release(late);
    await vi.advanceTimersByTimeAsync(0);
    expect(late.closed).toBe(true);
  });
});
