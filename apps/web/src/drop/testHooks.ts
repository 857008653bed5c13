/**
 * `window.p2posDropTest`, installed only when the page was opened with `?test-hooks`: what the
 * browser tests need to see a stall in a second instead of 15.
 */
import { pageTiming } from "./session.ts";

export interface DropTestHooks {
  /** The stall timeout of drops started from now on, in ms. */
  setStallMs(ms: number): void;
}

declare global {
  interface Window {
    p2posDropTest?: DropTestHooks;
  }
}

export function installTestHooks(): () => void {
  window.p2posDropTest = {
    setStallMs: (ms) => {
      pageTiming.stallMs = ms;
    },
  };
  return () => {
    delete window.p2posDropTest;
  };
}
