/**
 * Replication in words: a peer's health as a coloured dot and a sentence, the path it was reached
 * by, "4 s ago", where each photo is stored. Pure functions over `GET /v1/replication/status`, so
 * the Nodes page, the album grid and the viewer say the same thing (and the unit tests can check it).
 */
import type {
  Nodes,
  PeerInfo,
  PeerSummary,
  Placement,
  ReplicationErrorKind,
  ReplicationStatus,
} from "../lib/apiTypes.ts";

export type HealthColour = "green" | "amber" | "red";

export interface PeerHealth {
  colour: HealthColour;
  /** A short label: "Up to date", "Catching up", "Offline", "No path: relay unavailable", "Connecting". */
  label: string;
  /** What is going on, in a sentence. */
  detail: string;
}

/** Green: online and nothing missing; amber: online but catching up (or not reached yet); red: offline. */
export function peerHealth(peer: PeerSummary): PeerHealth {
  if (!peer.online) {
    if (!peer.last_error && peer.last_sync_ms_ago == null) {
      return { colour: "amber", label: "Connecting", detail: "Not reached yet: the first sync is under way." };
    }
    return offlineHealth(peer.last_error_kind ?? null);
  }
  const toGo = catchUpWords(peer.backlog, peer.blobs_missing_there);
  if (toGo) return { colour: "amber", label: "Catching up", detail: `Online, catching up: ${toGo}.` };
  return { colour: "green", label: "Up to date", detail: "Online and up to date." };
}

/**
 * Why a peer is out of reach, from the kind of the node's error (docs/NETWORKING.md; the error's
 * text is shown beside it, for people): the two relay cases get their own words, since the fix is
 * the operator's TURN server, not either house.
 */
function offlineHealth(kind: ReplicationErrorKind | null): PeerHealth {
  switch (kind) {
    case "relay_unavailable":
      return {
        colour: "red",
        label: "No path: relay unavailable",
        detail:
          "The two nodes can only reach each other through the relay (TURN), and it is not answering. " +
          "Replication resumes on its own when the relay is back.",
      };
    case "relay_lost":
      return {
        colour: "red",
        label: "Relay lost",
        detail: "The relay (TURN) that carried this connection stopped relaying. This node keeps trying.",
      };
    default:
      return {
        colour: "red",
        label: "Offline",
        detail: "Cannot reach it: it may be switched off or cut off from the network. This node keeps trying.",
      };
  }
}

/**
 * What is left to copy: "12 records, 3 photo files to go" (a photo is one or two files: the
 * original and its thumbnail), or "" when nothing is.
 */
export function catchUpWords(backlog: number, blobsMissing: number): string {
  const parts: string[] = [];
  if (backlog > 0) parts.push(plural(backlog, "record", "records"));
  if (blobsMissing > 0) parts.push(plural(blobsMissing, "photo file", "photo files"));
  return parts.length === 0 ? "" : `${parts.join(", ")} to go`;
}

export interface PeerView {
  info: PeerInfo;
  summary: PeerSummary;
}

/**
 * The enrolled peers (`GET /v1/nodes`) with how each is doing (`GET /v1/replication/status`); a
 * peer the status does not cover yet (just enrolled) is "not reached yet".
 */
export function peerViews(nodes: Nodes, status: ReplicationStatus | undefined): PeerView[] {
  return nodes.peers.map((info) => ({
    info,
    summary: status?.peers.find((p) => p.node === info.node) ?? {
      node: info.node,
      name: info.name,
      base_url: info.base_url ?? null,
      online: false,
      path: null,
      last_sync_ms_ago: null,
      backlog: 0,
      blobs_missing_there: 0,
      last_error: null,
      last_error_kind: null,
    },
  }));
}

/** A peer's backlog: "12 records to read · it lacks 3 photo files", or "nothing". */
export function backlogWords(backlog: number, blobsMissing: number): string {
  const parts: string[] = [];
  if (backlog > 0) parts.push(`${plural(backlog, "record", "records")} to read`);
  if (blobsMissing > 0) parts.push(`it lacks ${plural(blobsMissing, "photo file", "photo files")}`);
  return parts.length === 0 ? "nothing" : parts.join(" · ");
}

/** How a peer was reached (the ICE candidate type of the WebRTC connection, or HTTP). */
export function pathWords(path: string | null | undefined): string {
  switch (path) {
    case "host":
      return "direct (same network)";
    case "srflx":
    case "prflx":
      return "direct (through NAT)";
    case "relay":
      return "relayed (TURN)";
    case "http":
      return "HTTP";
    case null:
    case undefined:
    case "":
      return "not connected";
    default:
      return path;
  }
}

/** "just now", "4 s ago", "3 min ago", "2 h ago", "5 days ago"; "never" without a time. */
export function formatAgo(ms: number | null | undefined): string {
  if (ms == null) return "never";
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "1 day ago" : `${days} days ago`;
}

export type PlacementState = "ok" | "pending" | "fetching" | "failed";

/** The node's state word, with anything it does not know yet read as "pending". */
export function placementState(placement: Pick<Placement, "state">): PlacementState {
  switch (placement.state) {
    case "ok":
    case "pending":
    case "fetching":
    case "failed":
      return placement.state;
    default:
      return "pending";
  }
}

/** The badge's mark: ✓ stored, … on its way, ✗ failed. */
export function placementMark(state: PlacementState): string {
  switch (state) {
    case "ok":
      return "✓";
    case "pending":
    case "fetching":
      return "…";
    case "failed":
      return "✗";
  }
}

/** The badge in words, for its tooltip and for screen readers. */
export function placementWords(placement: Placement): string {
  switch (placementState(placement)) {
    case "ok":
      return `Stored on ${placement.name}`;
    case "pending":
      return `Not on ${placement.name} yet`;
    case "fetching":
      return `Being copied to ${placement.name}`;
    case "failed": {
      const when =
        placement.last_attempt_ms_ago == null ? "" : ` (last try ${formatAgo(placement.last_attempt_ms_ago)})`;
      return `Copying to ${placement.name} failed${placement.error ? `: ${placement.error}` : ""}${when}`;
    }
  }
}

/** Where each photo is stored, by photo id. */
export function placementsByPhoto(status: ReplicationStatus): Map<string, Placement[]> {
  return new Map(status.photos.map((p) => [p.photo, p.nodes]));
}

/** The ids of an album's photos the status knows, sorted and joined: changes when photos arrive. */
export function albumPhotoKey(status: ReplicationStatus, album: string): string {
  return status.photos
    .filter((p) => p.album === album)
    .map((p) => p.photo)
    .sort()
    .join(",");
}

/**
 * Whether this node holds a photo's files: true or false from the status, undefined when the
 * status does not say (not loaded yet, or the photo is newer than it).
 */
export function storedHere(
  placements: readonly Placement[] | undefined,
  here: string | undefined,
): boolean | undefined {
  const mine = placements?.find((p) => p.node === here);
  return mine ? placementState(mine) === "ok" : undefined;
}

export interface NodeCount {
  node: string;
  name: string;
  /** Photos it holds, of `total`. */
  held: number;
  total: number;
}

/**
 * Per node, how many of `photos` it holds, this node first and then in the status's order. Photos
 * the status does not know yet count as held nowhere.
 */
export function albumPlacementCounts(
  photos: readonly string[],
  byPhoto: ReadonlyMap<string, Placement[]>,
): NodeCount[] {
  const counts = new Map<string, NodeCount>();
  for (const photo of photos) {
    for (const placement of byPhoto.get(photo) ?? []) {
      let count = counts.get(placement.node);
      if (!count) {
        count = { node: placement.node, name: placement.name, held: 0, total: photos.length };
        counts.set(placement.node, count);
      }
      if (placementState(placement) === "ok") count.held++;
    }
  }
  return [...counts.values()];
}

/** The same counts from listed photos that carry their placements (one pass, no lookups). */
export function placementCountsOf(photos: readonly { nodes: readonly Placement[] }[]): NodeCount[] {
  const counts = new Map<string, NodeCount>();
  for (const photo of photos) {
    for (const placement of photo.nodes) {
      let count = counts.get(placement.node);
      if (!count) {
        count = { node: placement.node, name: placement.name, held: 0, total: photos.length };
        counts.set(placement.node, count);
      }
      if (placementState(placement) === "ok") count.held++;
    }
  }
  return [...counts.values()];
}

/**
 * `placementCountsOf` for a listing that grows a page at a time: each call counts only the photos
 * added at the end since the last (the same objects before them), and all of them otherwise (a
 * change replaced some). A page's arrival in a listing of 100,000 then costs a page, not a pass.
 */
export function placementTally(): (photos: readonly { nodes: readonly Placement[] }[]) => NodeCount[] {
  let counted: readonly { nodes: readonly Placement[] }[] = [];
  /** How many of `counted` were counted (the listing's array grows in place: albumPages.ts). */
  let upTo = 0;
  let held = new Map<string, { node: string; name: string; held: number }>();
  return (photos) => {
    const grown =
      photos.length >= upTo && (photos === counted || counted.slice(0, upTo).every((photo, i) => photos[i] === photo));
    if (!grown) held = new Map();
    for (const photo of photos.slice(grown ? upTo : 0)) {
      for (const placement of photo.nodes) {
        let count = held.get(placement.node);
        if (!count) {
          count = { node: placement.node, name: placement.name, held: 0 };
          held.set(placement.node, count);
        }
        if (placementState(placement) === "ok") count.held++;
      }
    }
    counted = photos;
    upTo = photos.length;
    return [...held.values()].map((c) => ({ ...c, total: photos.length }));
  };
}

/** "on Oak 5/5 · on Pine 3/5" (after the album's "5 items"). */
export function albumSummary(counts: readonly NodeCount[]): string {
  return counts.map((c) => `on ${c.name} ${c.held}/${c.total}`).join(" · ");
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
