// The gallery protocol between in-memory peers with a virtual clock: frames go straight from one
// core to another, and "serve" outputs are streamed at once (unless a peer is told to stall).
import { createBLAKE3 } from "hash-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { type CoreOutput, dataFrames, GalleryCore, type GalleryEvent, type PullFailure } from "./galleryCore.ts";
import { encodeFrame, type GalleryLimits } from "./galleryWire.ts";

let hash: (bytes: Uint8Array) => string;

beforeAll(async () => {
  const hasher = await createBLAKE3(256);
  hash = (bytes) => {
    hasher.init();
    hasher.update(bytes);
    return hasher.digest("hex");
  };
});

const THUMB = new Uint8Array([0xff, 0xd8, 0xff, 0xe0]);

function image(seed: number, size = 200_000) {
  const bytes = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return { id: hash(bytes), bytes, type: "image/png", thumb: THUMB };
}

/** Peers connected pairwise by perfect in-memory channels. */
class Net {
  now = 0;
  readonly cores = new Map<string, GalleryCore>();
  readonly events: { at: string; event: GalleryEvent }[] = [];
  readonly closed: { by: string; peer: string; reason: string }[] = [];
  /** Peers that accept requests but never send the bytes. */
  readonly stalling = new Set<string>();
  /** Peers that hear nothing (a hand-driven, modified peer: the test injects what it says). */
  readonly deaf = new Set<string>();
  /** Peers whose served bytes are corrupted on the way. */
  readonly lying = new Set<string>();
  private readonly links = new Set<string>();
  private readonly queue: { from: string; to: string; frame: Uint8Array }[] = [];

  add(name: string, limits: Partial<GalleryLimits> = {}): GalleryCore {
    const core = new GalleryCore({ nick: name, tag: `tag-${name}`, hash, limits });
    this.cores.set(name, core);
    return core;
  }

  core(name: string): GalleryCore {
    const core = this.cores.get(name);
    if (!core) throw new Error(`no peer ${name}`);
    return core;
  }

  connect(a: string, b: string): void {
    this.links.add(key(a, b));
    this.core(a).channelOpened(b, this.now);
    this.core(b).channelOpened(a, this.now);
    this.run();
  }

  /** `name` leaves: every channel to it closes. */
  leave(name: string): void {
    for (const other of this.cores.keys()) {
      if (this.links.delete(key(name, other))) this.core(other).channelClosed(name, this.now);
    }
    this.cores.delete(name);
    this.run();
  }

  linked(a: string, b: string): boolean {
    return this.links.has(key(a, b));
  }

  /** Delivers a raw frame from `from` to `to`, as a modified peer would send it. */
  inject(from: string, to: string, frame: Uint8Array): void {
    this.queue.push({ from, to, frame });
    this.run();
  }

  advance(ms: number): void {
    this.now += ms;
    for (const core of this.cores.values()) core.tick(this.now);
    this.run();
  }

  /** Carries out every output until nothing moves. */
  run(): void {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      let moved = false;
      for (const [name, core] of this.cores) {
        for (const output of core.drain()) {
          moved = true;
          this.carry(name, output);
        }
      }
      const next = this.queue.shift();
      if (next) {
        moved = true;
        if (this.linked(next.from, next.to) && !this.deaf.has(next.to))
          this.cores.get(next.to)?.receive(next.from, next.frame, this.now);
      }
      if (!moved) return;
    }
    throw new Error("the network never settled");
  }

  eventsOf(name: string): GalleryEvent[] {
    return this.events.filter((e) => e.at === name).map((e) => e.event);
  }

  private carry(from: string, output: CoreOutput): void {
    switch (output.kind) {
      case "send":
        this.queue.push({ from, to: output.peer, frame: output.frame });
        return;
      case "serve": {
        if (this.stalling.has(from)) return;
        const bytes = this.lying.has(from) ? output.bytes.map((b, i) => (i === 0 ? b ^ 1 : b)) : output.bytes;
        for (const frame of dataFrames(output.req, bytes)) this.queue.push({ from, to: output.peer, frame });
        this.core(from).serveFinished(output.peer, output.req);
        return;
      }
      case "unserve":
        // Streaming is instant here, so there is nothing left to stop; drop what is still queued.
        return;
      case "close":
        this.closed.push({ by: from, peer: output.peer, reason: output.reason });
        if (this.links.delete(key(from, output.peer))) this.cores.get(output.peer)?.channelClosed(from, this.now);
        return;
      case "event":
        this.events.push({ at: from, event: output.event });
        return;
    }
  }
}

const haveOf = (img: ReturnType<typeof image>) =>
  ({ kind: "have", id: img.id, size: img.bytes.length, type: img.type, thumb: img.thumb }) as const;

const key = (a: string, b: string) => [a, b].sort().join("|");

function itemOf(core: GalleryCore, id: string) {
  return core.items().find((item) => item.id === id);
}

function failures(net: Net, name: string): PullFailure[] {
  return net.eventsOf(name).flatMap((e) => (e.type === "pull_failed" ? [e.reason] : []));
}

describe("a gallery of three", () => {
  it("oak adds three, birch pulls one, the image outlives oak, and is gone when its last holder leaves", () => {
    const net = new Net();
    const oak = net.add("oak");
    const birch = net.add("birch");
    const cedar = net.add("cedar");
    net.connect("oak", "birch");
    net.connect("oak", "cedar");
    net.connect("birch", "cedar");
    const images = [image(1), image(2), image(3)];
    for (const img of images) expect(oak.add(img, net.now)).toBe(true);
    net.run();

    // Birch and Cedar see the three thumbnails, held by one peer each; nobody sent any image bytes.
    for (const core of [birch, cedar]) {
      const items = core.items();
      expect(items.map((i) => i.id)).toEqual(images.map((i) => i.id));
      expect(items.every((i) => i.held === undefined && i.holders === 1 && i.holderNames[0] === "oak")).toBe(true);
      expect(core.heldSummary()).toEqual({ count: 0, bytes: 0 });
    }
    const [first] = images;
    if (!first) throw new Error("no image");

    birch.pull(first.id, net.now);
    net.run();
    expect(birch.image(first.id)?.bytes).toEqual(first.bytes);
    expect(itemOf(birch, first.id)?.held).toBe("pulled");
    expect(net.eventsOf("birch")).toContainEqual({ type: "pulled", id: first.id, from: "oak" });
    expect(itemOf(cedar, first.id)?.holders).toBe(2);
    expect(cedar.heldSummary().count).toBe(0);

    net.leave("oak");
    // Only what Birch pulled is left; the two others had no other holder.
    expect(cedar.items().map((i) => i.id)).toEqual([first.id]);
    expect(itemOf(cedar, first.id)?.holderNames).toEqual(["birch"]);

    cedar.pull(first.id, net.now);
    net.run();
    expect(cedar.image(first.id)?.bytes).toEqual(first.bytes);
    expect(net.eventsOf("cedar")).toContainEqual({ type: "pulled", id: first.id, from: "birch" });

    net.leave("birch");
    // Cedar is now the last holder: a newcomer sees the image from Cedar only, and none of the others.
    const dahlia = net.add("dahlia");
    net.connect("cedar", "dahlia");
    expect(dahlia.items().map((i) => [i.id, i.holders])).toEqual([[first.id, 1]]);

    cedar.burn(first.id, net.now);
    net.run();
    expect(cedar.items()).toEqual([]);
    expect(dahlia.items()).toEqual([]);
    dahlia.pull(first.id, net.now);
    net.run();
    expect(failures(net, "dahlia")).toEqual(["no_holder"]);

    // Everyone leaves: a newcomer finds an empty gallery.
    net.leave("cedar");
    net.leave("dahlia");
    const elm = net.add("elm");
    expect(elm.items()).toEqual([]);
    expect(net.closed).toEqual([]);
  });
});

describe("pull only", () => {
  it("closes the channel of a peer that pushes data nobody asked for, and keeps none of it", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    net.add("mallory");
    net.connect("cedar", "mallory");
    net.inject("mallory", "cedar", encodeFrame({ kind: "data", req: 1, bytes: new Uint8Array(1000).fill(7) }));
    expect(net.closed).toEqual([{ by: "cedar", peer: "mallory", reason: "sent data nobody asked for" }]);
    expect(net.linked("cedar", "mallory")).toBe(false);
    expect(cedar.heldSummary()).toEqual({ count: 0, bytes: 0 });
    expect(net.eventsOf("cedar")).toContainEqual({
      type: "violation",
      peer: "mallory",
      nick: "mallory",
      reason: "sent data nobody asked for",
    });
  });

  it("closes a peer that answers a request nobody made, or speaks before hello", () => {
    const net = new Net();
    net.add("cedar");
    net.add("mallory");
    net.connect("cedar", "mallory");
    net.inject("mallory", "cedar", encodeFrame({ kind: "head", req: 5, size: 10 }));
    expect(net.closed.map((c) => c.reason)).toEqual(["answered a request nobody made"]);

    const quiet = new GalleryCore({ nick: "q", tag: "q", hash });
    quiet.channelOpened("x", 0);
    quiet.drain();
    quiet.receive("x", encodeFrame({ kind: "gone", id: "ab".repeat(32) }), 0);
    expect(quiet.drain().find((o) => o.kind === "close")).toMatchObject({ reason: "spoke before saying hello" });
  });

  it("closes a peer that sends more than the size it announced, or another size", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    net.add("mallory");
    net.deaf.add("mallory");
    net.connect("cedar", "mallory");
    const img = image(4, 1000);
    net.inject("mallory", "cedar", encodeFrame(haveOf(img)));
    cedar.pull(img.id, net.now);
    net.run(); // cedar asked mallory with request 1
    net.inject("mallory", "cedar", encodeFrame({ kind: "head", req: 1, size: 2000 }));
    expect(net.closed.at(-1)?.reason).toBe("announced 1000 bytes but sent 2000");
    expect(failures(net, "cedar")).toEqual(["no_holder"]);

    const net2 = new Net();
    const birch = net2.add("birch");
    net2.add("mallory");
    net2.deaf.add("mallory");
    net2.connect("birch", "mallory");
    net2.inject("mallory", "birch", encodeFrame(haveOf(img)));
    birch.pull(img.id, net2.now);
    net2.run();
    net2.inject("mallory", "birch", encodeFrame({ kind: "head", req: 1, size: 1000 }));
    net2.inject("mallory", "birch", encodeFrame({ kind: "data", req: 1, bytes: new Uint8Array(1001) }));
    expect(net2.closed.at(-1)?.reason).toBe("sent more bytes than the image has");
    expect(birch.heldSummary().count).toBe(0);
  });

  it("drops bytes that do not hash to the id, closes the liar and pulls from an honest holder", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const liar = net.add("liar");
    const honest = net.add("honest");
    const img = image(5, 150_000);
    liar.add(img, 0);
    honest.add(img, 0);
    net.lying.add("liar");
    net.connect("cedar", "liar");
    net.connect("cedar", "honest");
    net.connect("liar", "honest");
    expect(itemOf(cedar, img.id)?.holders).toBe(2);
    cedar.pull(img.id, net.now); // both have no load: the first holder, the liar, is asked first
    net.run();
    expect(net.closed).toEqual([{ by: "cedar", peer: "liar", reason: "sent bytes that do not match the image id" }]);
    expect(cedar.image(img.id)?.bytes).toEqual(img.bytes);
    expect(net.eventsOf("cedar")).toContainEqual({ type: "pulled", id: img.id, from: "honest" });
  });

  it("drops late bytes of a request it cancelled without closing anyone", () => {
    const net = new Net();
    const cedar = net.add("cedar", { stallMs: 1000 });
    const slow = net.add("slow");
    const img = image(6, 1000);
    slow.add(img, 0);
    net.stalling.add("slow");
    net.connect("cedar", "slow");
    cedar.pull(img.id, net.now);
    net.run();
    net.advance(1000); // stalled: cancelled, no other holder
    expect(failures(net, "cedar")).toEqual(["stalled"]);
    // The slow holder's bytes for request 1 arrive after all: dropped quietly.
    net.inject("slow", "cedar", encodeFrame({ kind: "head", req: 1, size: 1000 }));
    net.inject("slow", "cedar", encodeFrame({ kind: "data", req: 1, bytes: img.bytes }));
    expect(net.closed).toEqual([]);
    expect(cedar.heldSummary().count).toBe(0);
  });
});

describe("stalls and holders leaving", () => {
  it("retries a stalled pull from another holder after 15 s without progress", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const slow = net.add("slow");
    const fast = net.add("fast");
    const img = image(7);
    slow.add(img, 0);
    net.connect("cedar", "slow");
    fast.add(img, 0);
    net.connect("cedar", "fast");
    net.stalling.add("slow");
    cedar.pull(img.id, net.now);
    net.run();
    expect(itemOf(cedar, img.id)?.pull).toMatchObject({ from: "slow", attempt: 1, received: 0 });
    net.advance(14_999);
    expect(itemOf(cedar, img.id)?.pull?.from).toBe("slow");
    net.advance(1);
    expect(cedar.image(img.id)?.bytes).toEqual(img.bytes);
    expect(net.eventsOf("cedar")).toContainEqual({ type: "pulled", id: img.id, from: "fast" });
    expect(failures(net, "cedar")).toEqual([]);
    expect(net.closed).toEqual([]);
  });

  it("fails with 'stalled' when the only holder stalls, and succeeds when asked again", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const slow = net.add("slow");
    const img = image(8, 5000);
    slow.add(img, 0);
    net.connect("cedar", "slow");
    net.stalling.add("slow");
    cedar.pull(img.id, net.now);
    net.run();
    net.advance(15_000);
    expect(failures(net, "cedar")).toEqual(["stalled"]);
    expect(itemOf(cedar, img.id)?.error).toBe("stalled");
    net.stalling.delete("slow");
    cedar.pull(img.id, net.now);
    net.run();
    expect(cedar.image(img.id)?.bytes).toEqual(img.bytes);
    expect(itemOf(cedar, img.id)?.error).toBeUndefined();
  });

  it("moves a pull to another holder when its holder leaves mid-transfer", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const a = net.add("a");
    const b = net.add("b");
    const img = image(9);
    a.add(img, 0);
    b.add(img, 0);
    net.connect("cedar", "a");
    net.connect("cedar", "b");
    net.stalling.add("a");
    cedar.pull(img.id, net.now);
    net.run();
    expect(itemOf(cedar, img.id)?.pull?.from).toBe("a");
    net.leave("a");
    expect(cedar.image(img.id)?.bytes).toEqual(img.bytes);
  });

  it("says 'no holder left' when the last holder leaves mid-transfer", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const a = net.add("a");
    const img = image(10);
    a.add(img, 0);
    net.connect("cedar", "a");
    net.stalling.add("a");
    cedar.pull(img.id, net.now);
    net.run();
    net.leave("a");
    expect(failures(net, "cedar")).toEqual(["no_holder"]);
    expect(cedar.items()).toEqual([]);
  });
});

describe("flood throttling", () => {
  it("denies requests beyond the rate, then closes a peer that keeps flooding", () => {
    const net = new Net();
    const oak = net.add("oak", { wantRate: 2, wantBurst: 4, maxDenialsInARow: 10, maxServesPerPeer: 100 });
    net.add("flood");
    const img = image(11, 100);
    oak.add(img, 0);
    net.connect("oak", "flood");
    const answers: string[] = [];
    const want = (req: number) => {
      oak.receive("flood", encodeFrame({ kind: "want", req, id: img.id }), net.now);
      for (const out of oak.drain()) {
        if (out.kind === "serve") {
          answers.push("served");
          oak.serveFinished("flood", out.req);
        } else if (out.kind === "send" && out.frame[0] === 7) {
          answers.push(`deny ${new TextDecoder().decode(out.frame.subarray(5))}`);
        } else if (out.kind === "close") {
          answers.push(`close: ${out.reason}`);
        }
      }
    };
    for (let req = 1; req <= 6; req++) want(req);
    expect(answers).toEqual([
      "served",
      "served",
      "served",
      "served",
      'deny {"reason":"throttled"}',
      'deny {"reason":"throttled"}',
    ]);
    // A well-behaved pace is served again.
    net.now += 500;
    want(7);
    expect(answers.at(-1)).toBe("served");
    answers.length = 0;
    for (let req = 8; req < 30; req++) want(req);
    expect(answers.filter((a) => a.startsWith("deny"))).toHaveLength(9);
    expect(answers.at(-1)).toBe("close: flooded this browser with requests");
    expect(oak.peerViews()).toEqual([]);
  });

  it("denies 'busy' beyond the transfers it serves to one peer at a time", () => {
    const oak = new GalleryCore({ nick: "oak", tag: "o", hash, limits: { maxServesPerPeer: 2 } });
    const img = image(12, 100);
    oak.add(img, 0);
    oak.channelOpened("p", 0);
    oak.receive("p", encodeFrame({ kind: "hello", nick: "p", tag: "p" }), 0);
    oak.drain();
    const kinds: string[] = [];
    for (let req = 1; req <= 3; req++) {
      oak.receive("p", encodeFrame({ kind: "want", req, id: img.id }), 0);
      for (const out of oak.drain())
        if (out.kind === "serve" || out.kind === "send")
          kinds.push(out.kind === "serve" ? "serve" : String(out.frame[0]));
    }
    expect(kinds).toEqual(["5", "serve", "5", "serve", "7"]);
    // A cancel frees a slot.
    oak.receive("p", encodeFrame({ kind: "cancel", req: 1 }), 0);
    expect(oak.drain()).toEqual([{ kind: "unserve", peer: "p", req: 1 }]);
    oak.receive("p", encodeFrame({ kind: "want", req: 4, id: img.id }), 0);
    expect(oak.drain().some((o) => o.kind === "serve")).toBe(true);
  });

  it("closes a peer that floods announcements", () => {
    const oak = new GalleryCore({ nick: "oak", tag: "o", hash, limits: { controlRate: 1, controlBurst: 5 } });
    oak.channelOpened("p", 0);
    oak.drain();
    oak.receive("p", encodeFrame({ kind: "hello", nick: "p", tag: "p" }), 0);
    for (let i = 0; i < 4; i++) oak.receive("p", encodeFrame({ kind: "gone", id: "ab".repeat(32) }), 0);
    expect(oak.drain()).toEqual([]);
    oak.receive("p", encodeFrame({ kind: "gone", id: "ab".repeat(32) }), 0);
    expect(oak.drain()[0]).toEqual({ kind: "close", peer: "p", reason: "flooded the channel with messages" });
  });

  it("remembers at most maxAnnouncedPerPeer images of a peer", () => {
    const oak = new GalleryCore({ nick: "oak", tag: "o", hash, limits: { maxAnnouncedPerPeer: 3 } });
    oak.channelOpened("p", 0);
    oak.receive("p", encodeFrame({ kind: "hello", nick: "p", tag: "p" }), 0);
    for (let i = 0; i < 5; i++) {
      const id = i.toString(16).padStart(64, "0");
      oak.receive("p", encodeFrame({ kind: "have", id, size: 10, type: "image/png", thumb: THUMB }), 0);
    }
    expect(oak.items()).toHaveLength(3);
  });
});

describe("burn", () => {
  it("is local: the burner's copy and view go, others keep theirs and only hear 'gone'", () => {
    const net = new Net();
    const oak = net.add("oak");
    const birch = net.add("birch");
    const img = image(13);
    oak.add(img, 0);
    net.connect("oak", "birch");
    birch.pull(img.id, net.now);
    net.run();
    birch.burn(img.id, net.now);
    net.run();
    // Birch no longer holds it, nor sees it, though Oak still offers it.
    expect(birch.image(img.id)).toBeUndefined();
    expect(birch.items()).toEqual([]);
    expect(oak.image(img.id)?.bytes).toEqual(img.bytes);
    expect(itemOf(oak, img.id)).toMatchObject({ held: "yours", holders: 0 });
    // Adding it again brings it back.
    expect(birch.add(img, net.now)).toBe(true);
    net.run();
    expect(itemOf(oak, img.id)?.holders).toBe(1);
  });

  it("burning while serving tells the puller, who moves on to another holder", () => {
    const net = new Net();
    const cedar = net.add("cedar");
    const a = net.add("a");
    const b = net.add("b");
    const img = image(14);
    a.add(img, 0);
    b.add(img, 0);
    net.connect("cedar", "a");
    net.connect("cedar", "b");
    net.stalling.add("a");
    cedar.pull(img.id, net.now);
    net.run();
    expect(itemOf(cedar, img.id)?.pull?.from).toBe("a");
    a.burn(img.id, net.now);
    net.run();
    expect(cedar.image(img.id)?.bytes).toEqual(img.bytes);
    expect(net.eventsOf("cedar")).toContainEqual({ type: "pulled", id: img.id, from: "b" });
  });

  it("refuses to add the same image twice", () => {
    const oak = new GalleryCore({ nick: "oak", tag: "o", hash });
    const img = image(15, 10);
    expect(oak.add(img, 0)).toBe(true);
    expect(oak.add(img, 0)).toBe(false);
  });
});
