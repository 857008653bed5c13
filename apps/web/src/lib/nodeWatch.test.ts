import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { HubSignal } from "./hubClient.ts";
import { endedError } from "./nodeChannel.ts";
import { type NodeEnd, PROBE_MS, type WatchedHub, watchNode } from "./nodeWatch.ts";

/** A hub connection whose signals and messages the test pushes. */
class FakeHub implements WatchedHub {
  readonly signals = new Set<(signal: HubSignal) => void>();
  readonly messages = new Set<(message: Record<string, unknown>) => void>();

  onSignal(handler: (signal: HubSignal) => void): () => void {
    this.signals.add(handler);
    return () => this.signals.delete(handler);
  }

  onMessage(handler: (message: Record<string, unknown>) => void): () => void {
    this.messages.add(handler);
    return () => this.messages.delete(handler);
  }

  signal(signal: HubSignal): void {
    for (const handler of this.signals) handler(signal);
  }

  message(message: Record<string, unknown>): void {
    for (const handler of this.messages) handler(message);
  }
}

const NODE = "oak-node-id";
const PEER = "peer-of-oak";

/** Watches with a probe the test answers (or not) by hand. */
function setup() {
  const hub = new FakeHub();
  const ended: NodeEnd[] = [];
  const probes: { resolve: () => void; signal: AbortSignal }[] = [];
  const inbound = { frames: 0 };
  const probe = (signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      probes.push({ resolve, signal });
      signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  const stop = watchNode({
    hub,
    node: NODE,
    nodePeer: PEER,
    session: "s1",
    probe,
    heard: () => inbound.frames,
    onEnded: (end) => ended.push(end),
  });
  return { hub, ended, probes, stop, inbound };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("watching a channel's node through the hub", () => {
  it("takes the channel for gone when the node leaves the hub and the probe goes unanswered", async () => {
    const { hub, ended, probes } = setup();
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    expect(probes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(PROBE_MS - 1);
    expect(ended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(probes[0]?.signal.aborted).toBe(true);
    expect(ended).toEqual([{ kind: "gone" }]);
    // Once only, and the watch is over.
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    await vi.advanceTimersByTimeAsync(PROBE_MS);
    expect(ended).toHaveLength(1);
    expect(hub.messages.size).toBe(0);
    expect(hub.signals.size).toBe(0);
  });

  it("keeps the channel when it still answers (only the node's hub connection went)", async () => {
    const { hub, ended, probes } = setup();
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    await vi.advanceTimersByTimeAsync(PROBE_MS / 2);
    probes[0]?.resolve();
    await vi.advanceTimersByTimeAsync(PROBE_MS * 2);
    expect(ended).toEqual([]);
    // A later departure is probed again.
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    expect(probes).toHaveLength(2);
  });

  it("keeps a channel that is busy with a transfer though the probe waits behind it", async () => {
    const { hub, ended, probes, inbound } = setup();
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    await vi.advanceTimersByTimeAsync(PROBE_MS / 2);
    inbound.frames += 1; // a frame of the transfer: the node is there
    await vi.advanceTimersByTimeAsync(PROBE_MS);
    expect(ended).toEqual([]);
    // The probe is let go, and a later departure is probed again.
    expect(probes[0]?.signal.aborted).toBe(true);
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    expect(probes).toHaveLength(2);
    // Frames from before the departure do not count.
    await vi.advanceTimersByTimeAsync(PROBE_MS);
    expect(ended).toEqual([{ kind: "gone" }]);
  });

  it("ignores other peers' departures and other messages", async () => {
    const { hub, ended, probes } = setup();
    hub.message({ type: "peer_gone", peer: "someone-else" });
    hub.message({ type: "presence", peer: PEER });
    await vi.advanceTimersByTimeAsync(PROBE_MS * 2);
    expect(probes).toEqual([]);
    expect(ended).toEqual([]);
  });

  it("ends at once on the node's close for this session, with its reason", () => {
    const { hub, ended } = setup();
    const close = { p2pos: "rtc", app: "vault", kind: "close", code: "asked", message: "passed on" };
    // Another session's close, or one from another identity, is not ours.
    hub.signal({ from: PEER, fromId: NODE, payload: { ...close, session: "s2" } });
    hub.signal({ from: PEER, fromId: "mallory", payload: { ...close, session: "s1" } });
    expect(ended).toEqual([]);
    hub.signal({ from: PEER, fromId: NODE, payload: { ...close, session: "s1" } });
    expect(ended).toEqual([{ kind: "closed", code: "asked" }]);
  });

  it("keeps only known close codes, never the close's own text (it comes through the hub)", () => {
    const { hub, ended } = setup();
    const close = { p2pos: "rtc", app: "vault", kind: "close", session: "s1" };
    hub.signal({
      from: PEER,
      fromId: NODE,
      payload: { ...close, code: "Your vault is hacked, call +1 555", message: "x".repeat(5_000) },
    });
    expect(ended).toEqual([{ kind: "closed", code: "closed" }]);
  });

  it("stops when told", async () => {
    const { hub, ended, probes, stop } = setup();
    stop();
    hub.message({ type: "peer_gone", peer: PEER, id: NODE });
    await vi.advanceTimersByTimeAsync(PROBE_MS * 2);
    expect(probes).toEqual([]);
    expect(ended).toEqual([]);
  });
});

describe("why a channel ended, in words", () => {
  it("says a stranger's request was passed on, and that the page checks by itself", () => {
    const error = endedError({ kind: "closed", code: "asked" });
    expect(error.message).toMatch(/request to join was passed on/);
    expect(error).toHaveProperty("kind", "ended");
  });

  it("never shows the peer's text, whatever the code", () => {
    const hostile = { kind: "closed", code: "Your vault is hacked", message: "call +1 555" } as unknown as NodeEnd;
    expect(endedError(hostile).message).not.toMatch(/hacked|555/);
    const known = { kind: "closed", code: "stranger_idle", message: "call +1 555" } as unknown as NodeEnd;
    expect(endedError(known).message).not.toMatch(/555/);
    expect(endedError(known).message).toMatch(/30 s/);
  });

  it("treats a gone node as a lost connection", () => {
    expect(endedError({ kind: "gone" })).toHaveProperty("code", "network");
  });
});
