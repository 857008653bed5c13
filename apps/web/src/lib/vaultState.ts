/**
 * The family as this client sees it, folded from the node's record log (`GET /v1/records`): the
 * family id, and who holds which album key. The node has already applied the rules and serves only
 * the records it applied; this fold keeps, per grant, the write the Rust vault keeps.
 *
 * Last writer wins in the order of `crates/family-vault/src/vault.rs` (`Stamp`): HLC, then the
 * signer's public key bytes, then BLAKE3 of the body bytes. The key bytes, not the readable id:
 * base32 gives `A`–`Z` the values 0–25 and `2`–`7` the values 26–31, but comparing the text puts
 * the digits first. `testvectors/vault-state.json` holds both folds to the same winners.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { decodeBase64 } from "./base64.ts";
import { compareHlc, isObservable, wallMsTextIsSafe, type Hlc } from "./hlc.ts";
import type { LogEntry } from "./apiTypes.ts";
import { parseReadableId } from "./readableId.ts";
import { verifyRecord } from "./records.ts";
import {
  parseBody,
  type Body,
  type MemberBody,
  type FamilyGrantBody,
  type FamilyMetaBody,
  type GrantBody,
  type ProfileBody,
} from "./vaultRecords.ts";

/** Where a write stands in the fold, as the Rust vault's `Stamp`. */
export interface Stamp {
  hlc: Hlc;
  /** The signer's Ed25519 public key. */
  signerKey: Uint8Array;
  /** BLAKE3 of the exact body bytes. */
  bodyHash: Uint8Array;
}

export interface GrantState {
  album: string;
  member: string;
  epoch: number;
  revoked: boolean;
  hlc: Hlc;
  signer: string;
  /** The current write's place in the fold order. */
  stamp: Stamp;
}

/** The current write of a subject that is not a grant: its body, who signed it, where it stands. */
export interface Current<B> {
  body: B;
  signer: string;
  stamp: Stamp;
}

export interface VaultState {
  family: string | undefined;
  founder: string | undefined;
  /** Keyed by `album/member/epoch`. */
  grants: Map<string, GrantState>;
  /**
   * Who has been a member, and who an admin, as far as the log shows: the founder, and whoever a
   * `member` record signed by an admin named. Only their records about names are folded.
   */
  everMember: Set<string>;
  everAdmin: Set<string>;
  /** Writes whose signer is not (yet) known to have the right: folded once the log shows it. */
  held: Held[];
  /** The family key's current epoch and recipient, and the family's sealed name. */
  familyMeta: Current<FamilyMetaBody> | undefined;
  /** Family key grants, keyed by `member/epoch`. */
  familyGrants: Map<string, Current<FamilyGrantBody>>;
  /** Profiles (names, sealed to the family key), keyed by member id. */
  profiles: Map<string, Current<ProfileBody>>;
  /**
   * The newest timestamp seen, for the local clock. Only timestamps the clock may observe count:
   * a safe integer as written (not a u64 `JSON.parse` rounded), at most a minute ahead of ours.
   */
  newest: Hlc;
  /** The last log sequence folded. */
  seq: number;
}

export function emptyVaultState(): VaultState {
  return {
    family: undefined,
    founder: undefined,
    grants: new Map(),
    everMember: new Set(),
    everAdmin: new Set(),
    held: [],
    familyMeta: undefined,
    familyGrants: new Map(),
    profiles: new Map(),
    newest: { wall_ms: 0, counter: 0 },
    seq: 0,
  };
}

export function grantKey(album: string, member: string, epoch: number): string {
  return `${album}/${member}/${epoch}`;
}

/** The fold order: negative when `a` comes before `b` (and so loses to it). */
export function compareStamps(a: Stamp, b: Stamp): number {
  return compareHlc(a.hlc, b.hlc) || compareBytes(a.signerKey, b.signerKey) || compareBytes(a.bodyHash, b.bodyHash);
}

/** Unsigned lexicographic order, as Rust's `[u8]`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}

/** Fold log entries (in log order) into `state`, in place. `nowMs`: our clock, for the drift check. */
export function foldRecords(state: VaultState, entries: readonly LogEntry[], nowMs: number = Date.now()): VaultState {
  // Parsing an id checks its point on the curve: once per signer is enough.
  const keys = new Map<string, Uint8Array>();
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
    } else if (
      body.type === "member" ||
      body.type === "grant" ||
      body.type === "family_meta" ||
      body.type === "family_grant" ||
      body.type === "profile"
    ) {
      let signerKey = keys.get(record.signer);
      if (signerKey === undefined) {
        try {
          signerKey = parseReadableId(record.signer);
        } catch {
          // The node verified every record it serves: a signer that is not an id is not one of them.
          continue;
        }
        keys.set(record.signer, signerKey);
      }
      const stamp = { hlc: body.hlc, signerKey, bodyHash: blake3(decodeBase64(record.body)) };
      if (body.type === "grant") applyGrant(state, body, record.signer, stamp);
      else if (body.type !== "profile" || body.member === record.signer) {
        state.held.push({ body, signer: record.signer, stamp });
      }
    }
  }
  foldHeld(state);
  return state;
}

/** A write about members or names, waiting until its signer is known to have the right. */
export interface Held {
  body: MemberBody | FamilyMetaBody | FamilyGrantBody | ProfileBody;
  signer: string;
  stamp: Stamp;
}

/**
 * The rules the node applied, checked again for what the names rest on: whoever serves the log
 * (the node, a channel) could otherwise slip in a family key or a name of its own. Members and
 * the family key are written by admins, a profile by its own member. "Admin" here is anyone the
 * log ever showed as one, so the fold does not depend on the order it reads the log in.
 */
function foldHeld(state: VaultState): void {
  if (state.founder !== undefined) {
    state.everAdmin.add(state.founder);
    state.everMember.add(state.founder);
  }
  for (let progress = true; progress;) {
    progress = false;
    const waiting: Held[] = [];
    for (const held of state.held) {
      const { body, signer, stamp } = held;
      const allowed = body.type === "profile" ? state.everMember.has(signer) : state.everAdmin.has(signer);
      if (!allowed) {
        waiting.push(held);
        continue;
      }
      progress = true;
      if (body.type === "member") {
        state.everMember.add(body.member);
        if (body.role === "admin") state.everAdmin.add(body.member);
      } else if (body.type === "family_meta") {
        if (newer(state.familyMeta, stamp)) state.familyMeta = { body, signer, stamp };
      } else if (body.type === "family_grant") {
        const key = familyGrantKey(body.member, body.epoch);
        if (newer(state.familyGrants.get(key), stamp)) state.familyGrants.set(key, { body, signer, stamp });
      } else if (newer(state.profiles.get(body.member), stamp)) {
        state.profiles.set(body.member, { body, signer, stamp });
      }
    }
    state.held = waiting;
  }
}

/** Record types whose signatures the page checks itself before folding (the names rest on them). */
const CHECKED = new Set(["family", "member", "family_meta", "family_grant", "profile"]);

/**
 * The entries whose signature holds, of the types the names rest on (others pass as served): run
 * before `foldRecords` on what a node serves, so a forged family key or name is never folded.
 */
export async function signedEntries(entries: readonly LogEntry[]): Promise<LogEntry[]> {
  const kept: LogEntry[] = [];
  for (const entry of entries) {
    let type: string;
    try {
      type = parseBody(entry.record).body.type;
    } catch {
      kept.push(entry); // The fold skips it.
      continue;
    }
    let valid = true;
    if (CHECKED.has(type)) {
      try {
        valid = (await verifyRecord(entry.record)).signer === entry.record.signer;
      } catch {
        valid = false;
      }
    }
    // A forged one keeps its sequence number (the cursor moves on) and loses its body.
    kept.push(valid ? entry : { ...entry, record: { ...entry.record, body: "" } });
  }
  return kept;
}

export function familyGrantKey(member: string, epoch: number): string {
  return `${member}/${epoch}`;
}

/** Whether a write at `stamp` supersedes `existing` (later in the fold order). */
function newer(existing: { stamp: Stamp } | undefined, stamp: Stamp): boolean {
  return existing === undefined || compareStamps(existing.stamp, stamp) < 0;
}

/** The family key epochs `member` holds an unrevoked grant for, ascending. */
export function familyEpochsHeldBy(state: VaultState, member: string): number[] {
  return [...state.familyGrants.values()]
    .filter((g) => g.body.member === member && !g.body.revoked)
    .map((g) => g.body.epoch)
    .sort((a, b) => a - b);
}

function applyGrant(state: VaultState, body: GrantBody, signer: string, stamp: Stamp): void {
  const key = grantKey(body.album, body.member, body.epoch);
  const existing = state.grants.get(key);
  if (existing && compareStamps(existing.stamp, stamp) >= 0) return;
  state.grants.set(key, {
    album: body.album,
    member: body.member,
    epoch: body.epoch,
    revoked: body.revoked,
    hlc: body.hlc,
    signer,
    stamp,
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
