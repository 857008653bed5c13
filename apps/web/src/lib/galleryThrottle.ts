/**
 * Token buckets with time as a parameter: the gallery throttles what a peer may ask of this
 * browser (requests per second) and what this browser sends through the hub (which allows
 * 10 messages per second, bursts of 20, per connection).
 *
 * ```ts
 * const bucket = new TokenBucket(8, 16, now);
 * if (!bucket.take(now)) deny("throttled");
 * ```
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  private tokens: number;
  private last: number;

  /** `rate` tokens per second, at most `burst` saved up; it starts full. */
  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds from `now` until a token is there (0: one is there now). */
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
    this.last = now;
  }
}

/**
 * A queue that lets items out no faster than a token bucket allows: `push` items, then `due(now)`
 * releases the ones that may go now and `nextAt(now)` says when to look again.
 */
export class PacedQueue<T> {
  private readonly bucket: TokenBucket;
  private readonly items: T[] = [];

  constructor(rate: number, burst: number, now: number) {
    this.bucket = new TokenBucket(rate, burst, now);
  }

  push(item: T): void {
    this.items.push(item);
  }

  get length(): number {
    return this.items.length;
  }

  due(now: number): T[] {
    const out: T[] = [];
    while (this.items.length > 0 && this.bucket.take(now)) {
      const item = this.items.shift();
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  /** When the next queued item may go, or undefined when the queue is empty. */
  nextAt(now: number): number | undefined {
    return this.items.length === 0 ? undefined : now + this.bucket.waitMs(now);
  }
}
