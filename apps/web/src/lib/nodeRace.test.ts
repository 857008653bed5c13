import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChannelError } from "./nodeChannel.ts";
import { DIRECT_GRACE_MS, openFirstNode } from "./nodeRace.ts";

interface Fake {
  node: string;
  direct: boolean;
  closed: boolean;
}

/** Each node opens after `ms` on a direct or relayed path, or fails with `error` after `ms`. */
type Plan = Record<string, { ms: number; direct?: boolean; error?: Error }>;

function race(plan: Plan, nodes = Object.keys(plan)) {
  const opened: Fake[] = [];
  const result = openFirstNode<Fake>({
    nodes,
    open: (node) =>
      new Promise((resolve, reject) => {
        const step = plan[node];
        if (!step) throw new Error(`no plan for ${node}`);
        setTimeout(() => {
          if (step.error) reject(step.error);
          else {
            const fake = { node, direct: step.direct ?? true, closed: false };
            opened.push(fake);
            resolve(fake);
          }
        }, step.ms);
      }),
    isDirect: (channel) => Promise.resolve(channel.direct),
    close: (channel) => {
      channel.closed = true;
    },
  });
  return { result, opened };
}

const offline = () => new ChannelError("node_offline", "The node is not connected to the hub: it is off, or offline.");

describe("openFirstNode", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("takes the first node that answers directly and closes the ones that answer later", async () => {
    const { result, opened } = race({ oak: { ms: 300 }, pine: { ms: 100 } });
    await vi.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toMatchObject({ node: "pine" });
    await vi.advanceTimersByTimeAsync(300);
    expect(opened.map((c) => [c.node, c.closed])).toEqual([
      ["pine", false],
      ["oak", true],
    ]);
  });

  it("prefers a direct path that opens within the grace over an earlier relayed one", async () => {
    const { result, opened } = race({ oak: { ms: 100, direct: false }, pine: { ms: 100 + DIRECT_GRACE_MS - 10 } });
    await vi.advanceTimersByTimeAsync(100 + DIRECT_GRACE_MS);
    await expect(result).resolves.toMatchObject({ node: "pine" });
    expect(opened.find((c) => c.node === "oak")?.closed).toBe(true);
  });

  it("settles for the relay when no direct path opens within the grace", async () => {
    const { result, opened } = race({ oak: { ms: 100, direct: false }, pine: { ms: 100 + DIRECT_GRACE_MS + 500 } });
    await vi.advanceTimersByTimeAsync(100 + DIRECT_GRACE_MS);
    await expect(result).resolves.toMatchObject({ node: "oak" });
    await vi.advanceTimersByTimeAsync(500);
    expect(opened.find((c) => c.node === "pine")?.closed).toBe(true);
    expect(opened.find((c) => c.node === "oak")?.closed).toBe(false);
  });

  it("takes the relay at once when every other node has failed", async () => {
    const { result } = race({ oak: { ms: 50, error: offline() }, pine: { ms: 100, direct: false } });
    let done = false;
    void result.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBe(true);
    await expect(result).resolves.toMatchObject({ node: "pine" });
  });

  it("goes on with the nodes that answer when one is gone (the failover case)", async () => {
    const { result } = race({ oak: { ms: 10, error: offline() }, pine: { ms: 200 } });
    await vi.advanceTimersByTimeAsync(200);
    await expect(result).resolves.toMatchObject({ node: "pine" });
  });

  it("says the most telling reason when every node fails", async () => {
    const notMember = new ChannelError("not_a_member", "This identity is not a member of the family on that node.");
    const { result } = race({ oak: { ms: 10, error: offline() }, pine: { ms: 20, error: notMember } });
    const caught = result.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(20);
    const error = await caught;
    expect(error).toBeInstanceOf(ChannelError);
    expect((error as ChannelError).kind).toBe("not_a_member");
    expect((error as Error).message).toBe(
      "None of the family's 2 nodes could be reached. This identity is not a member of the family on that node.",
    );
  });

  it("passes one node's error on unchanged", async () => {
    const error = offline();
    const { result } = race({ oak: { ms: 10, error } });
    const caught = result.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    expect(await caught).toBe(error);
  });

  it("refuses a link that names no node", async () => {
    await expect(race({}, []).result).rejects.toThrow("The link names no node.");
  });
});
