/**
 * Load something every few seconds while the page is visible: the next load starts `intervalMs`
 * after the previous one ended (never two at once), nothing loads while the page is hidden, and
 * showing it again loads at once. No React here (see `usePolling.ts`), so the timing is testable.
 */
export interface PollerOptions<T> {
  load: () => Promise<T>;
  intervalMs: number;
  onValue: (value: T) => void;
  onError: (error: unknown) => void;
  /** Whether the page is hidden (default: `document.hidden`). */
  isHidden?: () => boolean;
  setTimer?: (run: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

export class Poller<T> {
  readonly #options: PollerOptions<T>;
  #timer: unknown = undefined;
  #inFlight = false;
  #again = false;
  #stopped = true;

  constructor(options: PollerOptions<T>) {
    this.#options = options;
  }

  /**
   * Load now, then keep going; with `wait`, the first load comes an interval from now (what was
   * just loaded some other way is fresh).
   */
  start(wait = false): void {
    this.#stopped = false;
    if (wait) this.#schedule();
    else this.#tick();
  }

  /** No more loads; an answer still on its way is dropped. */
  stop(): void {
    this.#stopped = true;
    this.#clear();
  }

  /** Load now (or right after the load under way), e.g. after a change made on this page. */
  refresh(): void {
    if (this.#stopped) return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#clear();
    this.#tick();
  }

  /** Call when the page's visibility changed: hidden pauses, visible loads at once. */
  visibilityChanged(): void {
    if (this.#stopped) return;
    if (this.#hidden()) {
      this.#clear();
    } else if (!this.#inFlight && this.#timer === undefined) {
      this.#tick();
    }
  }

  #hidden(): boolean {
    return this.#options.isHidden ? this.#options.isHidden() : typeof document !== "undefined" && document.hidden;
  }

  #clear(): void {
    if (this.#timer !== undefined) {
      (this.#options.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>)))(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    if (this.#stopped || this.#hidden()) return;
    this.#inFlight = true;
    this.#again = false;
    this.#options.load().then(
      (value) => this.#settle(() => this.#options.onValue(value)),
      (error: unknown) => this.#settle(() => this.#options.onError(error)),
    );
  }

  #settle(deliver: () => void): void {
    this.#inFlight = false;
    if (this.#stopped) return;
    deliver();
    if (this.#again) {
      this.#tick();
      return;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#hidden()) return;
    const setTimer = this.#options.setTimer ?? ((run, ms) => setTimeout(run, ms));
    this.#timer = setTimer(() => {
      this.#timer = undefined;
      this.#tick();
    }, this.#options.intervalMs);
  }
}
