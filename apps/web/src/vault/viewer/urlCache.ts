/**
 * A small cache of decrypted pictures as object URLs, for the viewer: the photo shown and its
 * neighbours are decrypted ahead, and what falls out is revoked so its memory goes back. Least
 * recently used goes first, except what the viewer still shows or is about to (`keep`).
 *
 * `create` and `revoke` default to URL.createObjectURL / revokeObjectURL; tests pass their own.
 */

export type Loader = (signal: AbortSignal) => Promise<Blob>;

interface Entry {
  promise: Promise<string>;
  controller: AbortController;
  url: string | undefined;
  revoked: boolean;
}

export interface UrlCacheOptions {
  capacity: number;
  create?: (blob: Blob) => string;
  revoke?: (url: string) => void;
}

export class UrlCache {
  private readonly entries = new Map<string, Entry>();
  private readonly capacity: number;
  private readonly create: (blob: Blob) => string;
  private readonly revoke: (url: string) => void;
  private kept = new Set<string>();

  constructor({ capacity, create, revoke }: UrlCacheOptions) {
    if (capacity < 1) throw new RangeError("a cache holds at least one entry");
    this.capacity = capacity;
    this.create = create ?? ((blob) => URL.createObjectURL(blob));
    this.revoke = revoke ?? ((url) => URL.revokeObjectURL(url));
  }

  /** The URL of `key`, loading it once; a failed load is forgotten so the next call tries again. */
  get(key: string, load: Loader): Promise<string> {
    const found = this.entries.get(key);
    if (found) {
      // Most recently used moves to the end.
      this.entries.delete(key);
      this.entries.set(key, found);
      return found.promise;
    }
    const controller = new AbortController();
    const entry: Entry = { controller, url: undefined, revoked: false, promise: Promise.resolve("") };
    entry.promise = load(controller.signal).then(
      (blob) => {
        if (entry.revoked) throw new DOMException("Evicted from the cache.", "AbortError");
        entry.url = this.create(blob);
        return entry.url;
      },
      (error: unknown) => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw error;
      },
    );
    this.entries.set(key, entry);
    this.evict();
    return entry.promise;
  }

  /** The URL if it is loaded already (no loading, no reordering). */
  peek(key: string): string | undefined {
    return this.entries.get(key)?.url;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** These are in use: never evicted while kept, even past the capacity. */
  keep(keys: Iterable<string>): void {
    this.kept = new Set(keys);
    this.evict();
  }

  /** Drop everything (the viewer closes): pending loads are aborted, URLs revoked. */
  clear(): void {
    for (const key of [...this.entries.keys()]) this.drop(key);
  }

  private evict(): void {
    for (const key of [...this.entries.keys()]) {
      if (this.entries.size <= this.capacity) return;
      if (!this.kept.has(key)) this.drop(key);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    entry.revoked = true;
    entry.controller.abort();
    if (entry.url) this.revoke(entry.url);
    // Nobody may be waiting on it: keep an aborted load from surfacing as unhandled.
    entry.promise.catch(() => undefined);
  }
}
