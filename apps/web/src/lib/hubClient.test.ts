import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";
import { BEACON_CLOSE_CODE, HubClient, HubError, fetchBeacon, hubAuthMessage, hubOrigin } from "./hubClient.ts";

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
  /** Every request after hello and auth, as sent. */
  readonly sent: Record<string, unknown>[] = [];
  /** What `joined` lists (a peer twice, as in two network namespaces). */
  peers: Record<string, unknown>[] = [];
  /** Swallow joins instead of answering them (the hub is about to close the socket). */
  silent = false;
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
    } else {
      this.sent.push(message);
      if (this.silent) return;
      if (message["type"] === "join") {
        this.reply({ type: "joined", rid: message["rid"], ns: message["ns"], peers: this.peers });
      } else if (message["type"] === "contacts") {
        const ids = message["ids"] as string[];
        this.reply({ type: "contacts_set", rid: message["rid"], count: new Set(ids).size });
      }
    }
  }

  close(code = 1000, reason = "bye"): void {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
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

/** A hub's `GET /v1/beacon` in place of `fetch`: records the URLs asked, answers with `token`. */
function stubBeacon(token: string, status = 200) {
  const asked: string[] = [];
  vi.stubGlobal("fetch", (url: string) => {
    asked.push(url);
    const body =
      status === 200
        ? { token, slot_secs: 600, expires_in_secs: 900, alt_origins: ["http://[::1]:7800"] }
        : { error: "foreign_origin", message: "beacon tokens are for pages of this hub, not of https://spam.example" };
    return Promise.resolve(new Response(JSON.stringify(body), { status }));
  });
  return asked;
}

async function connected(options: Parameters<typeof HubClient.connect>[1] = {}) {
  vi.stubGlobal("WebSocket", FakeSocket);
  const client = await HubClient.connect("ws://127.0.0.1:7800/v1/ws", options);
  const socket = FakeSocket.last;
  if (!socket) throw new Error("no socket was opened");
  return { client, socket };
}

describe("joining the namespaces Chat uses", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("adds this page's beacon token to a join of network or rv:, fetched once while it is good", async () => {
    vi.stubGlobal("location", { origin: "http://127.0.0.1:7800" });
    const asked = stubBeacon("b1.3000000.AAAAAAAAAAAAAAAAAAAAAA");
    const { client, socket } = await connected();
    await client.join("rv:abc");
    // Gallery joins its rv: name through request(): it gets the token too.
    await client.request({ type: "join", ns: "rv:gallery" });
    await client.join("room:xyz");
    expect(socket.sent).toEqual([
      { type: "join", rid: 1, ns: "rv:abc", beacon: "b1.3000000.AAAAAAAAAAAAAAAAAAAAAA" },
      { type: "join", rid: 2, ns: "rv:gallery", beacon: "b1.3000000.AAAAAAAAAAAAAAAAAAAAAA" },
      { type: "join", rid: 3, ns: "room:xyz" },
    ]);
    expect(asked).toEqual([`http://127.0.0.1:7800/v1/beacon?origin=${encodeURIComponent("http://127.0.0.1:7800")}`]);
    client.close();
  });

  it("sends hidden and network proofs on a join of network and lists each peer once", async () => {
    stubBeacon("b1.1.x");
    const { client, socket } = await connected();
    socket.peers = [{ peer: "pa", profile: { app: "chat" } }, { peer: "pb" }, { peer: "pa", profile: { app: "chat" } }];
    const peers = await client.join("network", { hidden: true, also: ["n1.60.2001:db8:1:2::.mac"] });
    expect(socket.sent).toEqual([
      { type: "join", rid: 1, ns: "network", beacon: "b1.1.x", also: ["n1.60.2001:db8:1:2::.mac"], hidden: true },
    ]);
    expect(peers).toEqual([{ peer: "pa", profile: { app: "chat" } }, { peer: "pb" }]);
    // A token given is used as is; visible is the default and says nothing.
    await client.join("network", { beacon: "b1.2.y" });
    expect(socket.sent[1]).toEqual({ type: "join", rid: 2, ns: "network", beacon: "b1.2.y" });
    client.close();
  });

  it("fails a join the hub closes for its beacon with the beacon code and the hub's reason", async () => {
    stubBeacon("b1.1.stale");
    const { client, socket } = await connected();
    socket.silent = true;
    const join = client.join("network");
    await vi.waitFor(() => expect(socket.sent).toHaveLength(1));
    socket.close(BEACON_CLOSE_CODE, "stale beacon token: reload the page");
    const error = await join.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect((error as HubError).code).toBe("beacon");
    expect((error as HubError).message).toContain("stale beacon token: reload the page");
    expect(client.closeCode).toBe(4012);
  });

  it("reports a refused beacon fetch as a beacon error", async () => {
    stubBeacon("", 403);
    const error = await fetchBeacon("ws://127.0.0.1:7800/v1/ws", "https://spam.example").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect((error as HubError).code).toBe("beacon");
    expect((error as HubError).message).toContain("not of https://spam.example");
  });
});

describe("contacts-only mode", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("logs in with allow contacts and replaces the contact list", async () => {
    const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const { client, socket } = await connected({
      signer: { id: "ANN", signingKey: keys.privateKey },
      allow: "contacts",
    });
    expect(socket.auth?.["allow"]).toBe("contacts");
    expect(await client.setContacts(["BEN", "CID", "BEN"])).toBe(2);
    expect(socket.sent).toEqual([{ type: "contacts", rid: 1, ids: ["BEN", "CID", "BEN"] }]);
    client.close();
  });

  it("sends no allow for the default", async () => {
    const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const { client, socket } = await connected({ signer: { id: "ANN", signingKey: keys.privateKey } });
    expect(socket.auth && "allow" in socket.auth).toBe(false);
    client.close();
  });
});
