import { describe, expect, it } from "vitest";
import { MIN_PASSPHRASE_LENGTH, passphraseStrength } from "./passphrase.ts";

describe("passphrase strength", () => {
  it("asks for the minimum length first", () => {
    expect(passphraseStrength("a".repeat(MIN_PASSPHRASE_LENGTH - 1)).level).toBe("too-short");
  });

  it("ranks repetition low and unrelated words high", () => {
    expect(passphraseStrength("aaaaaaaaaaaa").level).toBe("weak");
    expect(passphraseStrength("password12").level).toBe("weak");
    expect(passphraseStrength("correct horse battery staple").level).toBe("strong");
  });
});
