/**
 * Drop's drivers, browser only: `DropSender` and `DropReceiver` run one drop's state machine
 * (`sender.ts`, `receiver.ts`) over the hub (a room, signals) and one WebRTC data channel, with one
 * timer for the machine's deadlines, and report its state to the page. Everything the protocol
 * decides is in the machines; this file only moves bytes and calls them, one event at a time.
 * The connection is a `PeerLink` (`../lib/peerLink.ts`: setup, candidate batching,
 * back-pressure); its connect deadline is the machine's (`Timing.connectMs`), so the link keeps none.
 * The image lives only in memory and is wiped (zeroed, references dropped) when a drop ends.
 */
import { wipe } from "../lib/bytes.ts";
import { HubClient, HubError, type HubSignal, type IceServerInit, sameOriginHubUrl } from "../lib/hubClient.ts";
import { PeerLink } from "../lib/peerLink.ts";
import {
  type DropEnded,
  type DropOutput,
  type DropPicture,
  type ReceiverState,
  type RtcStep,
  type SenderState,
  type Timing,
} from "./machine.ts";
import {
  CHANNEL_LABEL,
  DropError,
  checkImage,
  generateEphemeral,
  generateSecret,
  rememberViewed,
  wasViewed,
} from "./protocol.ts";
import { ReceiverMachine } from "./receiver.ts";
import { SenderMachine } from "./sender.ts";

/** Last frames get this long to leave before the channel and the hub close. */
const LINGER_MS = 1000;

/** Timers every drop started in this page uses (the browser tests shorten the stall: `testHooks.ts`). */
export const pageTiming: Partial<Timing> = {};

/** What a driver needs of either machine. */
interface Machine<S> {
  readonly finished: boolean;
  pollOutput(): DropOutput<S> | undefined;
  pollTimeout(): number | undefined;
  handleTimeout(now: number): void;
  handleSignal(from: string, payload: Record<string, unknown>, now: number): Promise<void>;
  handleFrame(frame: Uint8Array, now: number): Promise<void> | void;
  localCandidates(candidates: unknown[]): void;
  channelOpened(now: number): void;
  channelClosed(): void;
  connectionFailed(): void;
  roomClosed(reason: unknown): void;
  peerLeft(peer: unknown): void;
  hubClosed(reason: string): void;
  signalFailed(error: { code: string }): void;
  fail(error: unknown): void;
  cancel(): void;
}

/** The parts both ends share: the hub, the event queue, the peer link, the timer. */
abstract class DropSession<S extends { phase: string }, M extends Machine<S>> {
  protected hub: HubClient | undefined;
  protected link: PeerLink | undefined;
  protected machine: M | undefined;
  /** Torn down (the machine said `finish`, or it never started). */
  protected stopped = false;
  protected ns: string | undefined;
  private current: S | DropEnded;
  private readonly listener: (state: S | DropEnded) => void;
  private queue: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** A cancel before the machine existed. */
  private cancelled = false;

  constructor(initial: S, onState: (state: S | DropEnded) => void) {
    this.current = initial;
    this.listener = onState;
  }

  get state(): S | DropEnded {
    return this.current;
  }

  /** Reports a state before the machine exists (or when it cannot start). */
  protected report(state: S | DropEnded): void {
    this.current = state;
    this.listener(state);
  }

  /** Runs one event at a time, in arrival order, then does what the machine asks. */
  protected enqueue(task: (machine: M) => Promise<void> | void): void {
    this.queue = this.queue.then(async () => {
      const machine = this.machine;
      if (!machine || machine.finished) return;
      try {
        await task(machine);
      } catch (error) {
        machine.fail(error);
      }
      await this.drain(machine);
    });
  }

  /** Does what the machine asks, until it asks nothing more; then sets the timer. */
  protected async drain(machine: M): Promise<void> {
    for (let output = machine.pollOutput(); output; output = machine.pollOutput()) {
      try {
        await this.perform(machine, output);
      } catch (error) {
        machine.fail(error);
      }
    }
    clearTimeout(this.timer);
    const at = machine.pollTimeout();
    if (at !== undefined) {
      this.timer = setTimeout(
        () => {
          this.enqueue((m) => {
            m.handleTimeout(Date.now());
          });
        },
        Math.max(0, at - Date.now()),
      );
    }
  }

  private async perform(machine: M, output: DropOutput<S>): Promise<void> {
    switch (output.type) {
      case "state":
        this.current = output.state;
        this.listener(output.state);
        return;
      case "signal": {
        const onRefused = output.critical ? (error: HubError) => this.signalRefused(error) : undefined;
        this.hub?.signal(output.to, output.payload, onRefused);
        return;
      }
      case "frame":
        if (output.bestEffort) this.trySend(output.frame);
        else await this.sendFrame(output.frame);
        return;
      case "rtc":
        await this.rtc(machine, output.step);
        return;
      case "remember_viewed":
        rememberViewed(output.room);
        return;
      case "finish":
        this.teardown(output.deleteRoom);
        return;
    }
  }

  private signalRefused(error: HubError): void {
    this.enqueue((machine) => {
      machine.signalFailed(error);
    });
  }

  protected abstract rtc(machine: M, step: RtcStep): Promise<void>;

  /** Wires the hub's events to the machine. */
  protected listen(hub: HubClient): void {
    hub.onSignal((signal: HubSignal) => {
      this.enqueue((machine) => machine.handleSignal(signal.from, signal.payload, Date.now()));
    });
    hub.onMessage((message) => {
      if (message["ns"] !== this.ns) return;
      this.enqueue((machine) => {
        if (message.type === "room_closed") machine.roomClosed(message["reason"]);
        else if (message.type === "presence" && message["event"] === "leave") {
          machine.peerLeft((message["peer"] as { peer?: unknown } | undefined)?.peer);
        }
      });
    });
    hub.onClosed((reason) => {
      this.enqueue((machine) => {
        machine.hubClosed(reason);
      });
    });
  }

  /** Starts the machine once it exists; a cancel that came first is applied now. */
  protected async begin(machine: M): Promise<void> {
    this.machine = machine;
    if (this.cancelled) machine.cancel();
    await this.drain(machine);
  }

  /**
   * The peer link: its offer or answer goes to the machine (`described`), its candidate batches
   * and channel events into the event queue. Binary frames only: text fails the drop.
   */
  protected makeLink(iceServers: IceServerInit[], described: (sdp: string) => void): PeerLink {
    const link = new PeerLink({
      iceServers,
      channel: { label: CHANNEL_LABEL },
      connectTimeoutMs: null,
      signal: (out) => {
        if (out.kind !== "candidates") {
          described(out.sdp);
          return;
        }
        this.enqueue((machine) => {
          machine.localCandidates(out.candidates);
        });
      },
      on: {
        open: () => {
          this.enqueue((machine) => {
            machine.channelOpened(Date.now());
          });
        },
        message: (data) => {
          this.enqueue(async (machine) => {
            if (!(data instanceof ArrayBuffer)) throw new DropError("frame", "A text message on the data channel.");
            await machine.handleFrame(new Uint8Array(data), Date.now());
          });
        },
        closed: (error) => {
          const wasOpen = link.wasOpen;
          this.enqueue((machine) => {
            if (error.kind === "failed") machine.connectionFailed();
            if (error.kind === "lost" || (error.kind === "failed" && wasOpen)) machine.channelClosed();
          });
        },
      },
    });
    this.link = link;
    return link;
  }

  protected addCandidates(candidates: unknown): void {
    if (!Array.isArray(candidates)) return;
    this.link?.addCandidates(candidates as RTCIceCandidateInit[]);
  }

  /** Sends a frame, waiting while the channel's buffer is full. */
  protected async sendFrame(frame: Uint8Array<ArrayBuffer>): Promise<void> {
    const link = this.link;
    if (!link) throw new DropError("frame", "No data channel.");
    await link.drain().catch(() => undefined); // an ended link: said below
    if (this.stopped) return;
    if (!link.isOpen) throw new DropError("frame", "The data channel closed.");
    link.send(frame);
  }

  /** Sends a frame now if the channel is open; never throws. */
  private trySend(frame: Uint8Array<ArrayBuffer>): void {
    try {
      if (this.link?.isOpen) this.link.send(frame);
    } catch {
      // The channel is going away anyway.
    }
  }

  /** Ends the drop from the page (before or after the machine exists). */
  protected cancelNow(): void {
    if (!this.machine) {
      this.cancelled = true;
      return;
    }
    this.enqueue((machine) => {
      machine.cancel();
    });
  }

  /** Stops everything: the timer, and (after a moment for last frames to leave) the connections. */
  private teardown(deleteRoom: string | undefined): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    const { link, hub } = this;
    setTimeout(() => link?.close(), LINGER_MS);
    if (!hub) return;
    if (deleteRoom === undefined || hub.closed) {
      setTimeout(() => hub.close(), LINGER_MS);
      return;
    }
    // Delete the room so the link is dead at once, then leave.
    void hub
      .request({ type: "delete_room", code: deleteRoom }, 5000)
      .catch(() => undefined)
      .finally(() => {
        setTimeout(() => hub.close(), LINGER_MS);
      });
  }
}

export interface SenderOptions {
  image: { name: string; type: string; bytes: Uint8Array };
  /** View time, 5–60 s. */
  seconds: number;
  /** The origin links start with (the page's own). */
  origin?: string;
  /** Default: the hub that served this page. */
  hubUrl?: string;
  onState: (state: SenderState) => void;
}

/** The sender: creates the room, shows the link, answers one receiver and sends it the image. */
export class DropSender extends DropSession<SenderState, SenderMachine> {
  private constructor(onState: (state: SenderState) => void) {
    super({ phase: "starting" }, onState);
  }

  /** Starts a drop; state changes go to `onState`. Throws a `file` error for an image it cannot send. */
  static start(options: SenderOptions): DropSender {
    checkImage(options.image.type, options.image.bytes.length, options.seconds);
    const sender = new DropSender(options.onState);
    void sender.run(options).catch((error: unknown) => {
      sender.failToStart(error);
    });
    return sender;
  }

  /** The sender cancels: the receiver is told, the room deleted. */
  cancel(): void {
    this.cancelNow();
  }

  private async run(options: SenderOptions): Promise<void> {
    const secret = generateSecret();
    const machine = await SenderMachine.create({
      image: options.image,
      seconds: options.seconds,
      secret,
      ephemeral: await generateEphemeral(),
      timing: pageTiming,
    });
    await this.begin(machine);
    if (machine.finished) return;
    const hub = await HubClient.connect(options.hubUrl ?? sameOriginHubUrl(), { profile: {} });
    if (this.stopped) {
      hub.close();
      return;
    }
    this.hub = hub;
    this.listen(hub);
    const room = await hub.request({ type: "create_room" });
    const code = room["code"];
    const ttl = room["expires_in_secs"];
    if (typeof code !== "string" || !/^[A-Za-z0-9]{1,64}$/.test(code)) {
      throw new HubError("unexpected", "The hub gave no room.");
    }
    this.ns = typeof room["ns"] === "string" ? room["ns"] : `room:${code}`;
    const origin = options.origin ?? location.origin;
    this.enqueue(() => {
      machine.roomReady(origin, code, typeof ttl === "number" ? ttl : 600, Date.now());
    });
  }

  /** A failure before the first event: the machine (if any) ends the drop, else report it. */
  private failToStart(error: unknown): void {
    const machine = this.machine;
    if (machine) {
      this.enqueue((m) => {
        m.fail(error);
      });
      return;
    }
    const text = error instanceof Error ? error.message : String(error);
    this.report({ phase: "ended", reason: "failed", message: `Something went wrong: ${text}` });
  }

  protected async rtc(sender: SenderMachine, step: RtcStep): Promise<void> {
    switch (step.kind) {
      case "offer": {
        const hub = this.hub;
        if (!hub) return;
        const link = this.makeLink(await hub.iceServers(), (sdp) => sender.offerMade(sdp));
        await link.offer();
        return;
      }
      case "apply_answer":
        await this.link?.applyAnswer(step.sdp);
        return;
      case "add_candidates":
        this.addCandidates(step.candidates);
        return;
      case "send_image":
        // Outside the event queue: the receiver's progress frames must be heard while this runs.
        void this.sendImage(sender).catch((error: unknown) => {
          this.enqueue((m) => {
            m.fail(error);
          });
        });
        return;
      default:
        return;
    }
  }

  private async sendImage(sender: SenderMachine): Promise<void> {
    for (let frame = await sender.nextFrame(); frame; frame = await sender.nextFrame()) {
      if (sender.finished) return;
      await this.sendFrame(frame);
      // The machine's stall deadline moves on; a timer set before fires early and is set again.
      sender.frameSent(Date.now());
    }
  }
}

export interface ReceiverOptions {
  room: string;
  secret: Uint8Array;
  /** The receiver's name: sent to the sender and stamped on the image. */
  name: string;
  hubUrl?: string;
  /** Turns the received bytes into a picture (default: `createImageBitmap`). */
  decode?: (bytes: Uint8Array<ArrayBuffer>, type: string) => Promise<DropPicture>;
  onState: (state: ReceiverState) => void;
}

/** Decodes an image into a bitmap, honouring its EXIF orientation. */
export async function decodePicture(bytes: Uint8Array<ArrayBuffer>, type: string): Promise<DropPicture> {
  const bitmap = await createImageBitmap(new Blob([bytes], { type }), { imageOrientation: "from-image" });
  return { bitmap, width: bitmap.width, height: bitmap.height };
}

/** The receiver: joins the room, proves it holds the link, receives the image, shows it once. */
export class DropReceiver extends DropSession<ReceiverState, ReceiverMachine> {
  private readonly decode: (bytes: Uint8Array<ArrayBuffer>, type: string) => Promise<DropPicture>;

  private constructor(options: ReceiverOptions) {
    super({ phase: "connecting", step: "hub" }, options.onState);
    this.decode = options.decode ?? decodePicture;
  }

  /** Starts receiving (call only once the person confirmed: joining the room uses the drop up). */
  static start(options: ReceiverOptions): DropReceiver {
    const receiver = new DropReceiver(options);
    if (wasViewed(options.room)) {
      const message = "You already viewed this drop. It can be viewed only once.";
      receiver.report({ phase: "ended", reason: "already_viewed", message });
      return receiver;
    }
    void receiver.run(options).catch((error: unknown) => {
      if (receiver.machine) {
        receiver.enqueue((m) => {
          m.fail(error);
        });
      } else {
        const text = error instanceof Error ? error.message : String(error);
        receiver.report({ phase: "ended", reason: "failed", message: `Something went wrong: ${text}` });
      }
    });
    return receiver;
  }

  /** The page drew the picture: the countdown starts now (once). */
  shown(): void {
    this.enqueue((m) => {
      m.shown(Date.now());
    });
  }

  /** The receiver closes the picture before the countdown ends: it counts as viewed. */
  done(): void {
    this.enqueue((m) => {
      m.closePicture();
    });
  }

  /** The page could not show the picture. */
  notShown(message: string): void {
    this.enqueue((m) => {
      m.notShown(message);
    });
  }

  /** The receiver leaves early: the image is wiped. */
  cancel(): void {
    this.cancelNow();
  }

  private async run(options: ReceiverOptions): Promise<void> {
    const machine = await ReceiverMachine.create({
      room: options.room,
      secret: options.secret,
      name: options.name,
      ephemeral: await generateEphemeral(),
      timing: pageTiming,
    });
    await this.begin(machine);
    if (machine.finished) return;
    const hub = await HubClient.connect(options.hubUrl ?? sameOriginHubUrl(), { profile: {} });
    if (this.stopped) {
      hub.close();
      return;
    }
    this.hub = hub;
    this.ns = `room:${options.room}`;
    this.listen(hub);
    let joined: Record<string, unknown>;
    try {
      joined = await hub.request({ type: "join", ns: this.ns });
    } catch (error) {
      if (error instanceof HubError && error.code === "no_such_room") {
        this.enqueue(() => {
          machine.noSuchRoom();
        });
        return;
      }
      throw error;
    }
    const peers = Array.isArray(joined["peers"]) ? (joined["peers"] as { peer?: unknown }[]) : [];
    const ids = peers.map((p) => p.peer).filter((p): p is string => typeof p === "string");
    this.enqueue(() => machine.joined(ids, Date.now()));
  }

  protected async rtc(receiver: ReceiverMachine, step: RtcStep): Promise<void> {
    switch (step.kind) {
      case "answer": {
        const hub = this.hub;
        if (this.link || !hub) return;
        const link = this.makeLink(await hub.iceServers(), (sdp) => receiver.answerMade(sdp));
        await link.answer(step.sdp);
        return;
      }
      case "add_candidates":
        this.addCandidates(step.candidates);
        return;
      case "decode": {
        let picture: DropPicture;
        try {
          picture = await this.decode(step.image, step.type);
        } catch {
          receiver.notShown("it is damaged, or in a format this browser cannot display.");
          return;
        } finally {
          wipe(step.image);
        }
        receiver.pictureReady(picture);
        return;
      }
      default:
        return;
    }
  }
}
