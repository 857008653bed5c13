import { describe, expect, it } from "vitest";
import { Base64Error, decodeBase64, encodeBase64 } from "./base64.ts";

describe("base64", () => {
  it("round trips every length of a small range", () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect(decodeBase64(encodeBase64(bytes))).toEqual(bytes);
    }
  });

  it.each([
    ["missing padding", "QUI"],
    ["non-zero trailing bits", "QUJ="],
    ["non-zero trailing bits (one byte)", "QR=="],
    ["url-safe alphabet", "-_8="],
    ["whitespace", "QUJD\nQUJD"],
    ["padding in the middle", "QQ==QUJD"],
    ["too much padding", "QUJD===="],
  ])("refuses %s", (_what, text) => {
    expect(() => decodeBase64(text)).toThrow(Base64Error);
  });

  it("accepts the empty string", () => {
    expect(decodeBase64("")).toEqual(new Uint8Array());
  });
});
