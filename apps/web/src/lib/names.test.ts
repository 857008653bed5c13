import { describe, expect, it } from "vitest";
import type { ApiClient } from "./api.ts";
import type { LogEntry } from "./apiTypes.ts";
import type { SignedRecord } from "./records.ts";
import { Vault } from "./vault.ts";
import { newAlbumKey, openAlbumKey, openMeta, sealAlbumKey, sealMeta } from "./albumKeys.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { HlcClock } from "./hlc.ts";
import { signRecord, verifyRecord } from "./records.ts";
import {
  cleanName,
  displayName,
  ensureFamilyKey,
  readNames,
  setFamilyName,
  setMyProfile,
  updateMyProfile,
  type ProfileMeta,
} from "./names.ts";
import {
  bodyOf,
  familyGrantRecord,
  familyMetaRecord,
  familyRecord,
  memberRecord,
  newObjectId,
  profileRecord,
} from "./vaultRecords.ts";
import { emptyVaultState, familyEpochsHeldBy, foldRecords } from "./vaultState.ts";

/**
 * A node that serves whatever log it likes (as a dishonest one would) and keeps what is posted.
 * Only the two calls the names need.
 */
function servingNode(log: SignedRecord[]): { api: ApiClient; posted: SignedRecord[] } {
  const posted: SignedRecord[] = [];
  const api = {
    records: (since = 0) =>
      Promise.resolve(log.map((record, i): LogEntry => ({ seq: i + 1, record })).filter((e) => e.seq > since)),
    postRecord: (record: SignedRecord) => {
      posted.push(record);
      log.push(record);
      return Promise.resolve({ seq: log.length, current: true });
    },
  } as unknown as ApiClient;
  return { api, posted };
}

/** Ann (founder, admin) and Ben (member), the family key at epoch 0 granted to both. */
async function family() {
  const ann = await importIdentity(await generateIdentityFile());
  const ben = await importIdentity(await generateIdentityFile());
  const clock = new HlcClock();
  let now = 1_700_000_000_000;
  const fam = newObjectId();
  const ctx = (signer: typeof ann) => ({ signer, family: fam, hlc: () => clock.tick(now++) });
  const key = await newAlbumKey();
  const log = [
    await familyRecord(ctx(ann)),
    await memberRecord(ctx(ann), { member: ann.id, role: "admin", recipient: ann.recipient, removed: false }),
    await memberRecord(ctx(ann), { member: ben.id, role: "member", recipient: ben.recipient, removed: false }),
    await familyMetaRecord(ctx(ann), {
      epoch: 0,
      recipient: key.recipient,
      meta: await sealMeta({ name: "The Rivers" }, key.recipient),
    }),
    ...(await Promise.all(
      [ann, ben].map(async (who) =>
        familyGrantRecord(ctx(ann), {
          member: who.id,
          epoch: 0,
          key: await sealAlbumKey(key.secret, who.recipient),
          revoked: false,
        }),
      ),
    )),
  ];
  return { ann, ben, ctx, key, log };
}

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
      // Only a member's records are folded: Ann founded the family.
      [await familyRecord(ctx), ...records].map((record, i) => ({ seq: i + 1, record })),
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

  it("seal a name only to the family key we were granted, whatever key the node names", async () => {
    const { ann, ben, ctx, log } = await family();
    // A new epoch whose recipient is a key the node (or whoever serves the log) holds, and a grant
    // that gives Ben another key: written by an admin's key or not, Ben's browser must not seal to it.
    const nodes = await newAlbumKey();
    const other = await newAlbumKey();
    log.push(
      await familyMetaRecord(ctx(ann), {
        epoch: 1,
        recipient: nodes.recipient,
        meta: await sealMeta({ name: "The Rivers" }, nodes.recipient),
      }),
      await familyGrantRecord(ctx(ann), {
        member: ben.id,
        epoch: 1,
        key: await sealAlbumKey(other.secret, ben.recipient),
        revoked: false,
      }),
    );
    const { api, posted } = servingNode(log);
    const vault = new Vault(api, ben);
    await expect(setMyProfile(vault, { name: "Ben" })).rejects.toMatchObject({ kind: "recipient_mismatch" });
    expect(posted).toEqual([]);
    // The same for an admin renaming the family.
    const annVault = new Vault(servingNode(log).api, ann);
    await expect(setFamilyName(annVault, "The Oaks")).rejects.toMatchObject({ kind: "no_current_key" });
  });

  it("fold no family key, grant or name signed by someone who may not write it", async () => {
    const { ann, ben, ctx, key, log } = await family();
    const eve = await importIdentity(await generateIdentityFile());
    const eves = await newAlbumKey();
    log.push(
      // Eve (no member) names a new family key, and puts a name in Ann's mouth.
      await familyMetaRecord(ctx(eve), {
        epoch: 1,
        recipient: eves.recipient,
        meta: await sealMeta({ name: "Eve's" }, eves.recipient),
      }),
      await familyGrantRecord(ctx(eve), {
        member: ben.id,
        epoch: 1,
        key: await sealAlbumKey(eves.secret, ben.recipient),
        revoked: false,
      }),
      // Ben (a member, not an admin) signs a profile for Ann.
      await profileRecord(ctx(ben), { epoch: 0, meta: await sealMeta({ name: "Fool" }, key.recipient) }),
      await profileRecord(ctx(ben), { epoch: 0, meta: await sealMeta({ name: "Ben" }, key.recipient) }),
    );
    // The profile Ben signed, changed to name Ann: its signature no longer holds.
    const forged = log[log.length - 2];
    if (!forged) throw new Error("no record");
    const body = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(atob(forged.body), (c) => c.charCodeAt(0))),
    ) as Record<string, unknown>;
    body["member"] = ann.id;
    log[log.length - 2] = { ...forged, body: btoa(JSON.stringify(body)) };
    // A profile whose member is not its signer, signed right.
    log.push(await signProfileFor(ctx(ben), ann.id, await sealMeta({ name: "Mallory" }, key.recipient)));

    const vault = new Vault(servingNode(log).api, ann);
    await vault.refresh();
    expect(vault.state.familyMeta?.body.epoch).toBe(0);
    expect(vault.state.familyGrants.has(`${ben.id}/1`)).toBe(false);
    const names = await readNames(vault);
    expect(names.family).toBe("The Rivers");
    expect(names.members.get(ann.id)).toBeUndefined();
    expect(names.members.get(ben.id)).toEqual({ name: "Ben" });
    // Ann seals to the key she holds: epoch 0.
    await setMyProfile(vault, { name: "Ann" });
    expect((await readNames(vault)).members.get(ann.id)).toEqual({ name: "Ann" });
  });

  it("show another member's avatar only if it is a small WebP, JPEG or PNG data URL", async () => {
    const { ann, ben, ctx, key, log } = await family();
    // A real 1×1 PNG.
    const png =
      "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    // Ben's browser is someone else's code: whatever it seals, Ann's page gets only a safe image.
    for (const avatar of [
      "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
      'javascript:alert(1)//data:image/png;base64,"',
      `${png}") , url(https://evil.example/x`,
      `data:image/png;base64,${"A".repeat(5_000)}`,
      42,
    ]) {
      log.push(
        await profileRecord(ctx(ben), { epoch: 0, meta: await sealMeta({ name: "Ben", avatar }, key.recipient) }),
      );
      const vault = new Vault(servingNode(log).api, ann);
      await vault.refresh();
      expect((await readNames(vault)).members.get(ben.id)).toEqual({ name: "Ben" });
    }
    log.push(
      await profileRecord(ctx(ben), { epoch: 0, meta: await sealMeta({ name: "Ben", avatar: png }, key.recipient) }),
    );
    const vault = new Vault(servingNode(log).api, ann);
    await vault.refresh();
    expect((await readNames(vault)).members.get(ben.id)).toEqual({ name: "Ben", avatar: png });
  });

  it("keep the photo on a rename, the name on a new photo, and refuse a photo that is not one", async () => {
    const { ann, log } = await family();
    const { api, posted } = servingNode(log);
    const vault = new Vault(api, ann);
    // A real 1×1 lossless WebP.
    const webp = "data:image/webp;base64,UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==";
    // No profile yet: a photo alone needs a name, the identity's own if given.
    await expect(updateMyProfile(vault, { avatar: webp })).rejects.toThrow(/name first/);
    await updateMyProfile(vault, { avatar: webp }, "Ann");
    await updateMyProfile(vault, { name: "Ann Rivers" });
    expect((await readNames(vault)).members.get(ann.id)).toEqual({ name: "Ann Rivers", avatar: webp });
    await updateMyProfile(vault, { avatar: null });
    expect((await readNames(vault)).members.get(ann.id)).toEqual({ name: "Ann Rivers" });
    expect(posted).toHaveLength(3);
    await expect(setMyProfile(vault, { name: "Ann", avatar: "data:image/svg+xml;base64,PHN2Zz4=" })).rejects.toThrow(
      TypeError,
    );
    await expect(setMyProfile(vault, { name: "Ann", avatar: `${webp}${"A".repeat(5_000)}` })).rejects.toThrow(
      RangeError,
    );
    expect(posted).toHaveLength(3);
  });

  it("make one family key when the page and a typed family name ask for it at once", async () => {
    const ann = await importIdentity(await generateIdentityFile());
    const clock = new HlcClock();
    let now = 1_700_000_000_000;
    const ctx = { signer: ann, family: newObjectId(), hlc: () => clock.tick(now++) };
    const log = [
      await familyRecord(ctx),
      await memberRecord(ctx, { member: ann.id, role: "admin", recipient: ann.recipient, removed: false }),
    ];
    const node = servingNode(log);
    const api = {
      ...node.api,
      members: () => Promise.resolve([{ identity: ann.id, recipient: ann.recipient, role: "admin" }]),
    } as unknown as ApiClient;
    const vault = new Vault(api, ann);
    // The Members page makes the key on an admin's visit while the admin already saves a name.
    await Promise.all([ensureFamilyKey(vault), setFamilyName(vault, "The Rivers")]);
    // One key: a second epoch-0 key would be refused by the node, and the name with it. (The
    // page's key, then the name sealed to it; or the key made with the name: one recipient.)
    const recipients = new Set(
      node.posted.map(bodyOf).flatMap((body) => (body.type === "family_meta" ? [body.recipient] : [])),
    );
    expect(recipients.size).toBe(1);
    expect((await readNames(vault)).family).toBe("The Rivers");
  });

  it("name the family while the page's key is half made (posted, not yet granted to us)", async () => {
    const ann = await importIdentity(await generateIdentityFile());
    const clock = new HlcClock();
    let now = 1_700_000_000_000;
    const ctx = { signer: ann, family: newObjectId(), hlc: () => clock.tick(now++) };
    const log = [
      await familyRecord(ctx),
      await memberRecord(ctx, { member: ann.id, role: "admin", recipient: ann.recipient, removed: false }),
    ];
    const node = servingNode(log);
    // The members list (asked for between the key's record and its grants) answers when we say.
    let answerMembers: () => void = () => undefined;
    const membersAsked = new Promise<void>((asked) => {
      node.api.members = () => {
        asked();
        return new Promise((answer) => {
          answerMembers = () => answer([{ identity: ann.id, recipient: ann.recipient, role: "admin" }]);
        });
      };
    });
    const vault = new Vault(node.api, ann);
    const making = ensureFamilyKey(vault);
    await membersAsked;
    // The key's record is on the node, its grant to Ann is not: the name must wait for the grant.
    const naming = setFamilyName(vault, "The Rivers").then(
      () => "named",
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    answerMembers();
    await making;
    expect(await naming).toBe("named");
    expect((await readNames(vault)).family).toBe("The Rivers");
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

/** A profile record naming `member`, signed by `ctx.signer` (the builder always names the signer). */
async function signProfileFor(
  ctx: { signer: Awaited<ReturnType<typeof importIdentity>>; family: string; hlc: () => ReturnType<HlcClock["tick"]> },
  member: string,
  meta: string,
): Promise<SignedRecord> {
  return signRecord({ type: "profile", v: 1, family: ctx.family, hlc: ctx.hlc(), member, epoch: 0, meta }, ctx.signer);
}
