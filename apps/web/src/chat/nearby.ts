/**
 * "On this network": turns the peers of the hub's anonymous `network` namespace into what the page
 * lists. A peer's chat profile (`{"app":"chat","v":1,"name","s","t"}`) is checked; a peer whose
 * `t` holds `tag(secret_C, s)` for a saved contact C is shown once, as C, and never again as a
 * stranger (`mergeNearby`). Everyone else is a stranger: a name and a short id of its per-session
 * hub peer id, which says nothing from one session to the next. The tag is only a hint: the
 * identity proof on connect decides (a squatter can replay C's profile).
 */
import { validName } from "./protocol.ts";
import { NEARBY_TAGS, nearbyTag } from "./crypto.ts";
import type { HubPeer } from "../lib/hubClient.ts";

/** A valid chat nearby profile. */
export interface NearbyProfile {
  name: string;
  s: string;
  t: string[];
}

/** One line of "On this network". */
export interface NearbyEntry {
  /** The hub peer id (per connection). */
  peer: string;
  name: string;
  /** A short form of the peer id, for telling two strangers of one name apart. */
  shortId: string;
  /** The saved contact this peer's tag names, if any. */
  contact?: string;
}

/** The profile of a chat peer, or `undefined` for anything else (another app, a malformed one). */
export function parseNearbyProfile(profile: unknown): NearbyProfile | undefined {
  if (typeof profile !== "object" || profile === null) return undefined;
  const p = profile as Record<string, unknown>;
  const { name, s, t } = p;
  if (p["app"] !== "chat" || p["v"] !== 1) return undefined;
  if (typeof name !== "string" || !validName(name)) return undefined;
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]{22}$/.test(s)) return undefined;
  if (!Array.isArray(t) || t.length !== NEARBY_TAGS) return undefined;
  if (!t.every((tag): tag is string => typeof tag === "string" && /^[0-9a-f]{8}$/.test(tag))) return undefined;
  return { name, s, t };
}

/** The short id shown beside a stranger's name. */
export function shortId(peer: string): string {
  return peer.replace(/[^A-Za-z0-9]/g, "").slice(-6);
}

/**
 * The nearby list: chat peers only, each once, contacts recognised by their tags. A contact that
 * two peers claim (one of them replays the other's profile) is shown for each: only connecting
 * tells which is real, and the list must not hide either.
 */
export async function mergeNearby(
  peers: readonly HubPeer[],
  contacts: readonly { id: string; secret: Uint8Array }[],
  self: string | undefined,
): Promise<NearbyEntry[]> {
  const seen = new Set<string>();
  const out: NearbyEntry[] = [];
  for (const peer of peers) {
    if (peer.peer === self || seen.has(peer.peer)) continue;
    seen.add(peer.peer);
    const profile = parseNearbyProfile(peer.profile);
    if (!profile) continue;
    let contact: string | undefined;
    for (const c of contacts) {
      if (profile.t.includes(await nearbyTag(c.secret, profile.s))) {
        contact = c.id;
        break;
      }
    }
    out.push({
      peer: peer.peer,
      name: profile.name,
      shortId: shortId(peer.peer),
      ...(contact === undefined ? {} : { contact }),
    });
  }
  return out;
}
