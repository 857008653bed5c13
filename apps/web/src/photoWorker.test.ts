import { describe, expect, it } from "vitest";
import { uploadConcurrency } from "./photoWorker.ts";

describe("uploadConcurrency", () => {
  it("prepares one file per core, at least 2 and at most 8 at once", () => {
    expect(uploadConcurrency(undefined)).toBe(2);
    expect(uploadConcurrency(1)).toBe(2);
    expect(uploadConcurrency(4)).toBe(4);
    expect(uploadConcurrency(6.5)).toBe(6);
    expect(uploadConcurrency(64)).toBe(8);
  });
});
