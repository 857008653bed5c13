import { describe, expect, it } from "vitest";
import { generateAgeSecretKey, importAgeKey } from "./keys.ts";
import { ageSecretKeyBytes, recipientOf } from "./identityFile.ts";
import { deriveIndexKey, indexScope, openRecord, sealRecord } from "./photoIndexStore.ts";

async function identity(): Promise<{ key: CryptoKey; recipient: string }> {
  const secret = await generateAgeSecretKey();
  return { key: await importAgeKey(ageSecretKeyBytes(secret)), recipient: recipientOf(secret) };
}

describe("the sealed local index", () => {
  it("round-trips under the identity's key; another identity, family or place cannot open it", async () => {
    const ada = await identity();
    const bob = await identity();
    const scope = indexScope("ADA", "family1");
    const key = await deriveIndexKey(ada.key, ada.recipient, scope);
    const value = [{ id: "p1", caption: "Crème brûlée", taken: 1_718_380_800_000 }];
    const sealed = await sealRecord(key, value, "place/chunk:0");

    // Nothing of it in clear.
    const stored = new TextDecoder("latin1").decode(sealed.data);
    expect(stored).not.toContain("p1");
    expect(stored).not.toContain("brûlée");

    // The same identity derives the same key again (a later visit).
    const again = await deriveIndexKey(ada.key, ada.recipient, scope);
    expect(await openRecord(again, sealed, "place/chunk:0")).toEqual(value);

    const wrongIdentity = await deriveIndexKey(bob.key, bob.recipient, scope);
    await expect(openRecord(wrongIdentity, sealed, "place/chunk:0")).rejects.toThrow();
    const otherFamily = await deriveIndexKey(ada.key, ada.recipient, indexScope("ADA", "family2"));
    await expect(openRecord(otherFamily, sealed, "place/chunk:0")).rejects.toThrow();
    // Swapped records (another chunk's place) do not open either.
    await expect(openRecord(again, sealed, "place/chunk:1")).rejects.toThrow();
    // Nor a changed byte.
    const bytes = new Uint8Array(sealed.data.slice(0));
    bytes[3] = (bytes[3] ?? 0) ^ 1;
    await expect(openRecord(again, { iv: sealed.iv, data: bytes.buffer }, "place/chunk:0")).rejects.toThrow();
  });

  it("needs the identity's secret: its public recipient alone gives no key", async () => {
    const ada = await identity();
    await expect(deriveIndexKey(ada.key, "age1notarecipient", "s")).rejects.toThrow();
    const key = await deriveIndexKey(ada.key, ada.recipient, "s");
    expect(key.extractable).toBe(false);
    expect(key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
  });
});
