/**
 * A queue of files going into one album: encrypt (in a worker, injected as `prepare`), upload,
 * post the record, at most `concurrency` at a time. Each item can be cancelled and, when it failed
 * or was cancelled, retried. Listeners get a fresh snapshot after every change.
 *
 * Each file is encrypted to the album's current epoch as the node has it when the file's turn
 * comes (asked again at most every few seconds, and at once when the node refuses a photo), not
 * the one the page saw when it opened: after a revocation the album has a new key. A photo record
 * is signed after its blobs are up, so it is stamped when it is sent.
 *
 * Around a rotation the album takes no new photo for a while: after a revocation the node refuses
 * them until the album has a new epoch (`key_not_rotated`), and after that we hold no key to the
 * new epoch until an admin grants it (`no_current_key`). A file that meets either waits
 * (`KEY_WAIT_DELAYS_MS`, about a minute in all), asking the node for the album's epoch after each
 * delay, and is encrypted again to the new key; only then does it fail.
 *
 * A connection lost on the way (the node went away, the vault's channel moved to another node of
 * the family) is retried by itself, with the same ciphertext, after `NETWORK_RETRY_DELAYS_MS`:
 * blobs are content-addressed and a photo record is the same record again, so a retry that meets
 * what already arrived does no harm.
 */
import { ApiError, isKeyNotRotated, type ApiClient } from "./api.ts";
import { P2posError } from "./errors.ts";
import type { PreparedPhoto, UploadTarget } from "./photos.ts";
import { uploadPhoto } from "./photos.ts";
import { VaultError } from "./vault.ts";
import type { RecordContext } from "./vaultRecords.ts";

/** `waiting`: for the album's new key (see above). */
export type UploadStatus = "queued" | "encrypting" | "uploading" | "waiting" | "done" | "failed" | "cancelled";

export interface UploadItem {
  key: number;
  name: string;
  size: number;
  status: UploadStatus;
  /** 0–1: encrypting counts for the first half, uploading for the second. */
  progress: number;
  error?: string;
  photo?: string;
}

export type PrepareFunction = (
  file: File,
  recipient: string,
  onProgress: (done: number, total: number) => void,
  signal: AbortSignal,
) => Promise<PreparedPhoto>;

/** Where new photos of the album go, and the key they are encrypted to. */
export type CurrentTarget = UploadTarget & { recipient: string };

/** How long the album's current epoch is taken as known before asking the node again. */
export const TARGET_TTL_MS = 10_000;

/** The waits for an album's new key, one after the other: a minute in all. */
export const KEY_WAIT_DELAYS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000];

/** The waits before sending a file again after its connection was lost: about half a minute in all. */
export const NETWORK_RETRY_DELAYS_MS: readonly number[] = [1_000, 3_000, 8_000, 15_000];

/** Waits `ms`, or rejects when `signal` aborts. */
export type SleepFunction = (ms: number, signal: AbortSignal) => Promise<void>;

/** A file that waited for the album's new key (`KEY_WAIT_DELAYS_MS`) and did not get it. */
export class UploadError extends P2posError<"key_not_rotated" | "no_current_key"> {}

const GAVE_UP: Record<UploadError["kind"], string> = {
  key_not_rotated:
    "The album still had its old key a minute later. Someone lost access to it, so it takes no new photos until an admin who holds the key changes it; retry after that.",
  no_current_key:
    "The album has a new key that was not shared with you within a minute, so nothing was encrypted to it. Retry once an admin has shared the album with you.",
};

export interface UploadQueueOptions {
  api: ApiClient;
  context: () => RecordContext;
  /** The album's current epoch and recipient, asked of the node (`Vault.uploadTarget`). */
  target: () => Promise<CurrentTarget>;
  prepare: PrepareFunction;
  concurrency?: number;
  /** Called after each photo record is accepted. */
  onUploaded?: (photo: string) => void;
  describeError?: (error: unknown) => string;
  /** How a file waits for the album's new key: timers by default (tests pass their own). */
  sleep?: SleepFunction;
}

interface Entry {
  item: UploadItem;
  file: File;
  controller: AbortController | undefined;
}

export class UploadQueue {
  readonly #options: UploadQueueOptions;
  readonly #entries: Entry[] = [];
  readonly #listeners = new Set<(items: UploadItem[]) => void>();
  #nextKey = 1;
  #running = 0;
  #target: { at: number; value: Promise<CurrentTarget> } | undefined;

  constructor(options: UploadQueueOptions) {
    this.#options = options;
  }

  subscribe(listener: (items: UploadItem[]) => void): () => void {
    this.#listeners.add(listener);
    listener(this.items);
    return () => this.#listeners.delete(listener);
  }

  get items(): UploadItem[] {
    return this.#entries.map((e) => ({ ...e.item }));
  }

  /** Overall progress over all items not cancelled, weighted by size. */
  get overall(): { done: number; total: number; fraction: number } {
    const live = this.#entries.filter((e) => e.item.status !== "cancelled");
    const total = live.reduce((sum, e) => sum + Math.max(1, e.item.size), 0);
    const done = live.reduce((sum, e) => sum + Math.max(1, e.item.size) * e.item.progress, 0);
    return { done, total, fraction: total === 0 ? 0 : done / total };
  }

  add(files: Iterable<File>): void {
    for (const file of files) {
      this.#entries.push({
        item: { key: this.#nextKey++, name: file.name, size: file.size, status: "queued", progress: 0 },
        file,
        controller: undefined,
      });
    }
    this.#emit();
    this.#pump();
  }

  cancel(key: number): void {
    const entry = this.#find(key);
    if (!entry || entry.item.status === "done" || entry.item.status === "failed") return;
    entry.controller?.abort();
    this.#update(entry, { status: "cancelled", progress: 0 });
  }

  cancelAll(): void {
    for (const entry of this.#entries) this.cancel(entry.item.key);
  }

  retry(key: number): void {
    const entry = this.#find(key);
    if (!entry || (entry.item.status !== "failed" && entry.item.status !== "cancelled")) return;
    entry.item = { key: entry.item.key, name: entry.item.name, size: entry.item.size, status: "queued", progress: 0 };
    this.#emit();
    this.#pump();
  }

  retryFailed(): void {
    for (const entry of this.#entries) if (entry.item.status === "failed") this.retry(entry.item.key);
  }

  /** Forget finished items. */
  clearDone(): void {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      if (this.#entries[i]?.item.status === "done") this.#entries.splice(i, 1);
    }
    this.#emit();
  }

  #find(key: number): Entry | undefined {
    return this.#entries.find((e) => e.item.key === key);
  }

  #update(entry: Entry, patch: Partial<UploadItem>): void {
    entry.item = { ...entry.item, ...patch };
    this.#emit();
  }

  #emit(): void {
    const items = this.items;
    for (const listener of this.#listeners) listener(items);
  }

  #pump(): void {
    const limit = this.#options.concurrency ?? 2;
    while (this.#running < limit) {
      const next = this.#entries.find((e) => e.item.status === "queued");
      if (!next) return;
      this.#running++;
      void this.#run(next).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  /** The album's current target: asked of the node again when older than `TARGET_TTL_MS`. */
  #currentTarget(): Promise<CurrentTarget> {
    const now = Date.now();
    if (!this.#target || now - this.#target.at > TARGET_TTL_MS) {
      const value = this.#options.target();
      const cached = { at: now, value };
      this.#target = cached;
      // A failed answer is not kept.
      value.catch(() => {
        if (this.#target === cached) this.#target = undefined;
      });
    }
    return this.#target.value;
  }

  /** Uploads a prepared file, again with the same bytes after each lost connection (see above). */
  async #send(entry: Entry, target: CurrentTarget, prepared: PreparedPhoto, signal: AbortSignal): Promise<string> {
    const delays = [...NETWORK_RETRY_DELAYS_MS];
    for (;;) {
      try {
        return await uploadPhoto(this.#options.api, this.#options.context(), target, prepared, {
          signal,
          onProgress: (sent, total) => {
            if (!signal.aborted) this.#update(entry, { progress: 0.5 + (total === 0 ? 0.5 : (sent / total) * 0.5) });
          },
        });
      } catch (error) {
        const delay = delays.shift();
        if (!(error instanceof ApiError && error.code === "network") || delay === undefined || signal.aborted)
          throw error;
        this.#update(entry, { status: "uploading", progress: 0.5 });
        await (this.#options.sleep ?? sleep)(delay, signal);
      }
    }
  }

  async #run(entry: Entry): Promise<void> {
    const controller = new AbortController();
    entry.controller = controller;
    const { prepare } = this.#options;
    const { signal } = controller;
    const live = () => !signal.aborted;
    // What is left of this file's wait for a new key, shared by every wait of this attempt.
    const waits = [...KEY_WAIT_DELAYS_MS];
    try {
      this.#update(entry, { status: "encrypting", progress: 0 });
      let target = await this.#usableTarget(entry, signal, waits);
      let photo: string | undefined;
      // Encrypted again when the album got a new key while this file was on its way (once), and
      // after each wait for the album's new key.
      for (let moved = false; photo === undefined;) {
        if (!live()) return;
        this.#update(entry, { status: "encrypting", progress: 0 });
        const prepared = await prepare(
          entry.file,
          target.recipient,
          (done, total) => {
            if (live()) this.#update(entry, { progress: total === 0 ? 0.5 : (done / total) * 0.5 });
          },
          signal,
        );
        if (!live()) return;
        this.#update(entry, { status: "uploading", progress: 0.5 });
        try {
          photo = await this.#send(entry, target, prepared, signal);
        } catch (error) {
          if (isKeyNotRotated(error)) {
            // Revoked, not rotated yet: wait for the album's next epoch.
            target = await this.#usableTarget(entry, signal, waits, { target, error });
          } else if (!moved && isRefusal(error)) {
            moved = true;
            const now = await this.#usableTarget(entry, signal, waits, undefined, true).catch((failure: unknown) => {
              if (failure instanceof UploadError || !live()) throw failure;
              // The node's first answer says more than why it could not tell the epoch.
              return undefined;
            });
            if (now === undefined || !changed(now, target)) throw error;
            target = now;
          } else {
            throw error;
          }
        }
      }
      if (!live()) return;
      this.#update(entry, { status: "done", progress: 1, photo });
      this.#options.onUploaded?.(photo);
    } catch (error) {
      if (!live() || (error instanceof ApiError && error.code === "aborted")) return;
      this.#update(entry, {
        status: "failed",
        error: this.#options.describeError?.(error) ?? (error instanceof Error ? error.message : String(error)),
      });
    } finally {
      if (entry.controller === controller) entry.controller = undefined;
    }
  }

  /**
   * The album's target once it is usable: we hold the key to its current epoch, and (when the
   * node refused a photo to `refused.target` because the key must be rotated) that epoch is a new
   * one. The first answer may be the cached one, unless `fresh` or `refused`; after each delay
   * taken from `waits` the node is asked again. An `UploadError` when the delays run out.
   */
  async #usableTarget(
    entry: Entry,
    signal: AbortSignal,
    waits: number[],
    refused?: { target: CurrentTarget; error: unknown },
    fresh = false,
  ): Promise<CurrentTarget> {
    for (let ask = fresh || refused !== undefined; ; ask = true) {
      let kind: UploadError["kind"];
      let cause: unknown;
      try {
        if (ask) this.#target = undefined;
        const target = await this.#currentTarget();
        if (refused === undefined || changed(target, refused.target)) return target;
        kind = "key_not_rotated";
        cause = refused.error;
      } catch (error) {
        if (!(error instanceof VaultError && error.kind === "no_current_key")) throw error;
        kind = "no_current_key";
        cause = error;
      }
      const delay = waits.shift();
      if (delay === undefined) throw new UploadError(kind, GAVE_UP[kind], { cause });
      this.#update(entry, { status: "waiting", progress: 0 });
      await (this.#options.sleep ?? sleep)(delay, signal);
    }
  }
}

/** A refusal that may mean the album has moved on to another epoch or key since we asked. */
function isRefusal(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    (error.code === "record_refused" || error.code === "forbidden" || error.code === "bad_request")
  );
}

function changed(now: CurrentTarget, used: CurrentTarget): boolean {
  return now.epoch !== used.epoch || now.recipient !== used.recipient;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    signal.addEventListener("abort", abort, { once: true });
  });
}
