import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import { HubClient, HubError, hubAuthMessage, hubOrigin } from "./hubClient.ts";

describe("the hub's origin in a login", () => {
  it("is what the browser names for the hub URL (the cases of the Rust hub and node client)", () => {
    const cases: [string, string | undefined][] = [
      ["wss://hub.example.org/v1/ws", "https://hub.example.org"],
      ["wss://Hub.Example.ORG:443/v1/ws", "https://hub.example.org"],
      ["wss://hub.example.org:8443/v1/ws", "https://hub.example.org:8443"],
      ["ws://127.0.0.1:7800/v1/ws", "http://127.0.0.1:7800"],
      ["ws://127.0.0.1:80/v1/ws", "http://127.0.0.1"],
      ["ws://[::1]:7800/v1/ws", "http://[::1]:7800"],
      ["https://hub.example.org/", "https://hub.example.org"],
      ["http://hub.example.org:8080", "http://hub.example.org:8080"],
      ["ftp://hub.example.org/", undefined],
      ["/v1/ws", undefined],
      ["not a url", undefined],
    ];
    for (const [url, origin] of cases) {
      if (origin === undefined) expect(() => hubOrigin(url), url).toThrow(HubError);
      else expect(hubOrigin(url), url).toBe(origin);
    }
    expect(hubAuthMessage("https://hub.example.org", "Y2hhbGxlbmdl")).toBe(
      "p2pos-hub-auth-v2|https://hub.example.org|Y2hhbGxlbmdl",
    );
  });
});

/** A hub on the other end of a fake WebSocket: says welcome, and records the auth it gets. */
class FakeSocket extends EventTarget {
  static readonly OPEN = 1;
  static last: FakeSocket | undefined;
  readonly url: string;
  readyState = 0;
  auth: Record<string, unknown> | undefined;
  readonly challenge = "Y2hhbGxlbmdlIGZvciB0aGlzIGNvbm5lY3Rpb24=";

  constructor(url: string) {
    super();
    this.url = new URL(url).href;
    FakeSocket.last = this;
    queueMicrotask(() => {
      this.readyState = FakeSocket.OPEN;
      this.dispatchEvent(new Event("open"));
    });
  }

  send(data: string): void {
    const message = JSON.parse(data) as Record<string, unknown>;
    if (message["type"] === "hello") {
      this.reply({ type: "welcome", v: 1, peer: "pfake", challenge: this.challenge, limits: {} });
    } else if (message["type"] === "auth") {
      this.auth = message;
      this.reply({ type: "authed", rid: message["rid"], id: message["id"] });
    }
  }

  close(): void {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event("close"), { code: 1000, reason: "bye" }));
  }

  private reply(message: Record<string, unknown>): void {
    queueMicrotask(() => this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(message) })));
  }
}

describe("logging in at the hub", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("signs the challenge for the origin of the hub this browser connected to, and nothing else", async () => {
    vi.stubGlobal("WebSocket", FakeSocket);
    const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const client = await HubClient.connect("ws://Hub.Test:7800/v1/ws", {
      signer: { id: "ALICE", signingKey: keys.privateKey },
    });
    expect(client.identity).toBe("ALICE");
    const socket = FakeSocket.last;
    if (!socket) throw new Error("no socket was opened");
    const sig = decodeBase64(String(socket.auth?.["sig"]));
    const verifies = (text: string) => crypto.subtle.verify({ name: "Ed25519" }, keys.publicKey, sig, utf8Encode(text));
    expect(await verifies(`p2pos-hub-auth-v2|http://hub.test:7800|${socket.challenge}`)).toBe(true);
    // What a rogue hub relaying this challenge to a real hub would need: not what was signed.
    expect(await verifies(`p2pos-hub-auth-v2|https://hub.example.org|${socket.challenge}`)).toBe(false);
    expect(await verifies(`p2pos-hub-auth-v1|${socket.challenge}`)).toBe(false);
    client.close();
  });
});
