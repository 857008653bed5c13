import { describe, expect, it } from "vitest";
import {
  BUFFERED_HIGH,
  BUFFERED_LOW,
  CANDIDATE_BATCH_MS,
  CONNECT_TIMEOUT_MS,
  IceFlow,
  LinkError,
  MAX_WAITING_CANDIDATES,
  checkSignedFingerprint,
  hasRoom,
  normalizeFingerprint,
  pathFromStats,
  relayNote,
  sdpFingerprint,
  sdpFingerprints,
  signIdentityBinding,
  splitCandidates,
  verifyIdentityBinding,
} from "./peerLink.ts";
import { encodeReadableId } from "./readableId.ts";

const FP = "sha-256 0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9";
const FP_NORMAL = `sha-256 ${FP.slice("sha-256 ".length).toUpperCase()}`;
const sdpWith = (...fps: string[]) =>
  ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", ...fps.map((fp) => `a=fingerprint:${fp}`), ""].join("\r\n");
const cand = (n: number): RTCIceCandidateInit => ({
  candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5${n}000 typ host`,
  sdpMid: "0",
  sdpMLineIndex: 0,
});

describe("DTLS fingerprints", () => {
  it("normalise to `sha-256 AB:CD:…`, the form every binding signs", () => {
    expect(normalizeFingerprint(FP)).toBe(FP_NORMAL);
    expect(normalizeFingerprint(`  SHA-256   ${FP.slice(8)} `)).toBe(FP_NORMAL);
  });

  it("refuse another algorithm, a short value, or extra words", () => {
    expect(() => normalizeFingerprint("sha-1 0A:1B")).toThrow(/Unsupported/);
    expect(() => normalizeFingerprint("sha-256 0A:1B")).toThrow(/Malformed/);
    expect(() => normalizeFingerprint(`${FP} extra`)).toThrow(/Malformed/);
    expect(() => normalizeFingerprint(FP.replace("0a:", "0g:"))).toThrow(LinkError);
  });

  it("read the one fingerprint of an SDP; the same one twice counts once", () => {
    expect(sdpFingerprint(sdpWith(FP))).toBe(FP_NORMAL);
    expect(sdpFingerprint(sdpWith(FP, FP.toUpperCase().replace("SHA", "sha")))).toBe(FP_NORMAL);
    expect(sdpFingerprints(sdpWith())).toEqual([]);
  });

  it("refuse an SDP with none, or two different ones", () => {
    expect(() => sdpFingerprint(sdpWith())).toThrow(/0 DTLS fingerprints/);
    expect(() => sdpFingerprint(sdpWith(FP, FP.replace("0a:1b", "ff:1b")))).toThrow(/2 DTLS fingerprints/);
    try {
      sdpFingerprint(sdpWith());
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LinkError);
      expect((error as LinkError).kind).toBe("binding");
    }
  });

  it("check that a signed fingerprint is the SDP's", () => {
    expect(() => checkSignedFingerprint(FP.toUpperCase().replace("SHA", "sha"), sdpWith(FP))).not.toThrow();
    expect(() => checkSignedFingerprint(FP.replace("0a:1b", "ff:1b"), sdpWith(FP))).toThrow(/another certificate/);
  });
});

describe("identity binding", () => {
  it("verifies the identity's signature over the binding text, and nothing else", async () => {
    const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const id = encodeReadableId(new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey)));
    const other = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const otherId = encodeReadableId(new Uint8Array(await crypto.subtle.exportKey("raw", other.publicKey)));
    const text = `p2pos-chat-v1|${id}|${otherId}|${FP_NORMAL}|${FP_NORMAL}`;
    const sig = await signIdentityBinding(keys.privateKey, text);
    expect(sig.length).toBe(64);
    expect(await verifyIdentityBinding(id, text, sig)).toBe(true);
    expect(await verifyIdentityBinding(otherId, text, sig)).toBe(false);
    expect(await verifyIdentityBinding(id, text.replace("0A:1B", "FF:1B"), sig)).toBe(false);
  });
});

describe("candidates inside an SDP", () => {
  it("are taken out with their section's mid and index, the rest kept as it was", () => {
    const sdp = [
      "v=0",
      "o=- 1 1 IN IP4 0.0.0.0",
      "s=-",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host",
      "a=mid:a0",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "a=mid:1",
      "a=candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 0",
      "a=end-of-candidates",
      "a=sctp-port:5000",
      "",
    ].join("\r\n");
    const split = splitCandidates(sdp);
    expect(split.candidates).toEqual([
      { candidate: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host", sdpMid: "a0", sdpMLineIndex: 0 },
      {
        candidate: "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 0",
        sdpMid: "1",
        sdpMLineIndex: 1,
      },
    ]);
    expect(split.sdp).toBe(
      [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:a0",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=mid:1",
        "a=sctp-port:5000",
        "",
      ].join("\r\n"),
    );
    expect(split.sdp).not.toMatch(/192\.0\.2|198\.51\.100/);
  });

  it("leave an SDP without candidates unchanged", () => {
    const sdp = sdpWith(FP);
    expect(splitCandidates(sdp)).toEqual({ sdp, candidates: [] });
  });
});

describe("ICE candidate flow", () => {
  it("batches this side's candidates over one window that opens with the first", () => {
    const flow = new IceFlow({ batchMs: 100 });
    flow.describedLocal();
    expect(flow.pollTimeout()).toBeUndefined();
    flow.gathered(cand(1), 1000);
    flow.gathered(cand(2), 1040);
    expect(flow.pollTimeout()).toBe(1100);
    expect(flow.pollBatch(1099)).toBeUndefined();
    expect(flow.pollBatch(1100)).toEqual([cand(1), cand(2)]);
    expect(flow.pollBatch(1200)).toBeUndefined();
    // A later candidate opens a new window.
    flow.gathered(cand(3), 1300);
    expect(flow.pollTimeout()).toBe(1400);
    expect(flow.pollBatch(1400)).toEqual([cand(3)]);
  });

  it("sends what waits at once when gathering is complete", () => {
    const flow = new IceFlow();
    flow.describedLocal();
    flow.gathered(cand(1), 0);
    expect(flow.pollTimeout()).toBe(CANDIDATE_BATCH_MS);
    flow.gatheringComplete(10);
    expect(flow.pollBatch(10)).toEqual([cand(1)]);
    flow.gatheringComplete(20); // nothing waits: nothing to send
    expect(flow.pollTimeout()).toBeUndefined();
  });

  it("never sends a candidate before this side's description went out", () => {
    const flow = new IceFlow({ batchMs: 30 });
    flow.gathered(cand(1), 0);
    flow.gathered(cand(2), 5);
    expect(flow.pollTimeout()).toBeUndefined();
    expect(flow.pollBatch(1000)).toBeUndefined();
    flow.describedLocal();
    expect(flow.pollTimeout()).toBe(30); // overdue: goes at the next poll
    expect(flow.pollBatch(1000)).toEqual([cand(1), cand(2)]);
  });

  it("keeps the peer's candidates until the remote description is set", () => {
    const flow = new IceFlow();
    expect(flow.received([cand(1), cand(2)])).toEqual([]);
    expect(flow.remoteDescribed()).toEqual([cand(1), cand(2)]);
    expect(flow.received([cand(3)])).toEqual([cand(3)]);
    expect(flow.remoteDescribed()).toEqual([]);
  });

  it("bounds the peer's waiting candidates", () => {
    const flow = new IceFlow();
    const many = Array.from({ length: MAX_WAITING_CANDIDATES + 5 }, (_, n) => cand(n));
    flow.received(many);
    expect(flow.dropped).toBe(5);
    expect(flow.remoteDescribed()).toHaveLength(MAX_WAITING_CANDIDATES);
  });

  it("while held, moves no candidate either way until the app releases it", () => {
    const flow = new IceFlow({ batchMs: 50, hold: true });
    expect(flow.holding).toBe(true);
    flow.describedLocal();
    flow.gathered(cand(1), 0);
    flow.gatheringComplete(1);
    expect(flow.pollTimeout()).toBeUndefined();
    expect(flow.pollBatch(10_000)).toBeUndefined();
    expect(flow.received([cand(7)])).toEqual([]);
    expect(flow.remoteDescribed()).toEqual([]);
    expect(flow.received([cand(8)])).toEqual([]);
    expect(flow.release()).toEqual([cand(7), cand(8)]);
    expect(flow.holding).toBe(false);
    expect(flow.pollBatch(10_000)).toEqual([cand(1)]);
    expect(flow.received([cand(9)])).toEqual([cand(9)]);
  });

  it("released before the remote description, still waits for it", () => {
    const flow = new IceFlow({ hold: true });
    flow.received([cand(1)]);
    expect(flow.release()).toEqual([]);
    expect(flow.remoteDescribed()).toEqual([cand(1)]);
  });
});

describe("one set of link defaults", () => {
  it("back-pressure pauses at 1 MiB buffered and resumes at 256 KiB", () => {
    expect(BUFFERED_HIGH).toBe(1024 * 1024);
    expect(BUFFERED_LOW).toBe(256 * 1024);
    expect(hasRoom(0)).toBe(true);
    expect(hasRoom(BUFFERED_LOW)).toBe(true);
    expect(hasRoom(BUFFERED_HIGH - 1)).toBe(true);
    expect(hasRoom(BUFFERED_HIGH)).toBe(false);
    expect(hasRoom(BUFFERED_HIGH + 64 * 1024)).toBe(false);
  });

  it("a link not open after 25 s is given up; candidates go in 100 ms batches", () => {
    expect(CONNECT_TIMEOUT_MS).toBe(25_000);
    expect(CANDIDATE_BATCH_MS).toBe(100);
  });
});

describe("the path from a stats report", () => {
  type Kind = "host" | "srflx" | "prflx" | "relay";
  const report = (local: Kind, remote: Kind, extra: { id: string; type: string; [key: string]: unknown }[] = []) => [
    { id: "T1", type: "transport", selectedCandidatePairId: "CP1" },
    { id: "CP1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1" },
    { id: "L1", type: "local-candidate", candidateType: local, address: "10.0.0.2", port: 50_000 },
    { id: "R1", type: "remote-candidate", candidateType: remote, address: "10.0.0.3", port: 50_001 },
    ...extra,
  ];

  it("is the weaker side of the selected pair", () => {
    expect(pathFromStats(report("host", "host"))).toBe("host");
    expect(pathFromStats(report("srflx", "host"))).toBe("srflx");
    expect(pathFromStats(report("host", "srflx"))).toBe("srflx");
    expect(pathFromStats(report("prflx", "host"))).toBe("prflx");
    expect(pathFromStats(report("srflx", "prflx"))).toBe("srflx");
    expect(pathFromStats(report("relay", "host"))).toBe("relay");
    expect(pathFromStats(report("srflx", "relay"))).toBe("relay");
  });

  it("counts a peer-reflexive candidate at a host candidate's address and port as host", () => {
    const hostTwin = { id: "R2", type: "remote-candidate", candidateType: "host", address: "10.0.0.3", port: 50_001 };
    expect(pathFromStats(report("host", "prflx", [hostTwin]))).toBe("host");
    // The twin on the other side, or at another port, does not count.
    expect(pathFromStats(report("host", "prflx", [{ ...hostTwin, type: "local-candidate" }]))).toBe("prflx");
    expect(pathFromStats(report("host", "prflx", [{ ...hostTwin, port: 50_002 }]))).toBe("prflx");
  });

  it("takes a pair marked selected when the transport names none", () => {
    const stats = report("relay", "host").map((entry) =>
      entry.type === "transport"
        ? { id: "T1", type: "transport" }
        : entry.id === "CP1"
          ? { ...entry, selected: true }
          : entry,
    );
    expect(pathFromStats(stats)).toBe("relay");
  });

  it("is unknown before a pair is selected", () => {
    expect(pathFromStats([])).toBeUndefined();
    expect(pathFromStats(report("host", "host").filter((entry) => entry.type !== "transport"))).toBeUndefined();
    expect(pathFromStats([{ id: "T1", type: "transport", selectedCandidatePairId: "gone" }])).toBeUndefined();
  });
});

describe("relayNote", () => {
  it("says what the relay did when ICE failed: an address, a refusal, or nothing", () => {
    expect(relayNote(1, ["401 Unauthorized"])).toBe(" (the relay gave an address, but no check through it succeeded)");
    expect(relayNote(0, ["401 Unauthorized", "508 Insufficient Capacity"])).toBe(
      " (the relay refused: 401 Unauthorized; 508 Insufficient Capacity)",
    );
    expect(relayNote(0, [])).toBe("");
  });
});
