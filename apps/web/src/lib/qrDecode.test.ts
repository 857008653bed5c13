import QRCode from "qrcode";
import { describe, expect, it } from "vitest";
import { decodeQr, type Pixels } from "./qrDecode.ts";

/** Render `text` as the QR code the identity screen draws: 4 px per module, a quiet zone. */
function render(text: string, scale = 4, margin = 4): Pixels {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: "M" });
  const width = (modules.size + 2 * margin) * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < width; x++) {
      const mx = Math.floor(x / scale) - margin;
      const my = Math.floor(y / scale) - margin;
      const dark = mx >= 0 && my >= 0 && mx < modules.size && my < modules.size && modules.get(my, mx);
      if (dark) data.fill(0, (y * width + x) * 4, (y * width + x) * 4 + 3);
    }
  }
  return { data, width, height: width };
}

describe("QR decoding", () => {
  it("reads back what qrcode drew", async () => {
    const card = `p2pos-member:ABCDEFG-HIJKLMN:age1${"q".repeat(58)}`;
    expect(await decodeQr(render(card))).toBe(card);
  });

  it("finds nothing in a blank picture", async () => {
    expect(await decodeQr({ data: new Uint8ClampedArray(64 * 64 * 4).fill(255), width: 64, height: 64 })).toBe(
      undefined,
    );
  });
});
