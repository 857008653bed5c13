/**
 * Which vault a page opens, from its query: the node that served it (no query), one node through
 * the hub (`?node=<id>`, the node-specific link), or the family through the hub
 * (`?nodes=<id>,<id>,…`, the family link: whichever node answers first). Ids are checked here, so a
 * mistyped link says which id is wrong instead of waiting for a node that cannot exist.
 */
import { IdError, canonicalReadableId } from "./readableId.ts";

export type VaultEntry =
  { kind: "local" } | { kind: "remote"; nodes: string[]; relayOnly: boolean } | { kind: "invalid"; message: string };

/** A family link names at most this many nodes. */
export const MAX_LINK_NODES = 8;

export function vaultEntry(search: string): VaultEntry {
  const query = new URLSearchParams(search);
  const one = query.get("node");
  const many = query.get("nodes");
  if (one === null && many === null) return { kind: "local" };
  if (one !== null && many !== null) return invalid("The link names both one node and a family; use one of them.");
  const listed = (one !== null ? [one] : (many ?? "").split(",")).map((id) => id.trim()).filter((id) => id !== "");
  if (listed.length === 0) return invalid("The link names no node.");
  if (listed.length > MAX_LINK_NODES)
    return invalid(`The link names ${listed.length} nodes; at most ${MAX_LINK_NODES}.`);
  const nodes: string[] = [];
  for (const [index, id] of listed.entries()) {
    let canonical: string;
    try {
      canonical = canonicalReadableId(id);
    } catch (error) {
      const which = listed.length === 1 ? "The node id" : `Node id ${index + 1}`;
      return invalid(`${which} in the link is not valid: ${error instanceof IdError ? error.message : String(error)}`);
    }
    if (!nodes.includes(canonical)) nodes.push(canonical);
  }
  return { kind: "remote", nodes, relayOnly: query.get("via") === "relay" };
}

function invalid(message: string): VaultEntry {
  return { kind: "invalid", message };
}
