/**
 * A `ScryptFunction` for the page that runs scrypt in a Web Worker, so the progress indicator and
 * the rest of the page stay responsive during the second or so that logN 18 takes.
 */
import type { ScryptFunction } from "./lib/crypt.ts";

export interface ScryptRequest {
  passphrase: string;
  salt: Uint8Array;
  logN: number;
}

export type ScryptResponse =
  { type: "progress"; fraction: number } | { type: "done"; key: Uint8Array } | { type: "error"; message: string };

export const scryptInWorker: ScryptFunction = (passphrase, salt, logN, onProgress) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./scrypt.worker.ts", import.meta.url), { type: "module", name: "scrypt" });
    const finish = () => worker.terminate();
    worker.onmessage = ({ data }: MessageEvent<ScryptResponse>) => {
      switch (data.type) {
        case "progress":
          onProgress?.(data.fraction);
          break;
        case "done":
          finish();
          resolve(data.key);
          break;
        case "error":
          finish();
          reject(new Error(`scrypt failed: ${data.message}`));
          break;
      }
    };
    worker.onerror = (event) => {
      finish();
      reject(new Error(`the scrypt worker failed to start: ${event.message}`));
    };
    const request: ScryptRequest = { passphrase, salt, logN };
    worker.postMessage(request);
  });
