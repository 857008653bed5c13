/**
 * Hybrid logical clock, as `crates/p2pos-core/src/hlc.rs`: a timestamp is (wall ms, counter); it
 * never goes backwards, moves past every timestamp observed, and stays close to real time.
 */
export interface Hlc {
  wall_ms: number;
  counter: number;
}

const MAX_COUNTER = 0xffff_ffff;
/** How far ahead of our clock a peer's timestamp may be (one minute), as the Rust default. */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall_ms !== b.wall_ms ? a.wall_ms - b.wall_ms : a.counter - b.counter;
}

export class HlcClock {
  #last: Hlc;
  readonly #maxDriftMs: number;

  constructor(last: Hlc = { wall_ms: 0, counter: 0 }, maxDriftMs = DEFAULT_MAX_DRIFT_MS) {
    this.#last = { ...last };
    this.#maxDriftMs = maxDriftMs;
  }

  get last(): Hlc {
    return { ...this.#last };
  }

  /** A timestamp for a local event at physical time `nowMs`. */
  tick(nowMs: number = Date.now()): Hlc {
    this.#last = nowMs > this.#last.wall_ms ? { wall_ms: nowMs, counter: 0 } : bump(this.#last);
    return this.last;
  }

  /** Merge a timestamp seen elsewhere; the result is after both. Throws if it is too far ahead. */
  observe(remote: Hlc, nowMs: number = Date.now()): Hlc {
    const aheadMs = Math.max(0, remote.wall_ms - nowMs);
    if (aheadMs > this.#maxDriftMs) {
      throw new RangeError(`a clock is ${aheadMs} ms ahead of ours (more than the ${this.#maxDriftMs} ms we accept)`);
    }
    const newest = compareHlc(this.#last, remote) >= 0 ? this.#last : remote;
    this.#last = nowMs > newest.wall_ms ? { wall_ms: nowMs, counter: 0 } : bump(newest);
    return this.last;
  }
}

function bump(t: Hlc): Hlc {
  return t.counter < MAX_COUNTER
    ? { wall_ms: t.wall_ms, counter: t.counter + 1 }
    : { wall_ms: t.wall_ms + 1, counter: 0 };
}
