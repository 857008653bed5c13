// Two chat sessions driven back to back in virtual time: signals go through a "hub" (as JSON
// payloads, which may be tampered with), WebRTC is a pair of fake SDPs with fingerprints, and a
// "channel" carries the frames once both descriptions were applied. The twin of
// `crates/p2pos-core/src/chat/tests.rs`.
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { toHex } from "../lib/bytes.ts";
import { importSigningKey } from "../lib/keys.ts";
import { encodeReadableId } from "../lib/readableId.ts";
import { deriveSecret, nearbyTag, nearbyTags, NEARBY_TAGS, rvName, rvNamesAt, SLOT_MS, slotOf } from "./crypto.ts";
import {
  ChatSession,
  DEFAULT_TIMING,
  PAUSE_AFTER_MS,
  ANNOUNCE_MS,
  Rendezvous,
  type ChatEvent,
  type ChatOutput,
  type Contact,
  type Me,
  type RvOutput,
} from "./machine.ts";
import {
  FRAME_CHUNK,
  FRAME_END,
  MAX_TEXT,
  parseSignal,
  signalPayload,
  type Signal,
  type SignalKind,
} from "./protocol.ts";

const ANN_PEER = "peer-ann";
const BEN_PEER = "peer-ben";
const T0 = 1_767_225_600_000; // 2026-01-01T00:00Z
const RQ = "AAAAAAAAAAAAAAAAAAAAAA";
const MSG_ID = "MDEyMzQ1Njc4OWFiY2RlZg";

const seedOf = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const idOf = (n: number): string => encodeReadableId(ed25519.getPublicKey(seedOf(n)));

async function me(n: number, name: string): Promise<Me> {
  return { id: idOf(n), name, signingKey: await importSigningKey(seedOf(n)) };
}

function contact(n: number, name: string, secret: number): Contact {
  return { id: idOf(n), name, secret: new Uint8Array(32).fill(secret) };
}

function sdp(n: number): string {
  const hex = n.toString(16).padStart(2, "0");
  return `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 ${Array(32).fill(hex).join(":")}\r\n`;
}

interface Side {
  events: ChatEvent[];
  signals: SignalKind[];
  texts: string[];
  added: unknown[];
  closedRtc: boolean;
}

const side = (): Side => ({ events: [], signals: [], texts: [], added: [], closedRtc: false });

class Pair {
  now = T0;
  b: ChatSession | undefined;
  readonly sa = side();
  readonly sb = side();
  readonly sdpA = sdp(0xaa);
  readonly sdpB = sdp(0xbb);
  open = false;
  channelOpens = true;
  /** Applied to frames from a to b. */
  tamperA: ((text: string) => string) | undefined;
  /** Applied to frames from b to a. */
  tamperB: ((text: string) => string) | undefined;
  dropB = false;
  /** The hub replaces b's SDP with this one on its way to a. */
  swapAnswer: string | undefined;

  readonly a: ChatSession;
  private readonly ben: Me;

  constructor(a: ChatSession, b: ChatSession | undefined, ben: Me) {
    this.a = a;
    this.b = b;
    this.ben = ben;
  }

  static async strangers(): Promise<Pair> {
    const a = ChatSession.request(await me(1, "Ann"), BEN_PEER, RQ, seedOf(0xa1), DEFAULT_TIMING, T0);
    const pair = new Pair(a, undefined, await me(2, "Ben"));
    await pair.pump();
    return pair;
  }

  static async contacts(annKnows: Contact, benKnows: Contact, callee?: Me, setup?: (p: Pair) => void): Promise<Pair> {
    const a = ChatSession.call(await me(1, "Ann"), BEN_PEER, RQ, annKnows, DEFAULT_TIMING, T0);
    const ben = callee ?? (await me(2, "Ben"));
    const b = ChatSession.called(ben, ANN_PEER, RQ, benKnows, DEFAULT_TIMING, T0);
    const pair = new Pair(a, b, ben);
    setup?.(pair);
    await pair.pump();
    return pair;
  }

  static async openStrangers(): Promise<Pair> {
    const pair = await Pair.strangers();
    await pair.bs().accept(T0);
    await pair.pump();
    expect(pair.a.phase).toBe("open");
    expect(pair.bs().phase).toBe("open");
    return pair;
  }

  bs(): ChatSession {
    if (this.b === undefined) throw new Error("Ben's session does not exist");
    return this.b;
  }

  async pump(): Promise<void> {
    for (let round = 0; round < 10_000; round++) {
      const fromA: ChatOutput[] = [];
      const fromB: ChatOutput[] = [];
      for (let o = this.a.pollOutput(); o !== undefined; o = this.a.pollOutput()) fromA.push(o);
      for (let o = this.b?.pollOutput(); o !== undefined; o = this.b?.pollOutput()) fromB.push(o);
      if (fromA.length === 0 && fromB.length === 0) return;
      for (const o of fromA) await this.route(true, o);
      for (const o of fromB) await this.route(false, o);
    }
    throw new Error("the sessions never went quiet");
  }

  private async route(fromA: boolean, output: ChatOutput): Promise<void> {
    const mine = fromA ? this.sa : this.sb;
    switch (output.type) {
      case "signal": {
        // Through the hub: as a JSON payload.
        const parsed = parseSignal(JSON.parse(JSON.stringify(signalPayload(output.signal))));
        if (parsed === undefined) throw new Error("not a chat signal");
        let signal = parsed;
        mine.signals.push(withoutRq(signal));
        if (fromA) {
          expect(output.to).toBe(BEN_PEER);
          if (this.b === undefined) {
            if (signal.t !== "request") throw new Error("first a request");
            this.b = ChatSession.asked(
              this.ben,
              ANN_PEER,
              signal.rq,
              signal.name,
              seedOf(0xb2),
              DEFAULT_TIMING,
              this.now,
            );
          } else {
            await this.b.handleSignal(ANN_PEER, signal, this.now);
          }
        } else {
          expect(output.to).toBe(ANN_PEER);
          if (signal.t === "sdp" && this.swapAnswer !== undefined) {
            signal = { ...signal, sdp: { ...signal.sdp, sdp: this.swapAnswer } };
          }
          await this.a.handleSignal(BEN_PEER, signal, this.now);
        }
        return;
      }
      case "text":
        mine.texts.push(output.text);
        if (!this.open) return;
        if (fromA) await this.bs().handleText(this.tamperA?.(output.text) ?? output.text);
        else if (!this.dropB) await this.a.handleText(this.tamperB?.(output.text) ?? output.text);
        return;
      case "binary":
        if (this.open) await (fromA ? this.bs() : this.a).handleBinary(output.frame);
        return;
      case "rtc": {
        const step = output.step;
        const session = fromA ? this.a : this.bs();
        if (step.kind === "offer" || step.kind === "answer") {
          await session.localDescription(fromA ? this.sdpA : this.sdpB);
          await session.localCandidates([{ candidate: fromA ? "cand-ann" : "cand-ben" }]);
        } else if (step.kind === "apply_answer" && this.channelOpens) {
          this.open = true;
          await this.a.channelOpen(this.now);
          await this.bs().channelOpen(this.now);
        } else if (step.kind === "add_candidates") {
          mine.added.push(...step.candidates);
        } else if (step.kind === "close") {
          mine.closedRtc = true;
          if (this.open) await (fromA ? this.bs() : this.a).channelClosed("closed");
        }
        return;
      }
      case "event":
        mine.events.push(output.event);
        return;
    }
  }

  async advance(ms: number): Promise<void> {
    this.now += ms;
    await this.a.handleTimeout(this.now);
    await this.b?.handleTimeout(this.now);
    await this.pump();
  }
}

function withoutRq(signal: Signal): SignalKind {
  const { rq, ...kind } = signal;
  expect(rq).toBe(RQ);
  return kind;
}

function opened(events: ChatEvent[]): Extract<ChatEvent, { type: "open" }> | undefined {
  return events.find((e): e is Extract<ChatEvent, { type: "open" }> => e.type === "open");
}

const isRtcSignal = (kind: SignalKind): boolean => kind.t === "sdp" || kind.t === "ice";

describe("chat session", () => {
  it("request, accept: both prove identities and derive one secret", async () => {
    const pair = await Pair.strangers();
    expect(pair.a.phase).toBe("requesting");
    expect(pair.bs().phase).toBe("asked");
    expect(pair.sb.events).toEqual([{ type: "asked", name: "Ann" }]);
    expect(pair.sa.signals).toEqual([{ t: "request", name: "Ann" }]);

    await pair.bs().accept(T0 + 5_000);
    await pair.pump();
    expect(pair.sa.events).toContainEqual({ type: "accepted" });
    const atAnn = opened(pair.sa.events);
    const atBen = opened(pair.sb.events);
    expect([atAnn?.id, atAnn?.name, atBen?.id, atBen?.name]).toEqual([idOf(2), "Ben", idOf(1), "Ann"]);
    const expected = await deriveSecret({ id: idOf(1), k: seedOf(0xa1) }, { id: idOf(2), k: seedOf(0xb2) });
    expect(toHex(atAnn?.secret ?? new Uint8Array())).toBe(toHex(expected));
    expect(toHex(atBen?.secret ?? new Uint8Array())).toBe(toHex(expected));
    expect(pair.a.theirId).toBe(idOf(2));
    expect(pair.sa.signals[1]).toMatchObject({ t: "sdp", sdp: { type: "offer" } });
    expect(pair.sb.added).toEqual([{ candidate: "cand-ann" }]);
    expect(pair.sa.added).toEqual([{ candidate: "cand-ben" }]);
    const hello = JSON.parse(pair.sa.texts[0] ?? "{}") as Record<string, unknown>;
    expect(hello["t"]).toBe("hello");
    expect("k" in hello && !("known" in hello)).toBe(true);
  });

  it("no sdp or ice passes before accept, and a declined stranger gets nothing", async () => {
    const pair = await Pair.strangers();
    await pair.a.localCandidates([{ candidate: "early" }]);
    await pair.a.localDescription(sdp(0xaa));
    await pair.pump();
    expect(pair.sa.signals).toEqual([{ t: "request", name: "Ann" }]);
    const b = pair.bs();
    await b.handleSignal(ANN_PEER, { t: "sdp", sdp: { type: "offer", sdp: sdp(0xcc) }, rq: RQ }, T0);
    await b.handleSignal(ANN_PEER, { t: "ice", c: [{}], rq: RQ }, T0);
    expect(b.pollOutput()).toBeUndefined();
    expect(b.refusedSignals).toBe(2);
    expect(b.phase).toBe("asked");

    await b.decline();
    await pair.pump();
    expect(pair.a.phase).toBe("declined");
    expect(pair.sa.events).toContainEqual({ type: "declined" });
    expect([...pair.sa.signals, ...pair.sb.signals].some(isRtcSignal)).toBe(false);
    expect(pair.sb.signals).toEqual([{ t: "decline" }]);
    expect(pair.sa.texts.length + pair.sb.texts.length).toBe(0);
    await expect(b.accept(T0)).rejects.toMatchObject({ kind: "state" });
  });

  it("the requester refuses an early answer too", async () => {
    const pair = await Pair.strangers();
    await pair.a.handleSignal(BEN_PEER, { t: "sdp", sdp: { type: "answer", sdp: sdp(0xcc) }, rq: RQ }, T0);
    expect(pair.a.pollOutput()).toBeUndefined();
    expect(pair.a.refusedSignals).toBe(1);
  });

  it("ignores signals of another peer or request", async () => {
    const pair = await Pair.strangers();
    await pair.a.handleSignal("peer-mallory", { t: "accept", rq: RQ }, T0);
    await pair.a.handleSignal(BEN_PEER, { t: "accept", rq: "BBBBBBBBBBBBBBBBBBBBBB" }, T0);
    expect(pair.a.pollOutput()).toBeUndefined();
    expect(pair.a.phase).toBe("requesting");
  });

  it("a cancel before an answer reaches the asked side", async () => {
    const pair = await Pair.strangers();
    await pair.a.cancel();
    await pair.pump();
    expect(pair.a.reason).toEqual({ kind: "cancelled" });
    expect(pair.bs().reason).toEqual({ kind: "peer_cancelled" });
    expect(pair.sb.events).toContainEqual({ type: "closed", reason: { kind: "peer_cancelled" } });
  });

  it("contacts call and prove the secret they share", async () => {
    const pair = await Pair.contacts(contact(2, "Ben", 9), contact(1, "Ann", 9));
    const atAnn = opened(pair.sa.events);
    expect([atAnn?.id, atAnn?.secret]).toEqual([idOf(2), undefined]);
    expect(opened(pair.sb.events)).toBeDefined();
    expect(pair.sa.signals[0]).toEqual({ t: "call" });
    const hello = JSON.parse(pair.sb.texts[0] ?? "{}") as Record<string, unknown>;
    expect("known" in hello && !("k" in hello)).toBe(true);
  });

  it("a wrong known proof is a squatter", async () => {
    const pair = await Pair.contacts(contact(2, "Ben", 9), contact(1, "Ann", 8));
    expect(pair.a.phase).toBe("squatter");
    expect(pair.sa.events).toContainEqual({ type: "squatter", claimed: idOf(2), reason: { kind: "bad_known_proof" } });
    expect(pair.sa.closedRtc).toBe(true);
    expect(opened(pair.sa.events)).toBeUndefined();
  });

  it("another identity than the contact is a squatter", async () => {
    const pair = await Pair.contacts(contact(2, "Ben", 9), contact(1, "Ann", 9), await me(3, "Mallory"));
    expect(pair.a.phase).toBe("squatter");
    expect(pair.a.reason).toEqual({ kind: "wrong_identity", expected: idOf(2), claimed: idOf(3) });
    expect(opened(pair.sa.events)).toBeUndefined();
    expect(pair.bs().isFinal).toBe(true);
  });

  it("claiming the contact's id without its key is a squatter", async () => {
    const pair = await Pair.contacts(contact(2, "Ben", 9), contact(1, "Ann", 9), await me(3, "Mallory"), (p) => {
      p.tamperB = (text) => {
        const frame = JSON.parse(text) as Record<string, unknown>;
        return frame["t"] === "hello" ? JSON.stringify({ ...frame, id: idOf(2) }) : text;
      };
    });
    expect(pair.a.reason).toEqual({ kind: "bad_signature" });
    expect(pair.sa.events).toContainEqual({ type: "squatter", claimed: idOf(2), reason: { kind: "bad_signature" } });
  });

  it("a call known only by its tag gets a hello only after the caller proved itself", async () => {
    // `caller` believes it calls `callerKnows`; Ann answers believing the caller is her contact Ben.
    const tagCall = async (caller: Me, callerKnows: Contact, tamper?: (text: string) => string) => {
      // (The harness names a's hub peer ANN_PEER and b's BEN_PEER, whoever they are.)
      const a = ChatSession.call(caller, BEN_PEER, RQ, callerKnows, DEFAULT_TIMING, T0);
      const ann = await me(1, "Ann");
      const b = ChatSession.calledByTag(ann, ANN_PEER, RQ, contact(2, "Ben", 9), DEFAULT_TIMING, T0);
      const pair = new Pair(a, b, ann);
      pair.tamperA = tamper;
      await pair.pump();
      return pair;
    };
    // The real Ben: both open; Ann's hello went out (once) after Ben's verified.
    const real = await tagCall(await me(2, "Ben"), contact(1, "Ann", 9));
    expect([real.a.phase, real.bs().phase]).toEqual(["open", "open"]);
    expect(real.sb.texts).toHaveLength(1);
    // Mallory replays Ben's tag and answers as herself: Ann sends nothing and flags her.
    const mallory = await tagCall(await me(3, "Mallory"), contact(1, "Ann", 7));
    expect(mallory.bs().reason).toEqual({ kind: "wrong_identity", expected: idOf(2), claimed: idOf(3) });
    expect(mallory.sb.texts).toEqual([]);
    // Mallory claims Ben's id without his key: the same.
    const claim = await tagCall(await me(3, "Mallory"), contact(1, "Ann", 7), (text) => {
      const frame = JSON.parse(text) as Record<string, unknown>;
      return frame["t"] === "hello" ? JSON.stringify({ ...frame, id: idOf(2) }) : text;
    });
    expect(claim.bs().reason).toEqual({ kind: "bad_signature" });
    expect(claim.sb.texts).toEqual([]);
  });

  it("a signature for another channel does not verify", async () => {
    const pair = await Pair.strangers();
    pair.swapAnswer = sdp(0xee);
    await pair.bs().accept(T0);
    await pair.pump();
    expect(pair.a.reason).toEqual({ kind: "bad_signature" });
    expect(opened(pair.sa.events)).toBeUndefined();
  });

  it("the request times out after 60 s", async () => {
    const pair = await Pair.strangers();
    expect(pair.a.pollTimeout()).toBe(T0 + 60_000);
    await pair.advance(59_999);
    expect(pair.a.phase).toBe("requesting");
    await pair.advance(1);
    expect(pair.a.reason).toEqual({ kind: "timeout", phase: "requesting" });
    expect(pair.sa.events).toContainEqual({ type: "closed", reason: { kind: "timeout", phase: "requesting" } });
    expect(pair.sa.signals.at(-1)).toEqual({ t: "cancel" });
    expect(pair.bs().reason).toEqual({ kind: "timeout", phase: "asked" });
  });

  it("connecting times out after 30 s, proving after 10 s", async () => {
    const pair = await Pair.strangers();
    pair.channelOpens = false;
    await pair.bs().accept(T0);
    await pair.pump();
    expect(pair.a.phase).toBe("connecting");
    expect(pair.a.pollTimeout()).toBe(T0 + 30_000);
    await pair.advance(30_000);
    expect(pair.a.reason).toEqual({ kind: "timeout", phase: "connecting" });
    expect(pair.sa.closedRtc).toBe(true);

    const second = await Pair.strangers();
    second.dropB = true;
    await second.bs().accept(T0);
    await second.pump();
    expect(second.a.phase).toBe("proving");
    expect(second.a.pollTimeout()).toBe(T0 + 10_000);
    await second.advance(9_999);
    expect(second.a.phase).toBe("proving");
    await second.advance(1);
    expect(second.a.reason).toEqual({ kind: "timeout", phase: "proving" });
  });

  it("refuses frames before the hello", async () => {
    for (const frame of [`{"t":"msg","id":"${RQ}","at":1,"text":"hi"}`, `{"t":"zap"}`]) {
      const pair = await Pair.strangers();
      pair.dropB = true;
      await pair.bs().accept(T0);
      await pair.pump();
      expect(pair.a.phase).toBe("proving");
      await pair.a.handleText(frame);
      expect(pair.a.reason).toMatchObject({ kind: "violation", violation: "frame_before_hello" });
    }
    const pair = await Pair.strangers();
    pair.dropB = true;
    await pair.bs().accept(T0);
    await pair.pump();
    await pair.a.handleBinary(Uint8Array.of(FRAME_CHUNK, 1, 2, 3));
    expect(pair.a.reason).toMatchObject({ kind: "violation", violation: "frame_before_hello" });
  });

  it("ignores unknown types after the hello; a malformed frame ends the chat", async () => {
    const pair = await Pair.openStrangers();
    const before = pair.sa.events.length;
    await pair.a.handleText(`{"t":"reaction","id":"${RQ}","emoji":"+1"}`);
    await pair.pump();
    expect(pair.a.phase).toBe("open");
    expect(pair.sa.events.length).toBe(before);
    await pair.a.handleText(`{"t":"typing","x":1}`);
    expect(pair.a.reason).toMatchObject({ kind: "violation", violation: "malformed" });
  });

  it("a second hello is a violation", async () => {
    const pair = await Pair.openStrangers();
    await pair.a.handleText(pair.sb.texts[0] ?? "");
    expect(pair.a.reason).toMatchObject({ kind: "violation", violation: "duplicate_hello" });
  });

  it("dedupes messages by id and acknowledges each copy", async () => {
    const pair = await Pair.openStrangers();
    await pair.a.sendText(MSG_ID, "Hello Ben", undefined, T0 + 1_000);
    await pair.pump();
    const sent = pair.sa.texts.at(-1) ?? "";
    expect(sent).toBe(`{"t":"msg","id":"${MSG_ID}","at":${T0 + 1_000},"text":"Hello Ben"}`);
    await pair.bs().handleText(sent);
    await pair.pump();
    expect(pair.sb.events.filter((e) => e.type === "message")).toEqual([
      { type: "message", id: MSG_ID, at: T0 + 1_000, text: "Hello Ben", re: undefined },
    ]);
    const delivered = pair.sa.events.filter((e) => e.type === "receipt" && e.kind === "delivered" && e.id === MSG_ID);
    expect(delivered.length).toBe(2);
    await pair.bs().markRead(MSG_ID);
    await pair.bs().sendText("cmVwbHlyZXBseXJlcGx5IQ", "Hi Ann", MSG_ID, T0 + 2_000);
    await pair.pump();
    expect(pair.sa.events).toContainEqual({ type: "receipt", id: MSG_ID, kind: "read" });
    expect(pair.sa.events).toContainEqual({
      type: "message",
      id: "cmVwbHlyZXBseXJlcGx5IQ",
      at: T0 + 2_000,
      text: "Hi Ann",
      re: MSG_ID,
    });
    const count = pair.sa.events.length;
    await pair.a.handleText(`{"t":"ack","id":"ZZZZZZZZZZZZZZZZZZZZZQ","k":"read"}`);
    await pair.pump();
    expect(pair.a.phase).toBe("open");
    expect(pair.sa.events.length).toBe(count);
  });

  it("refuses bad messages before they leave", async () => {
    const pair = await Pair.openStrangers();
    await expect(pair.a.sendText(MSG_ID, "x".repeat(MAX_TEXT + 1), undefined, T0)).rejects.toMatchObject({
      kind: "value",
    });
    await expect(pair.a.sendText("short", "hi", undefined, T0)).rejects.toMatchObject({ kind: "value" });
    await pair.a.sendText(MSG_ID, "é".repeat(MAX_TEXT), undefined, T0);
    const fresh = await Pair.strangers();
    await expect(fresh.a.sendText(MSG_ID, "hi", undefined, T0)).rejects.toMatchObject({ kind: "state" });
  });

  it("images arrive whole, with a receipt", async () => {
    const pair = await Pair.openStrangers();
    const bytes = Uint8Array.from({ length: 150_000 }, (_, i) => i % 251);
    const imgId = "aW1hZ2VpbWFnZWltYWdlIQ";
    await pair.a.sendImage(imgId, "cat.png", "image/png", bytes, undefined, T0 + 3_000);
    await pair.pump();
    const got = pair.sb.events.find((e) => e.type === "image");
    expect(got?.img.name).toBe("cat.png");
    expect(got?.img.size).toBe(150_000);
    expect(toHex(got?.bytes ?? new Uint8Array())).toBe(toHex(bytes));
    expect(pair.sa.events).toContainEqual({ type: "receipt", id: imgId, kind: "delivered" });
  });

  it("an image longer than announced, or bytes without an image, is a violation", async () => {
    const pair = await Pair.openStrangers();
    await pair.a.handleText(
      `{"t":"img","id":"aW1hZ2VpbWFnZWltYWdlIQ","at":1,"name":"a.png","type":"image/png","size":2}`,
    );
    await pair.a.handleBinary(Uint8Array.of(FRAME_CHUNK, 1, 2, 3));
    expect(pair.a.reason).toMatchObject({ kind: "violation", violation: "image_too_big" });
    const other = await Pair.openStrangers();
    await other.a.handleBinary(Uint8Array.of(FRAME_END));
    expect(other.a.reason).toMatchObject({ kind: "violation", violation: "unexpected_binary" });
  });

  it("bye closes both sides", async () => {
    const pair = await Pair.openStrangers();
    await pair.a.typing();
    await pair.a.leave();
    await pair.pump();
    expect(pair.sb.events).toContainEqual({ type: "typing" });
    expect(pair.a.reason).toEqual({ kind: "left" });
    expect(pair.bs().reason).toEqual({ kind: "peer_left" });
  });
});

describe("chat signals", () => {
  it("travel as tagged strict JSON", () => {
    expect(signalPayload({ t: "request", name: "Ann", rq: RQ })).toEqual({
      p2pos: "chat",
      t: "request",
      name: "Ann",
      rq: RQ,
    });
    expect(parseSignal({ p2pos: "drop", kind: "hello" })).toBeUndefined();
    const kind = (v: unknown): string => {
      try {
        parseSignal(v);
      } catch (error) {
        return (error as { kind: string }).kind;
      }
      return "ok";
    };
    expect(kind({ p2pos: "chat", t: "accept", rq: RQ, id: "who" })).toBe("fields");
    expect(kind({ p2pos: "chat", t: "accept" })).toBe("fields");
    expect(kind({ p2pos: "chat", t: "accept", rq: "short" })).toBe("value");
    expect(kind({ p2pos: "chat", t: "request", rq: RQ, name: " Ann" })).toBe("value");
    expect(kind({ p2pos: "chat", t: "hello", rq: RQ })).toBe("value");
    expect(kind({ p2pos: "chat", rq: RQ })).toBe("type");
    expect(kind(["p2pos"])).toBe("json");
  });
});

describe("rendezvous", () => {
  const drain = (rv: Rendezvous): RvOutput[] => {
    const out: RvOutput[] = [];
    for (let o = rv.pollOutput(); o !== undefined; o = rv.pollOutput()) out.push(o);
    return out;
  };

  it("covers the neighbouring slots and rolls over at the boundary", async () => {
    const secret = new Uint8Array(32).fill(5);
    const slot = slotOf(T0);
    const boundary = (slot + 1) * SLOT_MS;
    const before = boundary - 1;
    const rv = await Rendezvous.create(secret, before, before);
    expect(rv.state).toBe("reconnecting");
    expect(drain(rv)).toEqual([
      { type: "join", name: await rvName(secret, slot) },
      { type: "join", name: await rvName(secret, slot - 1) },
      { type: "join", name: await rvName(secret, slot + 1) },
    ]);
    expect(rv.pollTimeout(before)).toBe(boundary);
    await rv.handleTimeout(boundary);
    expect(drain(rv)).toEqual([
      { type: "leave", name: await rvName(secret, slot - 1) },
      { type: "join", name: await rvName(secret, slot + 2) },
    ]);
    const mine = await rvNamesAt(secret, boundary - 30_000);
    const theirs = await rvNamesAt(secret, boundary + 30_000);
    expect(mine[0]).toBe(theirs[1]);
    expect(mine[2]).toBe(theirs[0]);
  });

  it("follows connections, squatters and address changes", async () => {
    const rv = await Rendezvous.create(new Uint8Array(32).fill(5), T0, T0);
    drain(rv);
    await rv.connected(T0 + 1);
    const out = drain(rv);
    expect(out[0]).toEqual({ type: "state", state: "connected" });
    expect(out.filter((o) => o.type === "leave").length).toBe(3);
    expect(rv.joined).toEqual([]);

    await rv.addressChanged(T0 + 2);
    expect(drain(rv)).toEqual([{ type: "announce" }, { type: "state", state: "announcing" }]);
    expect(rv.pollTimeout(T0 + 2)).toBe(T0 + 2 + ANNOUNCE_MS);
    await rv.handleTimeout(T0 + 2 + ANNOUNCE_MS);
    expect(rv.state).toBe("reconnecting");
    expect(rv.joined.length).toBe(3);
    drain(rv);

    await rv.squatterSeen("peer-mallory", T0 + 40_000);
    expect(drain(rv)).toEqual([
      { type: "blacklist", peer: "peer-mallory" },
      { type: "state", state: "recovering" },
    ]);
    expect(rv.isBlacklisted("peer-mallory")).toBe(true);
    expect(rv.joined.length).toBe(3);

    const last = T0 + 50_000;
    await rv.connected(last);
    await rv.connectionLost(last);
    drain(rv);
    const prompt = { type: "pause_prompt" };
    await rv.handleTimeout(last + PAUSE_AFTER_MS - 1);
    expect(drain(rv)).not.toContainEqual(prompt);
    await rv.handleTimeout(last + PAUSE_AFTER_MS);
    expect(drain(rv)).toContainEqual(prompt);
    await rv.handleTimeout(last + PAUSE_AFTER_MS + 1);
    expect(drain(rv)).not.toContainEqual(prompt);
  });
});

describe("nearby tags", () => {
  it("are 32 and contain each contact's tag", async () => {
    const secrets = [0, 1, 2].map((i) => new Uint8Array(32).fill(i));
    const s = "c2Vzc2lvbm5vbmNlMTIzNA";
    const tags = await nearbyTags(secrets, s);
    expect(tags.length).toBe(NEARBY_TAGS);
    for (const secret of secrets) expect(tags).toContain(await nearbyTag(secret, s));
    expect(tags.every((t) => /^[0-9a-f]{8}$/.test(t))).toBe(true);
    expect(await nearbyTag(secrets[0] ?? new Uint8Array(), s)).not.toBe(
      await nearbyTag(secrets[0] ?? new Uint8Array(), "b3RoZXJzZXNzaW9ubm9uY2U"),
    );
  });
});
