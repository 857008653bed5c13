/**
 * `preparePhoto` (src/lib/photos.ts) in a Web Worker: decoding, thumbnailing and encrypting a
 * large file would otherwise freeze the page. One file per worker at a time; workers are kept for
 * the next file, and cancelling a file ends its worker.
 */
import { THUMB_SIZE, type PreparedPhoto } from "./lib/photos.ts";

export interface PrepareRequest {
  file: File;
  recipient: string;
  /** A thumbnail drawn by the page (videos), if any. */
  thumbnail: Blob | undefined;
}

export type PrepareResponse =
  | { type: "progress"; done: number; total: number }
  | { type: "done"; prepared: PreparedPhoto }
  | { type: "error"; message: string };

/**
 * How many files are prepared (and uploaded) at once: one worker per core the browser reports,
 * at least 2 (one file's upload overlaps the next one's encryption) and at most 8.
 */
export function uploadConcurrency(cores: number | undefined): number {
  return Math.min(8, Math.max(2, Math.floor(cores ?? 0)));
}

/**
 * Workers waiting for their next file. They are kept (not made per file) so that the WebAssembly
 * cipher each one compiled stays optimised: a fresh worker runs its first megabytes on the
 * engine's baseline compiler. One left idle for `IDLE_MS` is ended.
 */
const idle: { worker: Worker; timer: ReturnType<typeof setTimeout> }[] = [];
const IDLE_MS = 30_000;

function takeWorker(): Worker {
  const kept = idle.pop();
  if (kept) {
    clearTimeout(kept.timer);
    return kept.worker;
  }
  return new Worker(new URL("./photo.worker.ts", import.meta.url), { type: "module", name: "photo" });
}

function keepWorker(worker: Worker): void {
  worker.onmessage = null;
  worker.onerror = null;
  const entry = {
    worker,
    timer: setTimeout(() => {
      idle.splice(idle.indexOf(entry), 1);
      worker.terminate();
    }, IDLE_MS),
  };
  idle.push(entry);
}

export async function prepareInWorker(
  file: File,
  recipient: string,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<PreparedPhoto> {
  const thumbnail = file.type.startsWith("video/") ? await videoThumbnail(file) : undefined;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("Cancelled.", "AbortError"));
      return;
    }
    const worker = takeWorker();
    // A worker that finished its file goes back to the pool; one cancelled or failed is ended.
    const finish = (reuse: boolean) => {
      signal?.removeEventListener("abort", onAbort);
      if (reuse) keepWorker(worker);
      else worker.terminate();
    };
    const onAbort = () => {
      finish(false);
      reject(new DOMException("Cancelled.", "AbortError"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.onmessage = ({ data }: MessageEvent<PrepareResponse>) => {
      switch (data.type) {
        case "progress":
          onProgress?.(data.done, data.total);
          break;
        case "done":
          finish(true);
          resolve(data.prepared);
          break;
        case "error":
          finish(false);
          reject(new Error(data.message));
          break;
      }
    };
    worker.onerror = (event) => {
      finish(false);
      reject(new Error(`the encryption worker failed: ${event.message}`));
    };
    const request: PrepareRequest = { file, recipient, thumbnail };
    worker.postMessage(request);
  });
}

/**
 * A video's first frame, at most THUMB_SIZE on its long side, as WebP/JPEG; undefined
 * when this browser cannot play the file or it takes more than a few seconds.
 */
export async function videoThumbnail(file: File, timeoutMs = 5_000): Promise<Blob | undefined> {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  video.playsInline = true;
  try {
    // The first frame is drawable once "loadeddata" fires. (Seeking is not: recorder output,
    // fragmented MP4 and WebM among it, often has no index, so "seeked" may never come.)
    const frame = new Promise<void>((resolve, reject) => {
      video.onloadeddata = () => resolve();
      video.onerror = () => reject(new Error("this browser cannot play the video"));
      setTimeout(() => reject(new Error("the video took too long to load")), timeoutMs);
    });
    video.src = url;
    await frame;
    if (video.videoWidth === 0 || video.videoHeight === 0) return undefined;
    const scale = Math.min(1, THUMB_SIZE / Math.max(video.videoWidth, video.videoHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
    canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
    canvas.getContext("2d")?.drawImage(video, 0, 0, canvas.width, canvas.height);
    const encode = (type: string, quality: number) =>
      new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, quality));
    const webp = await encode("image/webp", 0.8);
    return webp?.type === "image/webp" ? webp : ((await encode("image/jpeg", 0.85)) ?? undefined);
  } catch {
    return undefined;
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}
