/**
 * Where photo metas and blobs are decrypted. By default in this thread (Node, the unit tests, a
 * page without workers); the web app hands the work to a Web Worker at start (`src/openWorker.ts`
 * calls `setOpener`), so decrypting a screenful of thumbnails and names never blocks the page.
 *
 * Metas are asked for one at a time (`openPhotoMeta(photo, keys)`) but travel in batches: every
 * meta asked for within one task goes to the opener as one request.
 */
import { encodeBase64 } from "./base64.ts";
import { concatBytes, utf8DecodeStrict } from "./bytes.ts";
import { CryptError, decryptWithIdentities, type AgeIdentity, type CryptErrorKind } from "./crypt.ts";

/** A decryption's outcome, as it can cross to and from a worker (errors as plain data). */
export type Opened<T> = { ok: T } | { error: FailedOpening };

export interface FailedOpening {
  name: string;
  message: string;
  /** A `CryptError`'s kind. */
  kind?: CryptErrorKind;
}

export interface Opener {
  /** Each meta (an age file as text) decrypted and parsed as JSON, in order. */
  metas(metas: readonly string[], keys: readonly AgeIdentity[]): Promise<Opened<unknown>[]>;
  /** An encrypted blob decrypted into a Blob of `type`. */
  blob(encrypted: Blob, keys: readonly AgeIdentity[], type: string): Promise<Blob>;
  /**
   * An encrypted blob decrypted into a `data:` URL of `type` (thumbnails: an <img> shows it
   * without `URL.createObjectURL`, which costs the page a round trip to the browser process).
   */
  dataUrl(encrypted: Blob, keys: readonly AgeIdentity[], type: string): Promise<string>;
}

/** Decrypts in the calling thread (what the worker itself runs). */
export const openerHere: Opener = {
  async metas(metas, keys) {
    const out: Opened<unknown>[] = [];
    for (const meta of metas) {
      try {
        out.push({ ok: JSON.parse(utf8DecodeStrict(await decryptWithIdentities(meta, keys))) as unknown });
      } catch (error) {
        out.push({ error: failure(error) });
      }
    }
    return out;
  },
  async blob(encrypted, keys, type) {
    return new Blob(await decryptParts(encrypted, keys), { type });
  },
  async dataUrl(encrypted, keys, type) {
    return `data:${type};base64,${encodeBase64(concatBytes(...(await decryptParts(encrypted, keys))))}`;
  },
};

async function decryptParts(encrypted: Blob, keys: readonly AgeIdentity[]): Promise<Uint8Array<ArrayBuffer>[]> {
  const plain = await decryptWithIdentities(encrypted.stream(), keys);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const reader = plain.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(new Uint8Array(value));
  }
  return parts;
}

let current: Opener = openerHere;

/** Decrypt with `opener` from now on (the app's worker); `openerHere` goes back to this thread. */
export function setOpener(opener: Opener): void {
  current = opener;
}

/** Decrypt a blob with the current opener. */
export function openBlobData(encrypted: Blob, keys: readonly AgeIdentity[], type: string): Promise<Blob> {
  return current.blob(encrypted, keys, type);
}

/** Decrypt a blob into a `data:` URL with the current opener. */
export function openDataUrl(encrypted: Blob, keys: readonly AgeIdentity[], type: string): Promise<string> {
  return current.dataUrl(encrypted, keys, type);
}

interface Waiting {
  meta: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Metas asked for in this task, grouped by the keys they are opened with (the same keys, in order). */
let batch: { keys: readonly AgeIdentity[]; waiting: Waiting[] }[] = [];
let flushing = false;

/** A meta decrypted and parsed as JSON, sent to the opener with the others asked for in this task. */
export function openMetaBatched(meta: string, keys: readonly AgeIdentity[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let group = batch.find((g) => g.keys.length === keys.length && g.keys.every((k, i) => k === keys[i]));
    if (!group) {
      group = { keys, waiting: [] };
      batch.push(group);
    }
    group.waiting.push({ meta, resolve, reject });
    if (!flushing) {
      flushing = true;
      // A macrotask: what the same task (and its microtasks) asks for joins this batch.
      setTimeout(flush, 0);
    }
  });
}

/**
 * The most metas one request to the opener holds: a screenful's rows ask for theirs in one task,
 * and the first rows are shown once their batch is back, not after the last row's.
 */
const META_BATCH = 24;

function flush(): void {
  const groups = batch;
  batch = [];
  flushing = false;
  for (const group of groups) {
    for (let at = 0; at < group.waiting.length; at += META_BATCH) {
      send(group.keys, group.waiting.slice(at, at + META_BATCH));
    }
  }
}

function send(keys: readonly AgeIdentity[], waiting: Waiting[]): void {
  current
    .metas(
      waiting.map((w) => w.meta),
      keys,
    )
    .then(
      (results) =>
        waiting.forEach((w, i) => {
          const result = results[i];
          if (result && "ok" in result) w.resolve(result.ok);
          else w.reject(result ? revive(result.error) : new Error("the meta was not opened"));
        }),
      (error: unknown) => waiting.forEach((w) => w.reject(error)),
    );
}

/** An error as data, to cross to another thread. */
export function failure(error: unknown): FailedOpening {
  if (error instanceof CryptError) return { name: error.name, message: error.message, kind: error.kind };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** The error again on this side (a `CryptError` keeps its kind). */
export function revive(failed: FailedOpening): Error {
  if (failed.kind) return new CryptError(failed.kind, failed.message);
  const error = new Error(failed.message);
  error.name = failed.name;
  return error;
}
