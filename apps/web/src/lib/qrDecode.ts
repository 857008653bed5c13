/**
 * Reading QR codes from pixels (camera frames, pictures) with jsQR, loaded on first use so the
 * decoder stays out of the main bundle. Chromium's `BarcodeDetector` is missing on desktop Linux
 * and Windows, so there is no built-in to lean on.
 */

/** RGBA pixels, as `ImageData` has them. */
export interface Pixels {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** The text of the QR code in `pixels`, or undefined when none is found. */
export async function decodeQr(pixels: Pixels): Promise<string | undefined> {
  const { default: jsQR } = await import("jsqr");
  const code = jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "attemptBoth" });
  return code && code.data !== "" ? code.data : undefined;
}

/** Draw an image or video frame on a canvas and decode it; large pictures are scaled down first. */
export async function decodeQrFrom(
  source: CanvasImageSource,
  width: number,
  height: number,
): Promise<string | undefined> {
  const scale = Math.min(1, 1024 / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) return undefined;
  context.drawImage(source, 0, 0, w, h);
  return decodeQr(context.getImageData(0, 0, w, h));
}
