/**
 * Keeping the local photo index (`photoIndex.ts`) up to date with the node: the stored index first
 * (instant), then a complete walk of `GET /v1/photos` (500 a page) that decrypts only new or
 * changed metas, in slices of a few milliseconds so the page stays responsive, and drops what is
 * gone; after that, the changes feed (`GET /v1/replication/changes`, ~250 bytes when idle) brings
 * uploads and deletions from any browser or node without walking again; its `reset` (the node
 * restarted) walks again. Every change is stored again, sealed. No React here; the IO is given.
 */
import type { PhotoItem, PhotoPage, ReplicationChanges } from "./apiTypes.ts";
import { makeEntry, metaDigest, planSync, sortEntries, type IndexEntry } from "./photoIndex.ts";
import type { PhotoMeta } from "./photos.ts";

/** Photos per page of the walk (the node's maximum). */
export const WALK_LIMIT = 500;
/** Main-thread time one slice of decryption may take before it yields. */
export const SLICE_MS = 8;
/** Metas asked for at once (their decryptions overlap, in a worker or in WebCrypto). */
const BATCH = 16;
/** During a long first sync, how often (ms) the photos decrypted so far are shown. */
const SHOW_EVERY_MS = 2000;
/** How often (ms) the progress ("Indexing 3,200 of 10,000") is updated. */
const PROGRESS_EVERY_MS = 250;
const MAX_CATCH_UP = 20;

export interface AlbumAccess {
  title: string | undefined;
  keys: CryptoKey[];
}

export interface IndexerSource {
  page(cursor: string | undefined, limit: number): Promise<PhotoPage>;
  changes(since: string | undefined): Promise<ReplicationChanges>;
  /** An album's title and keys; undefined when it cannot be opened. */
  album(id: string): Promise<AlbumAccess | undefined>;
  open(item: PhotoItem, keys: CryptoKey[]): Promise<PhotoMeta>;
  load(): Promise<IndexEntry[] | undefined>;
  /** Store `entries`; nothing is written once `isCancelled` says true (the indexer was stopped). */
  save(entries: readonly IndexEntry[], isCancelled: () => boolean): Promise<void>;
  /** Give the main thread back (a macrotask). */
  pause(): Promise<void>;
  now(): number;
}

export interface IndexSnapshot {
  /** Every indexed photo, newest taken first. */
  entries: readonly IndexEntry[];
  /** The stored index was read (or there was none). */
  loaded: boolean;
  /** A complete walk finished at least once since the page opened. */
  synced: boolean;
  /** A walk is under way: how many photos are indexed of how many listed. */
  progress: { done: number; total: number } | undefined;
  /** Why the last walk or poll failed; undefined once one succeeds. */
  error: unknown;
  /** The keys of each album opened so far (for the thumbnails and the viewer). */
  keys: ReadonlyMap<string, CryptoKey[]>;
  /** This node's id, once it said (where each photo is stored is shown against it). */
  here: string | undefined;
}

export interface SyncFigures {
  listed: number;
  opened: number;
  failed: number;
  dropped: number;
  ms: number;
}

export class PhotoIndexer {
  readonly #source: IndexerSource;
  #byId = new Map<string, IndexEntry>();
  #snapshot: IndexSnapshot = {
    entries: [],
    loaded: false,
    synced: false,
    progress: undefined,
    error: undefined,
    keys: new Map(),
    here: undefined,
  };
  #since: string | undefined;
  #loading: Promise<void> | undefined;
  #walking: Promise<SyncFigures | undefined> | undefined;
  #polling = false;
  #stopped = false;
  #albums = new Map<string, Promise<AlbumAccess | undefined>>();
  readonly #listeners = new Set<(snapshot: IndexSnapshot) => void>();
  /** The figures of the last complete walk (for the benchmark and the e2e test). */
  lastSync: SyncFigures | undefined;

  constructor(source: IndexerSource) {
    this.#source = source;
  }

  get snapshot(): IndexSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: IndexSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forget everything in memory; no more updates. */
  stop(): void {
    this.#stopped = true;
    this.#listeners.clear();
    this.#byId.clear();
  }

  /** Read the stored index (once). */
  load(): Promise<void> {
    this.#loading ??= (async () => {
      let stored: IndexEntry[] | undefined;
      try {
        stored = await this.#source.load();
      } catch {
        stored = undefined;
      }
      // A walk may have finished first (a very small vault): it wins.
      if (stored && this.#byId.size === 0 && !this.#snapshot.synced) {
        this.#byId = new Map(stored.map((e) => [e.item.id, e]));
        this.#update({ entries: sortEntries(stored) });
        // The albums' keys now, for the thumbnails, before the walk gets there.
        for (const album of new Set(stored.map((e) => e.item.album))) void this.#access(album);
      }
      this.#update({ loaded: true });
    })();
    return this.#loading;
  }

  /** A complete walk (one at a time: a second call joins the one under way). */
  sync(): Promise<SyncFigures | undefined> {
    this.#walking ??= this.#walk().finally(() => {
      this.#walking = undefined;
    });
    return this.#walking;
  }

  /** Apply what changed since the last walk or poll; walks again when the node asks for it. */
  async poll(): Promise<void> {
    if (this.#walking || this.#polling || this.#stopped) return;
    if (this.#since === undefined) {
      await this.sync();
      return;
    }
    this.#polling = true;
    try {
      let changed = false;
      for (let round = 0; round < MAX_CATCH_UP && !this.#isStopped(); round++) {
        const answer = await this.#source.changes(this.#since);
        if (answer.reset) {
          this.#since = undefined;
          this.#polling = false;
          await this.sync();
          return;
        }
        this.#since = answer.cursor;
        changed = (await this.#apply(answer)) || changed;
        if (!answer.more) break;
      }
      this.#update({ error: undefined });
      if (changed) await this.#save();
    } catch (error) {
      this.#update({ error });
    } finally {
      this.#polling = false;
    }
  }

  async #walk(): Promise<SyncFigures | undefined> {
    const started = this.#source.now();
    await this.load();
    try {
      // The changes cursor first, so nothing falls between the walk and the first poll.
      const start = await this.#source.changes(undefined);
      const since = start.cursor;
      this.#update({ here: start.node.node });
      const listed: PhotoItem[] = [];
      let cursor: string | undefined;
      do {
        const page = await this.#source.page(cursor, WALK_LIMIT);
        if (this.#isStopped()) return undefined;
        listed.push(...page.photos);
        cursor = page.next ?? undefined;
        this.#update({ progress: { done: this.#byId.size, total: Math.max(listed.length, this.#byId.size) } });
      } while (cursor !== undefined);

      this.#albums = new Map();
      const titles = new Map<string, string | undefined>();
      for (const album of new Set(listed.map((p) => p.album))) {
        titles.set(album, (await this.#access(album))?.title);
      }
      const plan = planSync(this.#byId, listed, titles);
      const entries = new Map(plan.kept.map((e) => [e.item.id, e]));
      const total = plan.kept.length + plan.open.length;
      this.#byId = entries;
      this.#update({ progress: { done: entries.size, total } });
      if (plan.dropped > 0 || plan.open.length > 0) this.#update({ entries: sortEntries(entries.values()) });
      const failed = await this.#openAll(
        plan.open,
        (opened) => {
          for (const entry of opened) entries.set(entry.item.id, entry);
        },
        (done) => this.#update({ progress: { done: plan.kept.length + done, total } }),
      );
      if (this.#isStopped()) return undefined;
      this.#since = since;
      this.#update({ entries: sortEntries(entries.values()), synced: true, progress: undefined, error: undefined });
      const figures = {
        listed: listed.length,
        opened: plan.open.length - failed,
        failed,
        dropped: plan.dropped,
        ms: Math.round(this.#source.now() - started),
      };
      this.lastSync = figures;
      if (plan.open.length > 0 || plan.dropped > 0) await this.#save();
      return figures;
    } catch (error) {
      this.#update({ error, progress: undefined });
      return undefined;
    }
  }

  /**
   * Decrypt the metas of `items`, a batch at a time, yielding whenever a slice has taken `SLICE_MS`;
   * every `SHOW_EVERY_MS` the entries so far are shown. Returns how many could not be opened.
   */
  async #openAll(
    items: readonly PhotoItem[],
    add: (entries: IndexEntry[]) => void,
    onProgress: (done: number) => void,
  ): Promise<number> {
    let failed = 0;
    let done = 0;
    let shown = this.#source.now();
    let told = this.#source.now();
    let slice = this.#source.now();
    for (let i = 0; i < items.length && !this.#isStopped(); i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      const opened = await Promise.all(batch.map((item) => this.#openEntry(item)));
      const good = opened.filter((e): e is IndexEntry => e !== undefined);
      failed += opened.length - good.length;
      done += batch.length;
      add(good);
      const now = this.#source.now();
      if (now - slice >= SLICE_MS) {
        if (now - told >= PROGRESS_EVERY_MS) {
          told = now;
          onProgress(done);
        }
        if (now - shown >= SHOW_EVERY_MS) {
          shown = now;
          this.#update({ entries: sortEntries(this.#byId.values()) });
        }
        await this.#source.pause();
        slice = this.#source.now();
      }
    }
    onProgress(done);
    return failed;
  }

  async #openEntry(item: PhotoItem): Promise<IndexEntry | undefined> {
    const access = await this.#access(item.album);
    if (!access) return undefined;
    try {
      return makeEntry(item, access.title, await this.#source.open(item, access.keys));
    } catch {
      return undefined;
    }
  }

  #access(album: string): Promise<AlbumAccess | undefined> {
    let access = this.#albums.get(album);
    if (!access) {
      access = this.#source.album(album).then(
        (opened) => {
          if (opened && this.#snapshot.keys.get(album) !== opened.keys) {
            this.#update({ keys: new Map(this.#snapshot.keys).set(album, opened.keys) });
          }
          return opened;
        },
        () => undefined,
      );
      this.#albums.set(album, access);
    }
    return access;
  }

  /** Apply one answer of the changes feed; true when the index changed. */
  async #apply(answer: ReplicationChanges): Promise<boolean> {
    let changed = false;
    for (const id of answer.removed) changed = this.#byId.delete(id) || changed;
    for (const placement of answer.changed) {
      const entry = this.#byId.get(placement.photo);
      if (entry) this.#byId.set(entry.item.id, { ...entry, item: { ...entry.item, nodes: placement.nodes } });
    }
    const fresh = answer.added.filter((item) => this.#byId.get(item.id)?.metaId !== metaDigest(item.meta));
    // Albums opened again: a new one shared with us, a new key (epoch) since the last walk.
    if (fresh.length > 0) this.#albums = new Map();
    await this.#openAll(
      fresh,
      (entries) => {
        for (const entry of entries) this.#byId.set(entry.item.id, entry);
      },
      () => undefined,
    );
    changed = changed || fresh.length > 0;
    if (changed || answer.changed.length > 0) this.#update({ entries: sortEntries(this.#byId.values()) });
    return changed;
  }

  /** Read again after an await (`stop` may have come meanwhile). */
  #isStopped(): boolean {
    return this.#stopped;
  }

  async #save(): Promise<void> {
    // Stopped (signed out, forgotten) while decrypting: the index is gone and stays gone.
    if (this.#isStopped()) return;
    try {
      await this.#source.save(this.#snapshot.entries, () => this.#isStopped());
    } catch {
      // Not stored (quota, private mode): the next visit indexes again.
    }
  }

  #update(part: Partial<IndexSnapshot>): void {
    if (this.#stopped) return;
    this.#snapshot = { ...this.#snapshot, ...part };
    for (const listener of this.#listeners) listener(this.#snapshot);
  }
}
