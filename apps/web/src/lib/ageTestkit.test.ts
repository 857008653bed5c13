/**
 * The upstream C2SP age test kit in Node, through `src/vectors/ageTestkit.ts` (which says what
 * each case must do); e2e/vectors.test.mjs runs the same in Chromium.
 */
import { describe, expect, it } from "vitest";
import { chunkCipher } from "./ageStream.ts";
import { scryptInThisThread, MAX_LOG_N, type ScryptFunction } from "./scryptStanza.ts";
import {
  KNOWN_DEVIATIONS,
  checkCase,
  expectedOutcome,
  parseCase,
  type KitCase,
  type Mode,
} from "../vectors/ageTestkit.ts";

// The app's TypeScript project has browser types only, so the two fs calls used here are typed by hand.
interface NodeFs {
  readdir(dir: URL): Promise<string[]>;
  readFile(file: URL): Promise<Uint8Array>;
}
const NODE_FS = "node:fs/promises";
const fs = (await import(/* @vite-ignore */ NODE_FS)) as NodeFs;
const KIT_DIR = new URL("../../../../testvectors/age-testkit/", import.meta.url);

async function loadKit(): Promise<KitCase[]> {
  const names = (await fs.readdir(KIT_DIR)).filter((name) => name !== "README.md").sort();
  return Promise.all(
    names.map(async (name) => parseCase(name, new Uint8Array(await fs.readFile(new URL(name, KIT_DIR))))),
  );
}

/** The work factor of every scrypt our passphrase path ran, per case. */
const scryptRuns = new Map<string, number[]>();
const cases = await loadKit();
const checked: Record<Mode, number> = { bytes: 0, stream: 0, passphrase: 0 };

describe("C2SP age test kit (testvectors/age-testkit)", () => {
  it("is all there, the deviation table names real cases, and payloads go through WebAssembly", async () => {
    expect(cases.length).toBe(123);
    for (const c of cases) expectedOutcome(c); // every expectation is one we know
    const names = cases.map((c) => c.name);
    for (const name of Object.keys(KNOWN_DEVIATIONS)) expect(names).toContain(name);
    expect((await chunkCipher()).kind).toBe("wasm");
  });

  for (const c of cases) {
    const deviation = KNOWN_DEVIATIONS[c.name];
    const want = deviation?.outcome ?? expectedOutcome(c);
    it(`${c.name} → ${want}${deviation ? ` (kit: ${c.expect}; known deviation)` : ""}`, async () => {
      const scrypt: ScryptFunction = (passphrase, salt, logN, onProgress) => {
        scryptRuns.set(c.name, [...(scryptRuns.get(c.name) ?? []), logN]);
        return scryptInThisThread(passphrase, salt, logN, onProgress);
      };
      const problems = await checkCase(c, scrypt, (mode) => {
        checked[mode] += 1;
      });
      expect(problems).toEqual([]);
    });
  }

  it("ran scrypt only at the kit's work factor, and never above our cap", () => {
    const passphraseCases = cases.filter((c) => c.passphrases.length > 0);
    expect(passphraseCases.length).toBe(25);
    const ran = new Set([...scryptRuns.values()].flat());
    // The kit's files use logN 10 (well under MAX_LOG_N); the one at 23 is refused before scrypt.
    expect([...ran]).toEqual([10]);
    expect(Math.max(...ran)).toBeLessThanOrEqual(MAX_LOG_N);
    expect(scryptRuns.has("scrypt_work_factor_23")).toBe(false);
    expect([...scryptRuns.keys()].sort()).toEqual([
      "scrypt",
      "scrypt_bad_tag",
      "scrypt_no_match",
      "scrypt_work_factor_wrong",
    ]);
  });

  it("opened every case in every mode that applies", () => {
    const passphraseCases = cases.filter((c) => c.passphrases.length > 0).length;
    expect(checked).toEqual({
      bytes: cases.length - passphraseCases,
      stream: cases.length - passphraseCases,
      passphrase: passphraseCases,
    });
  });
});
