/**
 * Runs scrypt off the main thread (see scryptWorker.ts). One request per worker: the worker is
 * created for a derivation and terminated after it, so its 256 MiB of scrypt memory goes with it.
 */
import { scryptInThisThread } from "./lib/scryptStanza.ts";
import type { ScryptRequest, ScryptResponse } from "./scryptWorker.ts";

// This file is type-checked with the DOM library, whose `postMessage` is the window's.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ScryptRequest>) => void) | null;
  postMessage(message: ScryptResponse, transfer?: Transferable[]): void;
};

scope.onmessage = ({ data }) => {
  let reported = -1;
  scryptInThisThread(data.passphrase, data.salt, data.logN, (fraction) => {
    // noble reports thousands of times; the page needs at most a hundred updates.
    const percent = Math.floor(fraction * 100);
    if (percent === reported) return;
    reported = percent;
    scope.postMessage({ type: "progress", fraction });
  }).then(
    (key) => scope.postMessage({ type: "done", key }, [key.buffer]),
    (error: unknown) =>
      scope.postMessage({ type: "error", message: error instanceof Error ? error.message : String(error) }),
  );
};
