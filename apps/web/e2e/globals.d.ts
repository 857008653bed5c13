// What the e2e tests reach inside their pages: the harnesses', the gallery's, Drop's and Chat's `window` hooks,
// typed by the pages' own sources (each declares its part of `Window`), so a test that calls a
// hook that changed fails `tsc`.
import type {} from "../harness/main.ts";
import type {} from "../harness/webrtc.ts";
import type {} from "../src/gallery/testHooks.ts";
import type {} from "../src/drop/testHooks.ts";
import type {} from "../src/chat/testHooks.ts";

declare global {
  interface Window {
    /** e2e/replication.test.mjs: the replication grid last read, kept for a failure message. */
    lastGrid?: unknown;
    /** e2e/large-vault.bench.mjs: durations of Chromium's long tasks (PerformanceObserver). */
    longTasks: number[];
  }
}
