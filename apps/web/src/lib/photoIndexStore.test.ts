import "fake-indexeddb/auto";
import { createStore, keys, setMany } from "idb-keyval";
import { describe, expect, it } from "vitest";
import { generateAgeSecretKey, importAgeKey } from "./keys.ts";
import { toHex, utf8Encode } from "./bytes.ts";
import { ageSecretKeyBytes, recipientOf } from "./identityFile.ts";
import { makeEntry, type IndexEntry } from "./photoIndex.ts";
import {
  clearIndexes,
  deriveIndexKey,
  indexPlace,
  indexScope,
  loadIndex,
  openRecord,
  saveIndex,
  sealRecord,
} from "./photoIndexStore.ts";

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

/** `n` index entries (as the indexer makes them). */
function entries(n: number): IndexEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `p${i}`;
    const wall = 1_700_000_000_000 + i * 1000;
    return makeEntry(
      {
        id,
        album: "a1",
        epoch: 0,
        blob: `b-${id}`,
        size: 10,
        thumb: null,
        thumb_size: null,
        meta: `sealed-${id}`,
        author: "ADA",
        cursor: `${wall.toString(16).padStart(16, "0")}00000000${id}`,
        nodes: [],
      },
      "Summer",
      { name: `${id}.jpg`, type: "image/jpeg", size: 10, lastModified: 0 },
    );
  });
}

const rawStore = () => createStore("p2pos-index", "chunks");

describe("the stored local index (IndexedDB)", () => {
  it("saves and loads; clearing removes every record", async () => {
    const ada = await identity();
    const place = await indexPlace(ada.key, ada.recipient, indexScope("ADA", "family1"));
    await saveIndex(place, entries(1500));
    expect((await loadIndex(place))?.map((e) => e.item.id)).toEqual(entries(1500).map((e) => e.item.id));
    await clearIndexes();
    expect(await loadIndex(place)).toBeUndefined();
    expect(await keys(rawStore())).toEqual([]);
  });

  it("a save still sealing when the index is cleared (sign-out) writes nothing back", async () => {
    const ada = await identity();
    const place = await indexPlace(ada.key, ada.recipient, indexScope("ADA", "family1"));
    await saveIndex(place, entries(10));
    // The next save stops after sealing its first chunk until released.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached: () => void = () => undefined;
    const sealing = new Promise<void>((resolve) => (reached = resolve));
    let stopped = false;
    const saving = saveIndex(
      place,
      entries(2500),
      () => {
        reached();
        return released;
      },
      () => stopped,
    );
    await sealing;
    // Sign-out: the indexer is stopped, then every record is cleared; only then the save goes on.
    stopped = true;
    await clearIndexes();
    release();
    await saving;
    expect(await keys(rawStore())).toEqual([]);
    expect(await loadIndex(place)).toBeUndefined();
  });
});

/** How records were named before: a plain SHA-256 of the scope (public ids), 128 bits in hex. */
async function publicPrefix(scope: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8Encode(scope))).slice(0, 16));
}

describe("the stored index's record names", () => {
  it("come from the identity's secret: nobody can tell from the ids whose index it is", async () => {
    const ada = await identity();
    const bob = await identity();
    const scope = indexScope("ADA", "family1");
    const place = await indexPlace(ada.key, ada.recipient, scope);
    // Not computable from the public ids.
    expect(place.prefix).not.toBe(await publicPrefix(scope));
    // Bob, naming Ada's scope with his own secret, gets other names; Ada gets hers again.
    expect((await indexPlace(bob.key, bob.recipient, scope)).prefix).not.toBe(place.prefix);
    expect((await indexPlace(ada.key, ada.recipient, scope)).prefix).toBe(place.prefix);
    expect(place.prefix).toMatch(/^[0-9a-f]{32}$/);
    await clearIndexes();
    await saveIndex(place, entries(1200));
    const names = (await keys(rawStore())).map(String);
    expect(names.sort()).toEqual([`${place.prefix}:chunk:0`, `${place.prefix}:chunk:1`, `${place.prefix}:head`]);
    expect(names.some((n) => n.includes("ADA") || n.includes("family1"))).toBe(false);
    await clearIndexes();
  });

  it("records under the former public names are removed when the index is first opened", async () => {
    const ada = await identity();
    const scope = indexScope("ADA", "family1");
    const place = await indexPlace(ada.key, ada.recipient, scope);
    const old = await publicPrefix(scope);
    const bytes = { iv: new Uint8Array(12), data: new ArrayBuffer(16) };
    await setMany(
      [
        [`${old}:head`, bytes],
        [`${old}:chunk:0`, bytes],
        [`${old}:chunk:1`, bytes],
        ["another-prefix:head", bytes],
      ],
      rawStore(),
    );
    expect(await loadIndex(place)).toBeUndefined();
    // Another identity's or family's records (another prefix) are left alone.
    expect((await keys(rawStore())).map(String)).toEqual(["another-prefix:head"]);
    await clearIndexes();
  });
});
