/**
 * Registers one Vitest test per vector case (tampered copies included) for a suite.
 * Only imported by `*.test.ts` files.
 */
import { describe, expect, it } from "vitest";
import { suiteCases, type SuiteName } from "./suites.ts";

export async function vectorTests(suite: SuiteName): Promise<void> {
  const cases = await suiteCases(suite);
  describe(`testvectors/${suite}.json`, () => {
    it("has cases, and tampered copies that must fail", () => {
      expect(cases.filter((c) => !c.tampered).length).toBeGreaterThan(0);
      if (suite !== "blobs" || cases.some((c) => c.tampered)) {
        expect(cases.some((c) => c.tampered && c.expected !== "ok")).toBe(true);
      }
    });
    for (const c of cases) {
      it(`${c.name} → ${c.expected}`, c.run);
    }
  });
}
