import { describe, expect, it } from "vitest";
import type { PeerSummary, Placement, ReplicationStatus } from "../lib/apiTypes.ts";
import {
  albumPhotoKey,
  albumPlacementCounts,
  placementCountsOf,
  placementTally,
  albumSummary,
  backlogWords,
  catchUpWords,
  formatAgo,
  pathWords,
  peerHealth,
  peerViews,
  placementMark,
  placementState,
  placementsByPhoto,
  placementWords,
  storedHere,
} from "./replicationView.ts";

const OAK = "OAKOAKO-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA";
const PINE = "PINEPIN-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA";

function peer(fields: Partial<PeerSummary> = {}): PeerSummary {
  return {
    node: PINE,
    name: "Pine",
    base_url: "http://127.0.0.1:7001",
    online: true,
    path: "host",
    last_sync_ms_ago: 1200,
    backlog: 0,
    blobs_missing_there: 0,
    last_error: null,
    ...fields,
  };
}

const at = (
  node: string,
  name: string,
  state: string,
  error: string | null = null,
  lastAttempt: number | null = null,
): Placement => ({
  node,
  name,
  state,
  error,
  last_attempt_ms_ago: lastAttempt,
});

describe("peer health", () => {
  it("is green when online with nothing missing", () => {
    expect(peerHealth(peer())).toEqual({
      colour: "green",
      label: "Up to date",
      detail: "Online and up to date.",
    });
  });

  it("is amber while catching up, and says what is left", () => {
    expect(peerHealth(peer({ backlog: 12, blobs_missing_there: 3 }))).toMatchObject({
      colour: "amber",
      label: "Catching up",
      detail: "Online, catching up: 12 records, 3 photo files to go.",
    });
    expect(peerHealth(peer({ blobs_missing_there: 1 })).detail).toBe("Online, catching up: 1 photo file to go.");
    expect(peerHealth(peer({ backlog: 1 })).detail).toBe("Online, catching up: 1 record to go.");
  });

  it("is red when offline (the node's reason is shown beside it)", () => {
    const health = peerHealth(
      peer({ online: false, path: null, last_error: "no path to Pine: WebRTC: timed out; HTTP: connection refused" }),
    );
    expect(health.colour).toBe("red");
    expect(health.label).toBe("Offline");
    expect(health.detail).toBe(
      "Cannot reach it: it may be switched off or cut off from the network. This node keeps trying.",
    );
    // The relay cases name the relay: the node says so by the error's kind, not its words.
    const noRelay = peerHealth(
      peer({
        online: false,
        path: null,
        last_error: "unreachable: no path to Pine: WebRTC: refused by the peer",
        last_error_kind: "relay_unavailable",
      }),
    );
    expect(noRelay).toMatchObject({ colour: "red", label: "No path: relay unavailable" });
    expect(noRelay.detail).toMatch(/resumes on its own when the relay is back/);
    expect(
      peerHealth(peer({ online: false, last_error: "connection lost", last_error_kind: "relay_lost" })).label,
    ).toBe("Relay lost");
    // The words alone decide nothing: an error that mentions the relay but is of another kind is "Offline".
    expect(
      peerHealth(peer({ online: false, last_error: "relay unavailable, stopped relaying", last_error_kind: "broken" }))
        .label,
    ).toBe("Offline");
    // Offline after a sync that worked, with no error recorded: still red.
    expect(peerHealth(peer({ online: false, last_error: null })).colour).toBe("red");
  });

  it("is amber, not red, before the first sync was even tried", () => {
    expect(peerHealth(peer({ online: false, path: null, last_sync_ms_ago: null, last_error: null }))).toMatchObject({
      colour: "amber",
      label: "Connecting",
    });
  });
});

describe("words", () => {
  it("name the path by how direct it is", () => {
    expect(pathWords("host")).toBe("direct (same network)");
    expect(pathWords("srflx")).toBe("direct (through NAT)");
    expect(pathWords("prflx")).toBe("direct (through NAT)");
    expect(pathWords("relay")).toBe("relayed (TURN)");
    expect(pathWords("http")).toBe("HTTP");
    expect(pathWords(null)).toBe("not connected");
    expect(pathWords(undefined)).toBe("not connected");
    expect(pathWords("quic")).toBe("quic");
  });

  it("say how long ago", () => {
    expect(formatAgo(null)).toBe("never");
    expect(formatAgo(undefined)).toBe("never");
    expect(formatAgo(0)).toBe("just now");
    expect(formatAgo(999)).toBe("just now");
    expect(formatAgo(4_200)).toBe("4 s ago");
    expect(formatAgo(59_999)).toBe("59 s ago");
    expect(formatAgo(60_000)).toBe("1 min ago");
    expect(formatAgo(3_599_000)).toBe("59 min ago");
    expect(formatAgo(2 * 3_600_000)).toBe("2 h ago");
    expect(formatAgo(24 * 3_600_000)).toBe("1 day ago");
    expect(formatAgo(5 * 24 * 3_600_000)).toBe("5 days ago");
    expect(formatAgo(-50)).toBe("just now");
  });

  it("say nothing is left when nothing is", () => {
    expect(catchUpWords(0, 0)).toBe("");
    expect(catchUpWords(2, 0)).toBe("2 records to go");
  });

  it("spell out the backlog in both directions", () => {
    expect(backlogWords(0, 0)).toBe("nothing");
    expect(backlogWords(12, 3)).toBe("12 records to read · it lacks 3 photo files");
    expect(backlogWords(1, 0)).toBe("1 record to read");
    expect(backlogWords(0, 1)).toBe("it lacks 1 photo file");
  });
});

describe("placements", () => {
  it("mark and describe each state", () => {
    expect(placementMark("ok")).toBe("✓");
    expect(placementMark("pending")).toBe("…");
    expect(placementMark("fetching")).toBe("…");
    expect(placementMark("failed")).toBe("✗");
    expect(placementWords(at(OAK, "Oak", "ok"))).toBe("Stored on Oak");
    expect(placementWords(at(PINE, "Pine", "pending"))).toBe("Not on Pine yet");
    expect(placementWords(at(PINE, "Pine", "fetching"))).toBe("Being copied to Pine");
    expect(placementWords(at(PINE, "Pine", "failed", "hash mismatch"))).toBe("Copying to Pine failed: hash mismatch");
    expect(placementWords(at(PINE, "Pine", "failed"))).toBe("Copying to Pine failed");
    expect(placementWords(at(PINE, "Pine", "failed", "hash mismatch", 12_000))).toBe(
      "Copying to Pine failed: hash mismatch (last try 12 s ago)",
    );
  });

  it("read an unknown state as pending", () => {
    expect(placementState({ state: "teleporting" })).toBe("pending");
  });

  const status: ReplicationStatus = {
    node: { node: OAK, name: "Oak" },
    peers: [peer()],
    photos: [
      { photo: "p3", album: "a1", nodes: [at(OAK, "Oak", "ok"), at(PINE, "Pine", "pending")] },
      { photo: "p1", album: "a1", nodes: [at(OAK, "Oak", "ok"), at(PINE, "Pine", "ok")] },
      { photo: "p2", album: "a1", nodes: [at(OAK, "Oak", "fetching"), at(PINE, "Pine", "ok")] },
      { photo: "q1", album: "a2", nodes: [at(OAK, "Oak", "ok"), at(PINE, "Pine", "ok")] },
    ],
  };

  it("are found by photo, and an album's photos make a key that changes when one arrives", () => {
    const byPhoto = placementsByPhoto(status);
    expect(byPhoto.get("p2")?.map((p) => p.state)).toEqual(["fetching", "ok"]);
    expect(albumPhotoKey(status, "a1")).toBe("p1,p2,p3");
    expect(albumPhotoKey(status, "a2")).toBe("q1");
    expect(albumPhotoKey(status, "nope")).toBe("");
  });

  it("say whether this node holds a photo", () => {
    const byPhoto = placementsByPhoto(status);
    expect(storedHere(byPhoto.get("p1"), OAK)).toBe(true);
    expect(storedHere(byPhoto.get("p2"), OAK)).toBe(false);
    expect(storedHere(byPhoto.get("missing"), OAK)).toBeUndefined();
    expect(storedHere(byPhoto.get("p1"), undefined)).toBeUndefined();
  });

  it("count per node for the album summary", () => {
    const byPhoto = placementsByPhoto(status);
    const counts = albumPlacementCounts(["p1", "p2", "p3", "p4"], byPhoto);
    expect(counts).toEqual([
      { node: OAK, name: "Oak", held: 2, total: 4 },
      { node: PINE, name: "Pine", held: 2, total: 4 },
    ]);
    expect(albumSummary(counts)).toBe("on Oak 2/4 · on Pine 2/4");
    expect(albumSummary(albumPlacementCounts([], byPhoto))).toBe("");
    // The same from listed photos carrying their placements.
    const listed = ["p1", "p2", "p3", "p4"].map((id) => ({ nodes: byPhoto.get(id) ?? [] }));
    expect(placementCountsOf(listed)).toEqual(counts);
    expect(placementCountsOf([])).toEqual([]);
  });

  it("tally a listing a page at a time as a full count would, after appends, changes and removals", () => {
    const byPhoto = placementsByPhoto(status);
    const item = (id: string) => ({ nodes: byPhoto.get(id) ?? [] });
    const tally = placementTally();
    let listed = [item("p1"), item("p2")];
    expect(tally(listed)).toEqual(placementCountsOf(listed));
    listed = [...listed, item("p3"), item("p4")];
    expect(tally(listed)).toEqual(placementCountsOf(listed));
    expect(tally(listed)).toEqual(placementCountsOf(listed)); // asked again: not counted twice
    // The same array grown in place (how a listing adds a page).
    listed.push(item("p1"));
    expect(tally(listed)).toEqual(placementCountsOf(listed));
    // A change replaces a photo's entry (new placements): counted again from the start.
    listed = [listed[0], { nodes: [] }, ...listed.slice(2)].filter((p) => p !== undefined);
    expect(tally(listed)).toEqual(placementCountsOf(listed));
    listed = listed.slice(1);
    expect(tally(listed)).toEqual(placementCountsOf(listed));
    expect(tally([])).toEqual([]);
  });
});

describe("peer views", () => {
  it("pair each enrolled peer with its status, or call it not reached yet", () => {
    const info = (node: string, name: string) => ({ node, name, base_url: null, added_ms: 1 });
    const nodes = { me: info(OAK, "Oak"), hub: "ws://hub/v1/ws", peers: [info(PINE, "Pine"), info("ELM", "Elm")] };
    const status: ReplicationStatus = { node: { node: OAK, name: "Oak" }, peers: [peer()], photos: [] };
    const views = peerViews(nodes, status);
    expect(views.map((v) => [v.info.name, peerHealth(v.summary).colour])).toEqual([
      ["Pine", "green"],
      ["Elm", "amber"],
    ]);
    const first = peerViews(nodes, undefined)[0];
    expect(first && peerHealth(first.summary).label).toBe("Connecting");
  });
});
