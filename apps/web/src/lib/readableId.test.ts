import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { vectorTests } from "../vectors/vitest.ts";
import { canonicalReadableId, encodeReadableId, IdError, idGroups, luhn32, parseReadableId } from "./readableId.ts";

await vectorTests("ids");

describe("readable ids", () => {
  it("round trips random keys and has 8 groups of 7", () => {
    for (let i = 0; i < 20; i++) {
      const key = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
      const id = encodeReadableId(key);
      expect(idGroups(id)).toHaveLength(8);
      expect(idGroups(id).every((group) => group.length === 7)).toBe(true);
      expect(parseReadableId(id)).toEqual(key);
      expect(canonicalReadableId(id.toLowerCase().replaceAll("-", " "))).toBe(id);
    }
  });

  it("names the quarter that has a typo", () => {
    const id = encodeReadableId(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).replaceAll("-", "");
    for (const [quarter, ordinal] of [
      [0, "1st"],
      [1, "2nd"],
      [2, "3rd"],
      [3, "4th"],
    ] as const) {
      const at = quarter * 14 + 5;
      const typo = id.slice(0, at) + (id[at] === "A" ? "B" : "A") + id.slice(at + 1);
      const error = captureIdError(typo);
      expect(error.kind).toBe("check");
      expect(error.message).toContain(`${ordinal} quarter`);
    }
  });

  it("names a bad character", () => {
    const error = captureIdError("ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEF!");
    expect(error.kind).toBe("character");
    expect(error.message).toContain("!");
  });

  it("counts characters, not UTF-16 units", () => {
    expect(captureIdError("🌳".repeat(28)).kind).toBe("length");
  });

  it("detects every single-character substitution (Luhn mod 32)", () => {
    const chunk = "PPNHXTSTJSPU6";
    const check = luhn32(chunk);
    for (let i = 0; i < chunk.length; i++) {
      for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") {
        if (c === chunk[i]) continue;
        expect(luhn32(chunk.slice(0, i) + c + chunk.slice(i + 1))).not.toBe(check);
      }
    }
  });
});

function captureIdError(text: string): IdError {
  try {
    parseReadableId(text);
  } catch (error) {
    if (error instanceof IdError) return error;
    throw error;
  }
  throw new Error(`expected ${text} to be refused`);
}
