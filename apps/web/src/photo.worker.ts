/** Runs `preparePhoto` off the main thread (see photoWorker.ts). */
import { preparePhoto } from "./lib/photos.ts";
import type { PrepareRequest, PrepareResponse } from "./photoWorker.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PrepareRequest>) => void) | null;
  postMessage(message: PrepareResponse): void;
};

scope.onmessage = ({ data }) => {
  let last = 0;
  preparePhoto(
    data.file,
    data.recipient,
    (done, total) => {
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      scope.postMessage({ type: "progress", done, total });
    },
    data.thumbnail ? { thumbnail: data.thumbnail } : {},
  ).then(
    (prepared) => scope.postMessage({ type: "done", prepared }),
    (error: unknown) =>
      scope.postMessage({ type: "error", message: error instanceof Error ? error.message : String(error) }),
  );
};
