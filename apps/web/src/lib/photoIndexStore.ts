/**
 * The local photo index at rest: sealed with AES-256-GCM under a key only this identity can
 * derive, in a few large IndexedDB records (a head and chunks of `CHUNK_ENTRIES` entries), so the
 * timeline shows at once on the next visit without anything of it readable from the browser
 * profile.
 *
 * The key: X25519 of the identity's own (non-extractable) age key with its own public key (only
 * the holder of the secret can compute it), through HKDF-SHA256 with the info
 * `p2pos-local-index-v1` and, as salt, the scope (identity id and family), so each identity and
 * family has its own key. Each record's AAD names the scope and the record, so records cannot be
 * swapped between places. Record names start with 128 bits derived from the same secret (HKDF,
 * info `p2pos-local-index-name-v1`, salt the scope): only the identity can name its records, so
 * nobody with the disk can tell from the (public) ids whose index it is.
 */
import { bech32 } from "@scure/base";
import { clear, createStore, delMany, get, getMany, keys, setMany, type UseStore } from "idb-keyval";
import { toHex, utf8DecodeStrict, utf8Encode } from "./bytes.ts";
import { storedEntry, type IndexEntry } from "./photoIndex.ts";

export const INDEX_KEY_INFO = "p2pos-local-index-v1";
/** HKDF info of the records' names (another derivation from the same secret than the key). */
export const INDEX_NAME_INFO = "p2pos-local-index-name-v1";
/** Entries per sealed record: 10,000 photos make 10 records of a few MB. */
export const CHUNK_ENTRIES = 1000;
const FORMAT = 1;

/** A sealed record as stored: the nonce and the AES-GCM ciphertext (with its tag). */
export interface SealedRecord {
  iv: Uint8Array<ArrayBuffer>;
  data: ArrayBuffer;
}

/** Whose index and of which family: the HKDF salt, and (hashed) the records' names. */
export function indexScope(identity: string, family: string): string {
  return `${identity}/${family}`;
}

/** X25519 of the identity's age key with its own public key, as HKDF input: only its holder has it. */
async function ownSecret(ageKey: CryptoKey, recipient: string): Promise<CryptoKey> {
  const { prefix, bytes } = bech32.decodeToBytes(recipient);
  if (prefix !== "age" || bytes.length !== 32) throw new TypeError("not an age recipient");
  const own = await crypto.subtle.importKey("raw", new Uint8Array(bytes), { name: "X25519" }, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: own }, ageKey, 256);
  return crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey", "deriveBits"]);
}

/** The index key of an identity (its age key and recipient) for `scope`. Non-extractable. */
export async function deriveIndexKey(ageKey: CryptoKey, recipient: string, scope: string): Promise<CryptoKey> {
  return indexKeyFrom(await ownSecret(ageKey, recipient), scope);
}

function indexKeyFrom(ikm: CryptoKey, scope: string): Promise<CryptoKey> {
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8Encode(scope), info: utf8Encode(INDEX_KEY_INFO) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** Seal a JSON value; `place` (scope and record name) is bound as AAD. */
export async function sealRecord(key: CryptoKey, value: unknown, place: string): Promise<SealedRecord> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8Encode(place) },
    key,
    utf8Encode(JSON.stringify(value)),
  );
  return { iv, data };
}

/** Open a sealed record; throws (OperationError) for another key, another place or a changed byte. */
export async function openRecord<T>(key: CryptoKey, sealed: SealedRecord, place: string): Promise<T> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: sealed.iv, additionalData: utf8Encode(place) },
    key,
    sealed.data,
  );
  return JSON.parse(utf8DecodeStrict(new Uint8Array(plain))) as T;
}

interface Head {
  v: number;
  chunks: number;
  count: number;
  savedAt: number;
}

let store: UseStore | undefined;
function indexStore(): UseStore {
  store ??= createStore("p2pos-index", "chunks");
  return store;
}

/** The scope's records are named after 128 bits only the identity's secret derives. */
async function recordPrefix(ikm: CryptoKey, scope: string): Promise<string> {
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: utf8Encode(scope), info: utf8Encode(INDEX_NAME_INFO) },
    ikm,
    128,
  );
  return toHex(new Uint8Array(bits));
}

/**
 * How the records were named before `INDEX_NAME_INFO`: a plain SHA-256 of the scope, which anyone
 * knowing the ids could compute. Such records are removed when the index is opened.
 */
async function publicPrefix(scope: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8Encode(scope)));
  return toHex(digest.slice(0, 16));
}

/** A place to store an index: the key and the records' names. */
export interface IndexPlace {
  key: CryptoKey;
  scope: string;
  prefix: string;
}

export async function indexPlace(ageKey: CryptoKey, recipient: string, scope: string): Promise<IndexPlace> {
  const ikm = await ownSecret(ageKey, recipient);
  return { key: await indexKeyFrom(ikm, scope), scope, prefix: await recordPrefix(ikm, scope) };
}

/** Remove the scope's records under their former, public names (an index from before the change). */
async function dropPublicNames(place: IndexPlace, db: UseStore): Promise<void> {
  const old = `${await publicPrefix(place.scope)}:`;
  const names = (await keys(db)).filter((name): name is string => typeof name === "string" && name.startsWith(old));
  if (names.length > 0) await delMany(names, db);
}

const headName = (place: IndexPlace) => `${place.prefix}:head`;
const chunkName = (place: IndexPlace, i: number) => `${place.prefix}:chunk:${i}`;
const aad = (place: IndexPlace, name: string) => `${INDEX_KEY_INFO}\n${place.scope}\n${name}`;

/** The stored index, or undefined when there is none (or it cannot be opened: it is then removed). */
export async function loadIndex(place: IndexPlace): Promise<IndexEntry[] | undefined> {
  const db = indexStore();
  await dropPublicNames(place, db).catch(() => undefined);
  const sealedHead = await get<SealedRecord>(headName(place), db);
  if (!sealedHead) return undefined;
  try {
    const head = await openRecord<Head>(place.key, sealedHead, aad(place, headName(place)));
    if (head.v !== FORMAT) throw new Error("another format");
    const names = Array.from({ length: head.chunks }, (_, i) => chunkName(place, i));
    const sealed = await getMany<SealedRecord | undefined>(names, db);
    const entries: IndexEntry[] = [];
    for (const [i, name] of names.entries()) {
      const record = sealed[i];
      if (!record) throw new Error("a chunk is missing");
      entries.push(...(await openRecord<IndexEntry[]>(place.key, record, aad(place, name))));
    }
    if (entries.length !== head.count) throw new Error("the chunks do not add up");
    return entries;
  } catch {
    await delMany([headName(place)], db).catch(() => undefined);
    return undefined;
  }
}

/**
 * Replace the stored index with `entries`, sealed; `pause` runs between chunks (not to block the
 * page). `isCancelled` is asked right before anything is written: once it says true (the identity
 * signed out or was forgotten) nothing is. Asked in the same task as the write is queued, so a
 * `clearIndexes` called after it was cancelled runs after this save's transaction, or there is none.
 */
export async function saveIndex(
  place: IndexPlace,
  entries: readonly IndexEntry[],
  pause: () => Promise<void> = () => Promise.resolve(),
  isCancelled: () => boolean = () => false,
): Promise<void> {
  const db = indexStore();
  const records: [string, SealedRecord][] = [];
  const chunks = Math.ceil(entries.length / CHUNK_ENTRIES);
  for (let i = 0; i < chunks; i++) {
    const name = chunkName(place, i);
    records.push([
      name,
      await sealRecord(
        place.key,
        entries.slice(i * CHUNK_ENTRIES, (i + 1) * CHUNK_ENTRIES).map(storedEntry),
        aad(place, name),
      ),
    ]);
    await pause();
  }
  const head: Head = { v: FORMAT, chunks, count: entries.length, savedAt: Date.now() };
  records.push([headName(place), await sealRecord(place.key, head, aad(place, headName(place)))]);
  // Chunks past the new end (the index shrank) go; a reader never sees a head without its chunks.
  const previous = await get<SealedRecord>(headName(place), db);
  let stale: string[] = [];
  if (previous) {
    try {
      const old = await openRecord<Head>(place.key, previous, aad(place, headName(place)));
      stale = Array.from({ length: Math.max(0, old.chunks - chunks) }, (_, i) => chunkName(place, chunks + i));
    } catch {
      stale = [];
    }
  }
  if (isCancelled()) return;
  await setMany(records, db);
  if (stale.length > 0) await delMany(stale, db);
}

/** Remove every stored index of this browser (the identity was forgotten or signed out). */
export async function clearIndexes(): Promise<void> {
  await clear(indexStore());
}
