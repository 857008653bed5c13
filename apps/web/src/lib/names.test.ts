import { describe, expect, it } from "vitest";
import { newAlbumKey, openAlbumKey, openMeta, sealAlbumKey, sealMeta } from "./albumKeys.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { HlcClock } from "./hlc.ts";
import { verifyRecord } from "./records.ts";
import { cleanName, displayName, type ProfileMeta } from "./names.ts";
import { bodyOf, familyGrantRecord, familyMetaRecord, newObjectId, profileRecord } from "./vaultRecords.ts";
import { emptyVaultState, familyEpochsHeldBy, foldRecords } from "./vaultState.ts";

describe("names", () => {
  it("build family key, grant and profile records that a member opens and a stranger cannot", async () => {
    const ann = await importIdentity(await generateIdentityFile());
    const stranger = await importIdentity(await generateIdentityFile());
    const clock = new HlcClock();
    let now = 1_700_000_000_000;
    const ctx = { signer: ann, family: newObjectId(), hlc: () => clock.tick(now++) };
    const familyKey = await newAlbumKey();
    const records = [
      await familyMetaRecord(ctx, {
        epoch: 0,
        recipient: familyKey.recipient,
        meta: await sealMeta({ name: "The Rivers" }, familyKey.recipient),
      }),
      await familyGrantRecord(ctx, {
        member: ann.id,
        epoch: 0,
        key: await sealAlbumKey(familyKey.secret, ann.recipient),
        revoked: false,
      }),
      await profileRecord(ctx, { epoch: 0, meta: await sealMeta({ name: "Ann" }, familyKey.recipient) }),
    ];
    for (const record of records) await verifyRecord(record);
    const [, , signedProfile] = records;
    if (!signedProfile) throw new Error("no profile record");
    const profile = bodyOf(signedProfile);
    // A profile names its signer, whoever builds it: the node refuses any other.
    expect(profile).toMatchObject({ type: "profile", member: ann.id, epoch: 0, v: 1 });
    expect(Object.keys(profile).sort()).toEqual(["epoch", "family", "hlc", "member", "meta", "type", "v"]);

    const state = foldRecords(
      emptyVaultState(),
      records.map((record, i) => ({ seq: i + 1, record })),
      now,
    );
    expect(state.familyMeta?.body.recipient).toBe(familyKey.recipient);
    expect(familyEpochsHeldBy(state, ann.id)).toEqual([0]);
    const grant = state.familyGrants.get(`${ann.id}/0`);
    const key = await openAlbumKey(grant?.body.key ?? "", ann.ageKey);
    const meta = state.profiles.get(ann.id)?.body.meta ?? "";
    expect(await openMeta<ProfileMeta>(meta, [key])).toEqual({ name: "Ann" });
    await expect(openAlbumKey(grant?.body.key ?? "", stranger.ageKey)).rejects.toThrow();
  });

  it("refuse clear-text and oversized names", async () => {
    const ann = await importIdentity(await generateIdentityFile());
    const ctx = { signer: ann, family: newObjectId(), hlc: () => new HlcClock().tick(1) };
    await expect(profileRecord(ctx, { epoch: 0, meta: "Ann" })).rejects.toThrow(/armored age/);
    expect(cleanName("  Ann   Rivers ")).toBe("Ann Rivers");
    expect(() => cleanName("   ")).toThrow(/empty/);
    expect(() => cleanName("x".repeat(65))).toThrow(/64/);
  });

  it("show a name, or the start of the id while there is none", () => {
    const names = { family: undefined, members: new Map([["AAA", { name: "Ann" }]]) };
    expect(displayName(names, "AAA")).toBe("Ann");
    expect(displayName(names, "BBBBBBBBBB-CC")).toBe("BBBBBBB…");
  });
});
