/**
 * The family as this client sees it, folded from the node's record log (`GET /v1/records`): the
 * family id, and who holds which album key. Mirrors the last-writer-wins order of
 * `crates/family-vault/src/vault.rs` (by HLC, then signer); the node has already applied the rules.
 */
import { compareHlc, isObservable, wallMsTextIsSafe, type Hlc } from "./hlc.ts";
import type { LogEntry } from "./apiTypes.ts";
import { parseBody, type Body, type GrantBody } from "./vaultRecords.ts";

export interface GrantState {
  album: string;
  member: string;
  epoch: number;
  revoked: boolean;
  hlc: Hlc;
  signer: string;
}

export interface VaultState {
  family: string | undefined;
  founder: string | undefined;
  /** Keyed by `album/member/epoch`. */
  grants: Map<string, GrantState>;
  /**
   * The newest timestamp seen, for the local clock. Only timestamps the clock may observe count:
   * a safe integer as written (not a u64 `JSON.parse` rounded), at most a minute ahead of ours.
   */
  newest: Hlc;
  /** The last log sequence folded. */
  seq: number;
}

export function emptyVaultState(): VaultState {
  return { family: undefined, founder: undefined, grants: new Map(), newest: { wall_ms: 0, counter: 0 }, seq: 0 };
}

export function grantKey(album: string, member: string, epoch: number): string {
  return `${album}/${member}/${epoch}`;
}

/** Fold log entries (in log order) into `state`, in place. `nowMs`: our clock, for the drift check. */
export function foldRecords(state: VaultState, entries: readonly LogEntry[], nowMs: number = Date.now()): VaultState {
  for (const { seq, record } of entries) {
    state.seq = Math.max(state.seq, seq);
    let body: Body;
    let text: string;
    try {
      ({ body, text } = parseBody(record));
    } catch {
      continue;
    }
    // A timestamp too far ahead, or one JSON.parse rounded, never moves our clock.
    if (wallMsTextIsSafe(text) && isObservable(body.hlc, nowMs) && compareHlc(body.hlc, state.newest) > 0) {
      state.newest = body.hlc;
    }
    if (body.type === "family") {
      state.family ??= body.family;
      state.founder ??= record.signer;
    } else if (body.type === "grant") {
      applyGrant(state, body, record.signer);
    }
  }
  return state;
}

function applyGrant(state: VaultState, body: GrantBody, signer: string): void {
  const key = grantKey(body.album, body.member, body.epoch);
  const existing = state.grants.get(key);
  if (existing) {
    const order =
      compareHlc(existing.hlc, body.hlc) || (existing.signer < signer ? -1 : existing.signer > signer ? 1 : 0);
    if (order >= 0) return;
  }
  state.grants.set(key, {
    album: body.album,
    member: body.member,
    epoch: body.epoch,
    revoked: body.revoked,
    hlc: body.hlc,
    signer,
  });
}

/** Whether `member` holds an unrevoked key for `epoch` of `album`. */
export function hasGrant(state: VaultState, album: string, member: string, epoch: number): boolean {
  const grant = state.grants.get(grantKey(album, member, epoch));
  return grant !== undefined && !grant.revoked;
}

/** The unrevoked grants of `album` in the log (of members removed since, too: check membership). */
export function liveGrants(state: VaultState, album: string): GrantState[] {
  return [...state.grants.values()].filter((grant) => grant.album === album && !grant.revoked);
}

/** The albums `member` holds an unrevoked key to (any epoch), as far as this log shows. */
export function albumsHeldBy(state: VaultState, member: string): string[] {
  const albums = new Set<string>();
  for (const grant of state.grants.values()) if (grant.member === member && !grant.revoked) albums.add(grant.album);
  return [...albums].sort();
}
