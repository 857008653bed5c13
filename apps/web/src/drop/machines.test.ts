// A sender and a receiver machine driven back to back in virtual time: signals go straight from
// one to the other (through a "hub" that may swap keys), WebRTC is a flag, and a "link" carries the
// frames (and may lose them). The twin of `crates/p2pos-core/src/drop/tests.rs`.
import { describe, expect, it } from "vitest";
import type { DropOutput, DropPicture, Payload, ReceiverState, SenderState, Timing } from "./machine.ts";
import { CHUNK_PLAINTEXT, ephemeralFromPrivate, generateEphemeral } from "./protocol.ts";
import { ReceiverMachine } from "./receiver.ts";
import { SenderMachine } from "./sender.ts";

const SENDER = "ann-peer";
const RECEIVER = "ben-peer";
const ROOM = "room1";

function image(size: number): { name: string; type: string; bytes: Uint8Array } {
  return { name: "sunset.png", type: "image/png", bytes: Uint8Array.from({ length: size }, (_, i) => (i * 7) % 251) };
}

const picture = (): DropPicture => ({ bitmap: { close: () => undefined } as ImageBitmap, width: 1, height: 1 });

interface Options {
  size?: number;
  receiverSecret?: Uint8Array;
  timing?: Partial<Timing>;
}

class Drop {
  now = 1_000_000;
  sender!: SenderMachine;
  receiver!: ReceiverMachine;
  readonly original: Uint8Array;
  readonly senderStates: SenderState[] = [];
  readonly receiverStates: ReceiverState[] = [];
  /** What arrived, copied before the driver wipes it. */
  received: Uint8Array | undefined;
  /** Signals the sender sent to peers other than the receiver. */
  readonly stray: { to: string; payload: Payload }[] = [];
  readonly finished: { side: string; deleteRoom: string | undefined }[] = [];
  readonly remembered: string[] = [];
  /** Frames the sender's channel still delivers (the rest are lost). */
  deliver = Infinity;
  framesFromSender = 0;
  /** The hub replaces `pub` in hellos with this key. */
  swapKey: string | undefined;
  open = false;

  private constructor(size: number) {
    this.original = image(size).bytes;
  }

  static async start({ size = 300_000, receiverSecret, timing = {} }: Options = {}): Promise<Drop> {
    const drop = new Drop(size);
    const secret = new Uint8Array(16).fill(7);
    drop.sender = await SenderMachine.create({
      image: image(size),
      seconds: 10,
      secret,
      ephemeral: await generateEphemeral(),
      timing,
    });
    drop.sender.roomReady("https://hub.example", ROOM, 600, drop.now);
    drop.receiver = await ReceiverMachine.create({
      room: ROOM,
      secret: receiverSecret ?? new Uint8Array(16).fill(7),
      name: "Ben",
      ephemeral: await generateEphemeral(),
      timing,
    });
    await drop.receiver.joined([SENDER], drop.now);
    return drop;
  }

  private hub(payload: Payload): Payload {
    return this.swapKey !== undefined && payload["kind"] === "hello" ? { ...payload, pub: this.swapKey } : payload;
  }

  /** Moves everything both sides want to send until neither has anything left. */
  async progress(): Promise<void> {
    for (;;) {
      let moved = false;
      for (let out = this.sender.pollOutput(); out; out = this.sender.pollOutput()) {
        moved = true;
        await this.fromSender(out);
      }
      for (let out = this.receiver.pollOutput(); out; out = this.receiver.pollOutput()) {
        moved = true;
        await this.fromReceiver(out);
      }
      if (!moved) return;
    }
  }

  private async fromSender(out: DropOutput<SenderState>): Promise<void> {
    switch (out.type) {
      case "signal":
        if (out.to === RECEIVER) await this.receiver.handleSignal(SENDER, this.hub(out.payload), this.now);
        else this.stray.push({ to: out.to, payload: out.payload });
        return;
      case "frame":
        await this.carry(out.frame);
        return;
      case "rtc":
        if (out.step.kind === "offer") this.sender.offerMade("offer-sdp");
        if (out.step.kind === "apply_answer") {
          this.open = true;
          this.sender.channelOpened(this.now);
          this.receiver.channelOpened(this.now);
        }
        if (out.step.kind === "send_image") {
          for (let frame = await this.sender.nextFrame(); frame; frame = await this.sender.nextFrame()) {
            await this.carry(frame);
            this.sender.frameSent(this.now);
          }
        }
        return;
      case "state":
        this.senderStates.push(out.state);
        return;
      case "finish":
        this.finished.push({ side: "sender", deleteRoom: out.deleteRoom });
        return;
      case "remember_viewed":
        return;
    }
  }

  private async carry(frame: Uint8Array): Promise<void> {
    this.framesFromSender += 1;
    if (this.open && this.framesFromSender <= this.deliver) await this.receiver.handleFrame(frame, this.now);
  }

  private async fromReceiver(out: DropOutput<ReceiverState>): Promise<void> {
    switch (out.type) {
      case "signal":
        expect(out.to).toBe(SENDER);
        await this.sender.handleSignal(RECEIVER, this.hub(out.payload), this.now);
        return;
      case "frame":
        if (this.open) this.sender.handleFrame(out.frame, this.now);
        return;
      case "rtc":
        if (out.step.kind === "answer") this.receiver.answerMade("answer-sdp");
        if (out.step.kind === "decode") {
          this.received = new Uint8Array(out.step.image);
          out.step.image.fill(0); // the driver wipes it once decoded
          this.receiver.pictureReady(picture());
        }
        return;
      case "state":
        this.receiverStates.push(out.state);
        return;
      case "finish":
        this.finished.push({ side: "receiver", deleteRoom: out.deleteRoom });
        return;
      case "remember_viewed":
        this.remembered.push(out.room);
        return;
    }
  }

  /** Lets virtual time pass, firing each side's timer when it is due. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const next = [this.sender.pollTimeout(), this.receiver.pollTimeout()]
        .filter((at): at is number => at !== undefined)
        .sort((a, b) => a - b)[0];
      if (next === undefined || next > until) break;
      this.now = Math.max(this.now, next);
      this.sender.handleTimeout(this.now);
      this.receiver.handleTimeout(this.now);
      await this.progress();
    }
    this.now = until;
  }
}

describe("a drop, sender and receiver back to back", () => {
  it("Ben sees Ann's image once, for its view time; Ann hears it was viewed", async () => {
    const drop = await Drop.start();
    await drop.progress();
    expect(drop.receiver.state.phase).toBe("viewing");
    expect(drop.received).toEqual(drop.original);
    expect(drop.sender.state).toEqual({ phase: "viewing", receiver: "Ben", seconds: 10 });
    expect(drop.framesFromSender).toBe(1 + Math.ceil(300_000 / CHUNK_PLAINTEXT));

    drop.receiver.shown(drop.now);
    const state = drop.receiver.state;
    expect(state.phase === "viewing" ? state.endsAt : undefined).toBe(drop.now + 10_000);
    await drop.advance(9_999);
    expect(drop.receiver.state.phase).toBe("viewing");
    await drop.advance(1);
    expect(drop.receiver.state).toEqual({ phase: "gone" });
    await drop.progress();
    expect(drop.sender.state).toEqual({ phase: "viewed", receiver: "Ben" });
    expect(drop.remembered).toEqual([ROOM]);
    expect(drop.finished).toContainEqual({ side: "sender", deleteRoom: ROOM });
    expect([drop.sender.pollTimeout(), drop.receiver.pollTimeout()]).toEqual([undefined, undefined]);
  });

  it("a second receiver is turned away while the first has it", async () => {
    const drop = await Drop.start();
    await drop.progress();
    const eve = await ReceiverMachine.create({
      room: ROOM,
      secret: new Uint8Array(16).fill(7),
      name: "Eve",
      ephemeral: await generateEphemeral(),
    });
    await eve.joined([SENDER], drop.now);
    for (let out = eve.pollOutput(); out; out = eve.pollOutput()) {
      if (out.type === "signal") await drop.sender.handleSignal("eve-peer", out.payload, drop.now);
    }
    await drop.progress();
    const refused = drop.stray.find((s) => s.to === "eve-peer");
    expect(refused?.payload).toEqual({ p2pos: "drop", kind: "refused", reason: "taken" });
    await eve.handleSignal(SENDER, refused?.payload ?? {}, drop.now);
    expect(eve.state).toMatchObject({ phase: "ended", reason: "taken" });
    expect(drop.receiver.state.phase).toBe("viewing");
  });

  it("a wrong link fails the MAC on both sides, before any frame", async () => {
    const drop = await Drop.start({ receiverSecret: new Uint8Array(16).fill(8) });
    await drop.progress();
    expect(drop.sender.state).toMatchObject({ phase: "ended", reason: "tampered" });
    expect(drop.receiver.state).toMatchObject({ phase: "ended", reason: "tampered" });
    expect(drop.framesFromSender).toBe(0);
  });

  it("a hub that swaps the keys is caught", async () => {
    const drop = await Drop.start();
    drop.swapKey = (await ephemeralFromPrivate(new Uint8Array(32).fill(9))).publicB64;
    await drop.progress();
    expect(drop.sender.state).toMatchObject({ phase: "ended", reason: "tampered" });
    expect(drop.receiver.state).toMatchObject({ phase: "ended", reason: "tampered" });
    expect(drop.received).toBeUndefined();
  });

  it("a transfer that stops moving stalls on both sides, after the stall time (shortened here)", async () => {
    const drop = await Drop.start({ timing: { stallMs: 1_000 } });
    drop.deliver = 3; // meta and two chunks, then the path loses everything
    await drop.progress();
    expect(drop.receiver.state.phase).toBe("receiving");
    await drop.advance(999);
    expect(drop.receiver.state.phase).toBe("receiving");
    await drop.advance(1);
    expect(drop.receiver.state).toMatchObject({ phase: "ended", reason: "stalled" });
    expect(drop.sender.state).toMatchObject({ phase: "ended", reason: "stalled" });
    expect((drop.receiver.state as { message: string }).message).toContain("nothing arrived for 1 seconds");
  });

  it("by default a stall is 15 s", async () => {
    const drop = await Drop.start();
    drop.deliver = 3;
    await drop.progress();
    await drop.advance(14_999);
    expect(drop.receiver.state.phase).toBe("receiving");
    await drop.advance(1);
    expect(drop.receiver.state).toMatchObject({ phase: "ended", reason: "stalled" });
    expect((drop.receiver.state as { message: string }).message).toContain("15 seconds");
  });

  it("the sender cancels while Ben is viewing: the picture goes at once", async () => {
    const drop = await Drop.start();
    await drop.progress();
    drop.receiver.shown(drop.now);
    drop.sender.cancel();
    await drop.progress();
    expect(drop.sender.state).toMatchObject({ phase: "ended", reason: "cancelled" });
    expect(drop.receiver.state).toEqual({
      phase: "ended",
      reason: "peer_cancelled",
      message: "The sender cancelled this drop.",
    });
    expect(drop.remembered).toEqual([]);
  });

  it("Ben cancels mid-transfer and Ann hears why", async () => {
    const drop = await Drop.start();
    drop.deliver = 2;
    await drop.progress();
    drop.receiver.cancel();
    await drop.progress();
    expect(drop.sender.state).toMatchObject({
      phase: "ended",
      reason: "peer_cancelled",
      message: "Ben ended the drop (cancelled by the receiver).",
    });
  });

  it("a sender that never answers: the receiver gives up after 20 s", async () => {
    const drop = await Drop.start();
    drop.receiver.pollOutput(); // the hello is lost
    await drop.advance(19_999);
    expect(drop.receiver.state.phase).toBe("connecting");
    await drop.advance(1);
    expect(drop.receiver.state).toMatchObject({ phase: "ended", reason: "left" });
  });

  it("a room nobody opened expires, and there is nothing left to delete", async () => {
    const drop = await Drop.start();
    drop.sender.roomClosed("expired");
    await drop.progress();
    expect(drop.sender.state).toMatchObject({ phase: "ended", reason: "expired" });
    expect(drop.finished).toContainEqual({ side: "sender", deleteRoom: undefined });
  });
});
