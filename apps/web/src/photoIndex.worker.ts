/** Opens photo metas for the local photo index off the main thread (see photoIndexWorker.ts). */
import { openPhotoMeta } from "./lib/photos.ts";
import type { OpenMetaRequest, OpenMetaResponse } from "./photoIndexWorker.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenMetaRequest>) => void) | null;
  postMessage(message: OpenMetaResponse): void;
};

scope.onmessage = ({ data }) => {
  openPhotoMeta(data.photo, data.keys).then(
    (meta) => scope.postMessage({ id: data.id, meta }),
    (error: unknown) =>
      scope.postMessage({ id: data.id, error: error instanceof Error ? error.message : String(error) }),
  );
};
