/** Decrypts photo metas and blobs off the main thread (see openWorker.ts). Long-lived, one per page. */
import type { OpenRequest, OpenResponse } from "./openWorker.ts";
import { failure, openerHere } from "./lib/opener.ts";
import { p2posWasm } from "./lib/p2posWasm.ts";

// This file is type-checked with the DOM library, whose `postMessage` is the window's.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenRequest>) => void) | null;
  postMessage(message: OpenResponse): void;
};

// The WebAssembly cipher is loaded now, not by the first thumbnail that needs it.
void p2posWasm();

/** Metas are opened one batch after another, in the order asked (the first rows' first). */
let metasTurn: Promise<unknown> = Promise.resolve();

scope.onmessage = ({ data }) => {
  const { id } = data;
  answer(data).then(
    (response) => scope.postMessage(response),
    (error: unknown) => scope.postMessage({ id, type: "error", error: failure(error) }),
  );
};

async function answer(request: OpenRequest): Promise<OpenResponse> {
  const { id } = request;
  switch (request.type) {
    case "metas": {
      const results = metasTurn.then(() => openerHere.metas(request.metas, request.keys));
      metasTurn = results.catch(() => undefined);
      return { id, type: "metas", results: await results };
    }
    case "blob":
      return { id, type: "blob", blob: await openerHere.blob(request.encrypted, request.keys, request.mime) };
    case "dataUrl":
      return { id, type: "dataUrl", url: await openerHere.dataUrl(request.encrypted, request.keys, request.mime) };
  }
}
