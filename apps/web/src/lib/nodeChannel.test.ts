import { describe, expect, it } from "vitest";
import {
  ChannelError,
  bindingMessage,
  decodeFrame,
  encodeFrame,
  normalizeFingerprint,
  sdpFingerprint,
} from "./nodeChannel.ts";
import { vaultLinkThroughHub } from "./hubClient.ts";

const FP = "sha-256 0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9";
const sdp = (...fps: string[]) =>
  ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", ...fps.map((fp) => `a=fingerprint:${fp}`), ""].join("\r\n");

describe("carrier frames", () => {
  it("round-trip kind, id and body, as the node's carrier.rs lays them out", () => {
    const frame = encodeFrame(2, 0x01020304, new Uint8Array([9, 8, 7]));
    expect([...frame]).toEqual([2, 1, 2, 3, 4, 9, 8, 7]);
    const decoded = decodeFrame(frame.buffer);
    expect(decoded.kind).toBe(2);
    expect(decoded.id).toBe(0x01020304);
    expect([...decoded.body]).toEqual([9, 8, 7]);
  });

  it("refuse messages that are not frames", () => {
    expect(() => decodeFrame(new Uint8Array([1, 0, 0]).buffer)).toThrow(ChannelError);
    expect(() => decodeFrame(new Uint8Array(64 * 1024 + 1).buffer)).toThrow(ChannelError);
  });
});

describe("DTLS fingerprint binding", () => {
  it("normalises fingerprints the way the node signs them", () => {
    expect(normalizeFingerprint(FP)).toBe(
      FP.replace("sha-256 ", "sha-256 ").toUpperCase().replace("SHA-256", "sha-256"),
    );
    expect(sdpFingerprint(sdp(FP, FP))).toBe(normalizeFingerprint(FP));
    expect(bindingMessage("A", "B", "sha-256 X")).toBe("p2pos-rtc-v1|A|B|sha-256 X");
  });

  it("refuses an SDP with no fingerprint, two, or another algorithm", () => {
    expect(() => sdpFingerprint(sdp())).toThrow(/0 DTLS fingerprints/);
    expect(() => sdpFingerprint(sdp(FP, FP.replace("0a:1b", "ff:1b")))).toThrow(/2 DTLS fingerprints/);
    expect(() => normalizeFingerprint("sha-1 0A:1B")).toThrow(/Unsupported/);
    expect(() => normalizeFingerprint("sha-256 0A:1B")).toThrow(/Malformed/);
  });
});

describe("the vault link through the hub", () => {
  it("turns the node's hub URL into the hub's web page for that node", () => {
    expect(vaultLinkThroughHub("wss://hub.example.org/v1/ws", "AB CD")).toBe("https://hub.example.org/?node=AB%20CD");
    expect(vaultLinkThroughHub("ws://127.0.0.1:7700/v1/ws", "X")).toBe("http://127.0.0.1:7700/?node=X");
    expect(vaultLinkThroughHub("wss://example.org/hub/v1/ws", "X")).toBe("https://example.org/hub/?node=X");
    expect(vaultLinkThroughHub("https://hub.example.org", "X")).toBeUndefined();
    expect(vaultLinkThroughHub("not a url", "X")).toBeUndefined();
  });
});
