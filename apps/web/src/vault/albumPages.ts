/**
 * A listing of photos (an album, or the timeline) as far as it is loaded: pages fetched by cursor
 * as the grid scrolls, and the node's replication changes applied as they come, so an open page
 * never loads the whole album again. No React here (see `useAlbumPages.ts`), so it is testable.
 *
 * The protocol (docs/API.md): ask `replication/changes` for a cursor first, then the first page,
 * so no change falls between. Each poll sends that cursor and `through` (the last loaded
 * position): photos past it arrive with their pages, with where they are stored at that time.
 */
import type { PhotoItem, PhotoPage, ReplicationChanges } from "../lib/apiTypes.ts";

/** Where the pages and the changes come from: an album, or every album shared with you. */
export interface PagesSource {
  page(cursor: string | undefined): Promise<PhotoPage>;
  changes(since: string | undefined, through: string | undefined): Promise<ReplicationChanges>;
}

export interface PagesSnapshot {
  /**
   * The loaded photos, newest first. A page's arrival adds to this same array (a new one per page
   * would copy every loaded photo each time: 800 KB at 100,000, garbage whose collection paused
   * the page); changes that remove or replace photos make a new one. So depend on
   * `photos.length` as well as on `photos`.
   */
  photos: readonly PhotoItem[];
  /** Every page is loaded. */
  done: boolean;
  /** A page is on its way. */
  loading: boolean;
  /** Why the last page or poll failed; undefined once one succeeds. */
  error: unknown;
  /** This node's id (the first placement of each photo), once the node said. */
  here: string | undefined;
  /** Photos appeared or went away since the listing opened (the album's count is stale). */
  membership: number;
}

/** How many times a poll may ask again at once when the node says more changes wait. */
const MAX_CATCH_UP = 20;

export class PhotoPages {
  readonly #source: PagesSource;
  #photos: PhotoItem[] = [];
  /** The ids in `#photos` (kept along, so a page's arrival does not go through every loaded photo). */
  #ids = new Set<string>();
  #next: string | undefined;
  #done = false;
  #loading = false;
  #error: unknown = undefined;
  #here: string | undefined;
  #membership = 0;
  #since: string | undefined;
  #started: Promise<void> | undefined;
  #stopped = false;
  #snapshot: PagesSnapshot;
  readonly #listeners = new Set<(snapshot: PagesSnapshot) => void>();

  constructor(source: PagesSource) {
    this.#source = source;
    this.#snapshot = this.#build();
  }

  get snapshot(): PagesSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: PagesSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The cursor to start from, then the first page. Safe to call again: it starts once. */
  start(): Promise<void> {
    this.#started ??= this.#begin();
    return this.#started;
  }

  /** No more updates (the view went away); answers still on their way are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#listeners.clear();
  }

  /** The next page, unless all are loaded or one is on its way. Failures land in `error`. */
  async loadMore(): Promise<void> {
    await this.start();
    if (this.#done || this.#loading || this.#stopped) return;
    this.#loading = true;
    this.#emit();
    try {
      const page = await this.#source.page(this.#next);
      if (this.#isStopped()) return;
      this.#append(page);
      this.#error = undefined;
    } catch (error) {
      this.#error = error;
    } finally {
      this.#loading = false;
      this.#emit();
    }
  }

  /**
   * Ask what changed since the last answer and apply it. Throws when the node cannot be asked
   * (the poller shows that); a listing the node no longer knows the cursor of starts again.
   */
  async poll(): Promise<void> {
    await this.start();
    for (let round = 0; round < MAX_CATCH_UP && !this.#stopped; round++) {
      const through = this.#done ? undefined : this.#next;
      const answer = await this.#source.changes(this.#since, through);
      if (this.#isStopped()) return;
      this.#here = answer.node.node;
      if (answer.reset) {
        this.#restart(answer.cursor);
        await this.loadMore();
        return;
      }
      this.#since = answer.cursor;
      this.#apply(answer);
      if (!answer.more) return;
    }
  }

  /** Read again after an await (it may have changed meanwhile). */
  #isStopped(): boolean {
    return this.#stopped;
  }

  async #begin(): Promise<void> {
    try {
      const start = await this.#source.changes(undefined, undefined);
      this.#since = start.cursor;
      this.#here = start.node.node;
    } catch (error) {
      // Pages still load; the first poll asks again (without a cursor: from then on).
      this.#error = error;
    }
    this.#emit();
  }

  #restart(cursor: string): void {
    this.#photos = [];
    this.#ids = new Set();
    this.#next = undefined;
    this.#done = false;
    this.#since = cursor;
    this.#membership++;
  }

  #append(page: PhotoPage): void {
    const fresh = page.photos.filter((p) => !this.#ids.has(p.id));
    for (const p of fresh) this.#ids.add(p.id);
    this.#photos.push(...fresh);
    this.#next = page.next ?? undefined;
    this.#done = this.#next === undefined;
  }

  /** Removed go, changed get their new placements, added slot in where they belong if loaded. */
  #apply(answer: ReplicationChanges): void {
    if (answer.added.length === 0 && answer.changed.length === 0 && answer.removed.length === 0) return;
    const gone = new Set([...answer.removed, ...answer.added.map((p) => p.id)]);
    const placements = new Map(answer.changed.map((c) => [c.photo, c.nodes]));
    let photos = this.#photos.filter((p) => !gone.has(p.id));
    if (placements.size > 0) {
      photos = photos.map((p) => {
        const nodes = placements.get(p.id);
        return nodes ? { ...p, nodes } : p;
      });
    }
    const within = answer.added.filter((p) => this.#done || (this.#next !== undefined && p.cursor >= this.#next));
    if (within.length > 0) photos = mergeNewestFirst(photos, within);
    const membership = answer.removed.length + answer.added.length;
    this.#membership += membership > 0 ? 1 : 0;
    this.#photos = photos;
    if (gone.size > 0 || within.length > 0) this.#ids = new Set(photos.map((p) => p.id));
    this.#emit();
  }

  #build(): PagesSnapshot {
    return {
      photos: this.#photos,
      done: this.#done,
      loading: this.#loading,
      error: this.#error,
      here: this.#here,
      membership: this.#membership,
    };
  }

  #emit(): void {
    if (this.#stopped) return;
    this.#snapshot = this.#build();
    for (const listener of this.#listeners) listener(this.#snapshot);
  }
}

/** Both lists newest first (larger cursor first); the result too. */
export function mergeNewestFirst(a: readonly PhotoItem[], b: readonly PhotoItem[]): PhotoItem[] {
  const extra = [...b].sort((x, y) => (x.cursor < y.cursor ? 1 : x.cursor > y.cursor ? -1 : 0));
  const out: PhotoItem[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < extra.length) {
    const x = a[i];
    const y = extra[j];
    if (y !== undefined && (x === undefined || y.cursor > x.cursor)) {
      out.push(y);
      j++;
    } else if (x !== undefined) {
      out.push(x);
      i++;
    }
  }
  return out;
}
