/** Which photo comes next in the viewer and the slideshow, and which to decrypt ahead. Pure. */

/** The index a step of `delta` reaches, or undefined past either end (unless looping). */
export function step(index: number, delta: number, length: number, loop = false): number | undefined {
  if (length <= 0 || index < 0) return undefined;
  const target = index + delta;
  if (target >= 0 && target < length) return target;
  if (!loop) return undefined;
  return ((target % length) + length) % length;
}

/**
 * The slideshow's next move: the next photo; at the end of what is loaded, ask for more when there
 * is more, else the first (looping) or stop.
 */
export function slideshowNext(
  index: number,
  length: number,
  { loop, hasMore }: { loop: boolean; hasMore: boolean },
): { go: number } | { loadMore: true } | { stop: true } {
  const next = step(index, 1, length);
  if (next !== undefined) return { go: next };
  if (hasMore) return { loadMore: true };
  if (loop && length > 1) return { go: 0 };
  return { stop: true };
}

/**
 * The indexes to decrypt ahead around `index`, nearest first, the way the viewer is going
 * (`direction` +1 forward, -1 back) before the other way: `radius` on the near side.
 */
export function preloadOrder(index: number, length: number, direction: 1 | -1, radius = 1): number[] {
  const out: number[] = [];
  for (let d = 1; d <= radius; d++) {
    for (const sign of [direction, -direction]) {
      const target = index + sign * d;
      if (target >= 0 && target < length) out.push(target);
    }
  }
  return out;
}

/** Slideshow intervals offered, in seconds. */
export const SLIDESHOW_INTERVALS = [3, 5, 10, 20] as const;
