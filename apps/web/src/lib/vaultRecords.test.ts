import { describe, expect, it } from "vitest";
import { sealMeta } from "./albumKeys.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { HlcClock } from "./hlc.ts";
import { verifyRecord } from "./records.ts";
import {
  albumRecord,
  bodyOf,
  familyRecord,
  grantRecord,
  isObjectId,
  memberRecord,
  newObjectId,
  photoRecord,
  type RecordContext,
} from "./vaultRecords.ts";
import { emptyVaultState, foldRecords, hasGrant } from "./vaultState.ts";

async function context(): Promise<RecordContext & { recipient: string }> {
  const keys = await importIdentity(await generateIdentityFile());
  const clock = new HlcClock();
  let now = 1_700_000_000_000;
  return { signer: keys, family: newObjectId(), hlc: () => clock.tick(now++), recipient: keys.recipient };
}

describe("vault records", () => {
  it("makes object ids of 26 characters a-z 2-7", () => {
    const ids = new Set(Array.from({ length: 200 }, newObjectId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(isObjectId(id)).toBe(true);
    expect(isObjectId("A".repeat(26))).toBe(false);
  });

  it("signs each body with exactly the model's fields", async () => {
    const ctx = await context();
    const meta = await sealMeta({ title: "t" }, ctx.recipient);
    const album = newObjectId();
    const records = [
      await familyRecord(ctx),
      await memberRecord(ctx, { member: ctx.signer.id, role: "admin", recipient: ctx.recipient, removed: false }),
      await albumRecord(ctx, { album, epoch: 0, recipient: ctx.recipient, meta, deleted: false }),
      await grantRecord(ctx, { album, member: ctx.signer.id, epoch: 0, key: meta, revoked: false }),
      await photoRecord(ctx, {
        photo: newObjectId(),
        album,
        epoch: 0,
        blob: "ab".repeat(32),
        size: 10,
        thumb: null,
        thumb_size: null,
        meta,
        deleted: false,
      }),
    ];
    const keys = records.map((r) => Object.keys(bodyOf(r)).sort());
    expect(keys).toEqual([
      ["family", "hlc", "type", "v"],
      ["family", "hlc", "member", "recipient", "removed", "role", "type", "v"],
      ["album", "deleted", "epoch", "family", "hlc", "meta", "recipient", "type", "v"],
      ["album", "epoch", "family", "hlc", "key", "member", "revoked", "type", "v"],
      [
        "album",
        "blob",
        "deleted",
        "epoch",
        "family",
        "hlc",
        "meta",
        "photo",
        "size",
        "thumb",
        "thumb_size",
        "type",
        "v",
      ],
    ]);
    for (const record of records) {
      const verified = await verifyRecord(record);
      expect(verified.signer).toBe(ctx.signer.id);
      expect(verified.body["v"]).toBe(1);
      expect(verified.body["family"]).toBe(ctx.family);
    }
    // Each record is later than the one before.
    const walls = records.map((r) => bodyOf(r).hlc.wall_ms);
    expect(walls).toEqual([...walls].sort((a, b) => a - b));
  });

  it("refuses meta that is not armored age, or too large", async () => {
    const ctx = await context();
    const fields = { album: newObjectId(), epoch: 0, recipient: ctx.recipient, deleted: false };
    await expect(albumRecord(ctx, { ...fields, meta: "hello" })).rejects.toThrow(/armored/);
    const huge = `-----BEGIN AGE ENCRYPTED FILE-----\n${"A".repeat(9000)}`;
    await expect(albumRecord(ctx, { ...fields, meta: huge })).rejects.toThrow(/8192 bytes/);
  });

  it("folds the log: family, grants by last writer", async () => {
    const ctx = await context();
    const meta = await sealMeta(null, ctx.recipient);
    const album = newObjectId();
    const grant = (revoked: boolean) =>
      grantRecord(ctx, { album, member: ctx.signer.id, epoch: 0, key: meta, revoked });
    const family = await familyRecord(ctx);
    const granted = await grant(false);
    const revoked = await grant(true);
    const state = foldRecords(emptyVaultState(), [
      { seq: 1, record: family },
      { seq: 2, record: revoked },
      { seq: 3, record: granted }, // older: superseded
    ]);
    expect(state.family).toBe(ctx.family);
    expect(state.founder).toBe(ctx.signer.id);
    expect(state.seq).toBe(3);
    expect(hasGrant(state, album, ctx.signer.id, 0)).toBe(false);
    expect(state.newest).toEqual(bodyOf(revoked).hlc);
  });
});
