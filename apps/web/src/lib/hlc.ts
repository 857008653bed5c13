/**
 * Hybrid logical clock, as `crates/p2pos-core/src/hlc.rs`: a timestamp is (wall ms, counter); it
 * never goes backwards, moves past every timestamp observed, and stays close to real time.
 *
 * `wall_ms` is a u64 on the node, but a JavaScript number holds integers exactly only up to 2^53:
 * `JSON.parse` rounds anything larger. So no timestamp that is not a safe integer, or that is too
 * far ahead of our own clock, is ever observed: arithmetic on it would sign records the node
 * refuses (or that overflow a u64).
 */
export interface Hlc {
  wall_ms: number;
  counter: number;
}

const MAX_COUNTER = 0xffff_ffff;
/** How far ahead of our clock a peer's timestamp may be (one minute), as the Rust default. */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

/** Whether `hlc` is a (wall ms, counter) pair JavaScript numbers hold exactly: no rounding, no u64 overflow. */
export function isSafeHlc(hlc: unknown): hlc is Hlc {
  if (typeof hlc !== "object" || hlc === null) return false;
  const { wall_ms, counter } = hlc as { wall_ms?: unknown; counter?: unknown };
  return (
    typeof wall_ms === "number" &&
    Number.isSafeInteger(wall_ms) &&
    wall_ms >= 0 &&
    typeof counter === "number" &&
    Number.isInteger(counter) &&
    counter >= 0 &&
    counter <= MAX_COUNTER
  );
}

/**
 * Whether every `"wall_ms"` in the JSON `text` is written as a plain integer that a JavaScript
 * number holds exactly. `JSON.parse` has already rounded 18446744073709551615 to a number that
 * looks like an integer, so the digits as written decide. False when there is no `wall_ms`.
 */
export function wallMsTextIsSafe(text: string): boolean {
  let seen = false;
  // A quote inside a JSON string is escaped, so `"wall_ms":` only matches a key.
  for (const match of text.matchAll(/"wall_ms"\s*:\s*([^,}\s]*)/g)) {
    seen = true;
    const digits = match[1] ?? "";
    if (!/^(0|[1-9][0-9]{0,15})$/.test(digits) || !Number.isSafeInteger(Number(digits))) return false;
  }
  return seen;
}

/** Whether `hlc` is safe and at most `maxDriftMs` ahead of `nowMs`: one our clock may observe. */
export function isObservable(hlc: unknown, nowMs: number = Date.now(), maxDriftMs = DEFAULT_MAX_DRIFT_MS): hlc is Hlc {
  return isSafeHlc(hlc) && hlc.wall_ms - nowMs <= maxDriftMs;
}

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

  /**
   * Merge a timestamp seen elsewhere; the result is after both. Throws (and changes nothing) if it
   * is too far ahead, or not a safe integer (a u64 `JSON.parse` rounded).
   */
  observe(remote: Hlc, nowMs: number = Date.now()): Hlc {
    if (!isSafeHlc(remote)) {
      const { wall_ms, counter } = remote as Partial<Hlc>;
      throw new RangeError(`a timestamp (${String(wall_ms)}, ${String(counter)}) is not a safe integer`);
    }
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
