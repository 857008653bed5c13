/**
 * What each vector case means, as executable checks: one function per vector file.
 *
 * A check resolves when the library behaves as the case says (valid: the expected outputs;
 * invalid: an error of exactly the expected kind) and throws `VectorMismatch` otherwise. Vitest and
 * the in-browser harness run the very same checks, so Node and Chromium are held to one standard.
 */
import { decodeBase64 } from "../lib/base64.ts";
import { openBackup } from "../lib/backup.ts";
import { BlobHasher, blobId } from "../lib/blob.ts";
import { bytesEqual, toHex } from "../lib/bytes.ts";
import { decryptWithIdentities } from "../lib/crypt.ts";
import { P2posError } from "../lib/errors.ts";
import { formatIdentityFile } from "../lib/identityFile.ts";
import { encodeReadableId, parseReadableId } from "../lib/readableId.ts";
import { verifyRecord, type SignedRecord } from "../lib/records.ts";
import { bytesToStream, readAllBytes } from "../lib/streams.ts";
import { isSafeHlc, type Hlc } from "../lib/hlc.ts";
import {
  emptyVaultState,
  familyGrantKey,
  foldRecords,
  grantKey,
  type Current,
  type VaultState,
} from "../lib/vaultState.ts";
import {
  expectedError,
  integer,
  isObject,
  json,
  text,
  textList,
  VectorSchemaError,
  type VectorCase,
} from "./schema.ts";

export class VectorMismatch extends Error {}

export type Check = (c: VectorCase) => Promise<void>;

export const checkId: Check = async (c) => {
  const input = text(c, "input");
  if (!c.valid) return expectKind(() => parseReadableId(input), expectedError(c));
  const key = parseReadableId(input);
  expectEqual("public key", toHex(key), text(c, "public_key").toLowerCase());
  expectEqual("canonical id", encodeReadableId(key), text(c, "id"));
  await Promise.resolve();
};

export const checkRecord: Check = async (c) => {
  const record = json(c, "record");
  if (!c.valid) return expectKind(() => verifyRecord(record), expectedError(c));
  const verified = await verifyRecord(record);
  expectEqual("signer", verified.signer, text(c, "signer"));
  expectEqual("body", canonicalJson(verified.body), canonicalJson(json(c, "body")));
  const signedBody = isObject(record) ? record["body"] : undefined;
  if (typeof signedBody !== "string" || !bytesEqual(verified.bodyBytes, decodeBase64(signedBody))) {
    throw new VectorMismatch("the verified body bytes are not the signed bytes");
  }
};

export const checkAge: Check = async (c) => {
  const file = decodeBase64(text(c, "file"));
  const identities = textList(c, "identities");
  if (!c.valid) {
    const kind = expectedError(c);
    await expectKind(() => decryptWithIdentities(file, identities), kind);
    await expectKind(async () => readAll(await decryptWithIdentities(chunked(file, 7_777), identities)), kind);
    return;
  }
  const expected = decodeBase64(text(c, "plaintext"));
  expectBytes("plaintext (bytes in)", await decryptWithIdentities(file, identities), expected);
  // The streaming path reassembles the header and the 64 KiB payload chunks from odd-sized pieces.
  const streamed = await readAll(await decryptWithIdentities(chunked(file, 7_777), identities));
  expectBytes("plaintext (stream in)", streamed, expected);
};

export const checkBackup: Check = async (c) => {
  const file = text(c, "file");
  const passphrase = text(c, "passphrase");
  if (!c.valid) return expectKind(() => openBackup(file, passphrase), expectedError(c));
  const { identity, text: plaintext } = await openBackup(file, passphrase);
  expectEqual("id", identity.id, text(c, "id"));
  expectEqual("recipient", identity.recipient, text(c, "recipient"));
  expectEqual("identity file text", plaintext, text(c, "plaintext"));
  // We must also *write* the file byte for byte as Rust does.
  expectEqual("formatted identity file", formatIdentityFile(identity), text(c, "plaintext"));
};

export const checkBlob: Check = async (c) => {
  const data = decodeBase64(text(c, "data"));
  const expected = text(c, "blob_id").toLowerCase();
  const matches = (await blobId(data)) === expected;
  if (!c.valid) {
    // Blob vectors are all valid; a tampered copy must simply not match.
    if (matches) throw new VectorMismatch("tampered data still has the original blob id");
    return;
  }
  expectEqual("blob id", await blobId(data), expected);
  const hasher = await BlobHasher.create();
  for (let offset = 0; offset < data.length; offset += 1_000) hasher.update(data.subarray(offset, offset + 1_000));
  expectEqual("incremental blob id", hasher.digest(), expected);
};

/**
 * `vault-state.json`: the node serves the records it applied, in its log order; folding them must
 * give the family, founder and grants the Rust vault has (each grant's current write: its revoked
 * flag, HLC and signer), in the file's order and reversed. A tampered copy must give another state.
 */
export const checkVaultState: Check = async (c) => {
  const served = vaultRecords(c)
    .filter((entry) => entry.outcome === "applied")
    .map((entry) => entry.record);
  const nowMs = integer(c, "now_ms");
  const expected = webVaultState(json(c, "state"), c.name);
  await Promise.resolve();
  if (!c.valid) {
    if (vaultStateDiff(foldInOrder(served, nowMs), expected) === undefined) {
      throw new VectorMismatch("the tampered records still fold to the case's state");
    }
    return;
  }
  for (const [order, records] of [
    ["in log order", served],
    ["reversed", [...served].reverse()],
  ] as const) {
    const diff = vaultStateDiff(foldInOrder(records, nowMs), expected);
    if (diff !== undefined) throw new VectorMismatch(`${order}: ${diff}`);
  }
};

/** The parts of a vault-state summary the web app folds: family, founder, grants, names. */
interface WebVaultState {
  family: string | null;
  founder: string | null;
  /** Keyed by `album/member/epoch`: the current write, in words (see `describeGrant`). */
  grants: Map<string, string>;
  /**
   * The family key (`family_meta`), its grants (`family_grant member/epoch`) and the profiles
   * (`profile member`): each current write, in words.
   */
  names: Map<string, string>;
}

export interface VaultRecordEntry {
  record: SignedRecord;
  outcome: string;
}

/** The `records` of a vault-state case: each signed record and what the Rust vault made of it. */
export function vaultRecords(c: VectorCase): VaultRecordEntry[] {
  const entries = json(c, "records");
  if (!Array.isArray(entries)) throw new VectorSchemaError(`case "${c.name}": "records" is not a list`);
  return entries.map((entry: unknown, i) => {
    const record = isObject(entry) ? entry["record"] : undefined;
    const outcome = isObject(entry) ? entry["outcome"] : undefined;
    if (!isObject(record) || typeof outcome !== "string") {
      throw new VectorSchemaError(`case "${c.name}": record ${i} needs "record" and "outcome"`);
    }
    const { body, signer, sig } = record;
    if (typeof body !== "string" || typeof signer !== "string" || typeof sig !== "string") {
      throw new VectorSchemaError(`case "${c.name}": record ${i} is not {body, signer, sig}`);
    }
    return { record: { body, signer, sig }, outcome };
  });
}

function foldInOrder(records: readonly SignedRecord[], nowMs: number): WebVaultState {
  const state = foldRecords(
    emptyVaultState(),
    records.map((record, i) => ({ seq: i + 1, record })),
    nowMs,
  );
  return fromFold(state);
}

function fromFold(state: VaultState): WebVaultState {
  const grants = new Map<string, string>();
  for (const [key, grant] of state.grants) grants.set(key, describeGrant(grant));
  const names = new Map<string, string>();
  const at = (c: Current<unknown>) => describeWrite(c.signer, c.body as { hlc: Hlc });
  if (state.familyMeta) {
    const { epoch, recipient } = state.familyMeta.body;
    names.set("family_meta", `epoch ${epoch} for ${recipient} ${at(state.familyMeta)}`);
  }
  for (const [key, g] of state.familyGrants) {
    names.set(`family_grant ${key}`, `${g.body.revoked ? "revoked" : "granted"} ${at(g)}`);
  }
  for (const [member, p] of state.profiles) {
    names.set(`profile ${member}`, `epoch ${p.body.epoch} ${p.body.meta} ${at(p)}`);
  }
  return { family: state.family ?? null, founder: state.founder ?? null, grants, names };
}

function webVaultState(summary: unknown, name: string): WebVaultState {
  const bad = (what: string) => new VectorSchemaError(`case "${name}": "state" ${what}`);
  if (!isObject(summary) || !Array.isArray(summary["grants"])) throw bad("has no grants");
  const { family, founder } = summary;
  if (!(typeof family === "string" || family === null) || !(typeof founder === "string" || founder === null)) {
    throw bad("needs a family and a founder (text or null)");
  }
  const grants = new Map<string, string>();
  for (const grant of summary["grants"] as unknown[]) {
    if (!isObject(grant)) throw bad("has a grant that is not an object");
    const { album, member, epoch, revoked, hlc, signer } = grant;
    if (
      typeof album !== "string" ||
      typeof member !== "string" ||
      typeof epoch !== "number" ||
      typeof revoked !== "boolean" ||
      !isSafeHlc(hlc) ||
      typeof signer !== "string"
    ) {
      throw bad("has a grant without album, member, epoch, revoked, hlc and signer");
    }
    grants.set(grantKey(album, member, epoch), describeGrant({ revoked, hlc, signer }));
  }
  return { family, founder, grants, names: summaryNames(summary, bad) };
}

/** The family key, its grants and the profiles of a summary, as `fromFold` words them. */
function summaryNames(summary: Record<string, unknown>, bad: (what: string) => Error): Map<string, string> {
  const names = new Map<string, string>();
  const written = (entry: Record<string, unknown>): string => {
    const { hlc, signer } = entry;
    if (!isSafeHlc(hlc) || typeof signer !== "string") throw bad("has a name record without hlc and signer");
    return describeWrite(signer, { hlc });
  };
  const meta = summary["family_meta"];
  if (isObject(meta)) {
    const { epoch, recipient } = meta;
    if (typeof epoch !== "number" || typeof recipient !== "string") throw bad("has a family_meta without its key");
    names.set("family_meta", `epoch ${epoch} for ${recipient} ${written(meta)}`);
  }
  const list = (field: string): Record<string, unknown>[] => {
    const value = summary[field] ?? [];
    if (!Array.isArray(value) || !value.every(isObject)) throw bad(`has a ${field} that is not a list of objects`);
    return value;
  };
  for (const g of list("family_grants")) {
    const { member, epoch, revoked } = g;
    if (typeof member !== "string" || typeof epoch !== "number" || typeof revoked !== "boolean") {
      throw bad("has a family grant without member, epoch and revoked");
    }
    names.set(`family_grant ${familyGrantKey(member, epoch)}`, `${revoked ? "revoked" : "granted"} ${written(g)}`);
  }
  for (const p of list("profiles")) {
    const { member, epoch, meta: sealed } = p;
    if (typeof member !== "string" || typeof epoch !== "number" || typeof sealed !== "string") {
      throw bad("has a profile without member, epoch and meta");
    }
    names.set(`profile ${member}`, `epoch ${epoch} ${sealed} ${written(p)}`);
  }
  return names;
}

function describeWrite(signer: string, { hlc }: { hlc: Hlc }): string {
  return `by ${signer} at ${hlc.wall_ms}/${hlc.counter}`;
}

/** A grant's current write, in words: what it says, who wrote it, and when. */
function describeGrant({ revoked, hlc, signer }: { revoked: boolean; hlc: Hlc; signer: string }): string {
  return `${revoked ? "revoked" : "granted"} by ${signer} at ${hlc.wall_ms}/${hlc.counter}`;
}

/** Where two states differ, in words; undefined when they are equal. */
function vaultStateDiff(actual: WebVaultState, expected: WebVaultState): string | undefined {
  if (actual.family !== expected.family) return `family: expected ${expected.family}, got ${actual.family}`;
  if (actual.founder !== expected.founder) return `founder: expected ${expected.founder}, got ${actual.founder}`;
  for (const key of new Set([...expected.grants.keys(), ...actual.grants.keys()])) {
    const [want, got] = [expected.grants.get(key), actual.grants.get(key)];
    if (want !== got) return `grant ${key}: expected ${want ?? "none"}, got ${got ?? "none"}`;
  }
  for (const key of new Set([...expected.names.keys(), ...actual.names.keys()])) {
    const [want, got] = [expected.names.get(key), actual.names.get(key)];
    if (want !== got) return `${key}: expected ${want ?? "none"}, got ${got ?? "none"}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

async function expectKind(run: () => unknown, kind: string): Promise<void> {
  let result: unknown;
  try {
    result = await run();
  } catch (error) {
    if (error instanceof P2posError && error.kind === kind) return;
    throw new VectorMismatch(`expected a "${kind}" error, got ${describe(error)}`);
  }
  throw new VectorMismatch(`expected a "${kind}" error, but it succeeded (${describe(result)})`);
}

function expectEqual(what: string, actual: string, expected: string): void {
  if (actual !== expected)
    throw new VectorMismatch(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function expectBytes(what: string, actual: Uint8Array, expected: Uint8Array): void {
  if (!bytesEqual(actual, expected)) {
    throw new VectorMismatch(`${what}: expected ${expected.length} bytes, got ${actual.length} different bytes`);
  }
}

function describe(value: unknown): string {
  if (value instanceof P2posError) return `${value.name} "${value.kind}": ${value.message}`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return value === undefined ? "undefined" : JSON.stringify(value);
}

/** JSON with object keys sorted, to compare values regardless of key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** A stream delivering `bytes` in pieces of `size`. */
export function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  return bytesToStream(bytes, size);
}

/** Drain a stream, keeping its own error (see lib/streams.ts for why not `Response`). */
export const readAll = readAllBytes;
