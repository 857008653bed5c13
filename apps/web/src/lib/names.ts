/**
 * Names: the family's name and each member's profile, readable by every member and by no node.
 *
 * The family has one more age key beside the album keys, the **family key**, per epoch
 * (`family_meta` records: epoch, recipient, and the family's name sealed to it; admins write
 * them). Admins give it to each member in `family_grant` records, as they give album keys. A
 * member's `profile` (name, optional avatar) is sealed to the family key's current recipient and
 * signed by that member only: no admin can put a name in someone's mouth. Removing a member starts
 * a new epoch; each member's browser then seals its profile again to the new key.
 * `docs/ARCHITECTURE.md` ("Names") has the decision and its limits.
 */
import {
  newAlbumKey as newAgeKey,
  openAlbumKey as openSealedKey,
  openAlbumKeySecret as openSealedSecret,
  openMeta,
  sealAlbumKey as sealKeyTo,
  sealMeta,
} from "./albumKeys.ts";
import type { MemberView } from "./apiTypes.ts";
import { MAX_AVATAR_LENGTH, safeAvatar } from "./avatar.ts";
import { recipientOf } from "./identityFile.ts";
import { VaultError, type Vault } from "./vault.ts";
import { familyEpochsHeldBy } from "./vaultState.ts";
import { familyGrantRecord, familyMetaRecord, profileRecord } from "./vaultRecords.ts";

/** What a profile holds (the plaintext of its `meta`). */
export interface ProfileMeta {
  name: string;
  /** A small image as a `data:image/…;base64,` URL, if the member chose one. */
  avatar?: string;
}

/** The plaintext of the family's `meta`. */
export interface FamilyMeta {
  name: string;
}

export const MAX_NAME_LENGTH = 64;
/** Largest avatar data URL (`lib/avatar.ts`, which also says which avatars are shown). */
export { MAX_AVATAR_LENGTH };

export interface Names {
  /** The family's name, when set and readable. */
  family: string | undefined;
  /** Each member's profile we could open, by member id. */
  members: Map<string, ProfileMeta>;
}

/** A name as typed: trimmed, spaces collapsed, at most `MAX_NAME_LENGTH` characters. */
export function cleanName(text: string): string {
  const name = text.trim().replace(/\s+/g, " ");
  if (name === "") throw new TypeError("A name cannot be empty.");
  if (Array.from(name).length > MAX_NAME_LENGTH)
    throw new RangeError(`A name has at most ${MAX_NAME_LENGTH} characters.`);
  return name;
}

/** The family keys granted to us, opened (cached per sealed key on the vault object). */
const opened = new WeakMap<Vault, Map<string, CryptoKey>>();

async function familyKeys(vault: Vault): Promise<CryptoKey[]> {
  let cache = opened.get(vault);
  if (!cache) {
    cache = new Map();
    opened.set(vault, cache);
  }
  const keys: CryptoKey[] = [];
  for (const grant of vault.state.familyGrants.values()) {
    if (grant.body.member !== vault.keys.id || grant.body.revoked) continue;
    let key = cache.get(grant.body.key);
    if (!key) {
      try {
        key = await openSealedKey(grant.body.key, vault.keys.ageKey);
      } catch {
        continue;
      }
      cache.set(grant.body.key, key);
    }
    keys.push(key);
  }
  return keys;
}

/** The family's name and every profile we can open, from the log as last read. */
export async function readNames(vault: Vault): Promise<Names> {
  const keys = await familyKeys(vault);
  const names: Names = { family: undefined, members: new Map() };
  if (keys.length === 0) return names;
  const meta = vault.state.familyMeta;
  if (meta) {
    try {
      names.family = (await openMeta<FamilyMeta>(meta.body.meta, keys)).name || undefined;
    } catch {
      // Sealed to an epoch we hold no key to (yet).
    }
  }
  for (const [member, profile] of vault.state.profiles) {
    try {
      const value = await openMeta<ProfileMeta>(profile.body.meta, keys);
      if (typeof value.name !== "string" || value.name === "") continue;
      // Another member's avatar is untrusted text: kept only if it is an image we may show.
      const avatar = safeAvatar(value.avatar);
      names.members.set(member, avatar === undefined ? { name: value.name } : { name: value.name, avatar });
    } catch {
      // As above: skipped until we hold its key.
    }
  }
  return names;
}

/**
 * Make sure the family key exists (admins): the first admin to need it makes epoch 0, with the
 * family's name (empty until named), and gives it to every current member, ourselves first.
 */
export async function ensureFamilyKey(vault: Vault, name = ""): Promise<boolean> {
  // One at a time per vault: the Members page makes the key on an admin's visit, and a family
  // name saved meanwhile must not make a second epoch 0 (the node refuses it, and the name).
  const before = founding.get(vault) ?? Promise.resolve(false);
  const turn = before.catch(() => false).then(() => makeFamilyKey(vault, name));
  founding.set(vault, turn);
  try {
    return await turn;
  } finally {
    if (founding.get(vault) === turn) founding.delete(vault);
  }
}

/** The family-key makings in flight, per vault (see `ensureFamilyKey`). */
const founding = new WeakMap<Vault, Promise<boolean>>();

/**
 * A making in flight here posts the key's record before its grants, so a name sealed meanwhile
 * would find the key but not our grant: wait for it to finish, then read the log again.
 */
async function familyKeySettled(vault: Vault): Promise<void> {
  const making = founding.get(vault);
  if (making === undefined) return;
  await making.catch(() => false);
  await vault.refresh();
}

/** `ensureFamilyKey`'s work: true when it made the key (with `name`), false when there was one. */
async function makeFamilyKey(vault: Vault, name: string): Promise<boolean> {
  await vault.refresh({ full: true });
  if (vault.state.familyMeta) return false;
  const key = await newAgeKey();
  const ctx = vault.context();
  const meta: FamilyMeta = { name };
  await vault.api.postRecord(
    await familyMetaRecord(ctx, { epoch: 0, recipient: key.recipient, meta: await sealMeta(meta, key.recipient) }),
  );
  const members = await vault.api.members();
  const everyone = [
    { identity: vault.keys.id, recipient: vault.keys.recipient },
    ...members.filter((m) => m.identity !== vault.keys.id),
  ];
  for (const member of everyone) {
    await vault.api.postRecord(
      await familyGrantRecord(ctx, {
        member: member.identity,
        epoch: 0,
        key: await sealKeyTo(key.secret, member.recipient),
        revoked: false,
      }),
    );
  }
  await vault.refresh();
  return true;
}

/**
 * The family key's current epoch and recipient, only if the recipient is the one of the family key
 * an admin granted us for that epoch (opened here): whoever serves the log cannot make us seal a
 * name to a key of its own. Throws `no_current_key` or `recipient_mismatch` otherwise.
 */
async function sealTarget(vault: Vault): Promise<{ epoch: number; recipient: string }> {
  await familyKeySettled(vault);
  const current = vault.state.familyMeta;
  if (!current) throw new TypeError("The family has no family key yet: an admin opens the Members page first.");
  const { epoch, recipient } = current.body;
  const grant = vault.state.familyGrants.get(`${vault.keys.id}/${epoch}`);
  let secret: string | undefined;
  if (grant && !grant.body.revoked) {
    try {
      secret = await openSealedSecret(grant.body.key, vault.keys.ageKey);
    } catch {
      secret = undefined;
    }
  }
  if (secret === undefined) {
    throw new VaultError(
      "no_current_key",
      "You hold no family key for its current epoch yet, so no name can be written: ask an admin.",
    );
  }
  if (recipientOf(secret) !== recipient) {
    throw new VaultError(
      "recipient_mismatch",
      "The family key on the node is not the one you were given: nothing was sealed.",
    );
  }
  return { epoch, recipient };
}

/** Name (or rename) the family (admins). Sealed to the family key's current recipient. */
export async function setFamilyName(vault: Vault, text: string): Promise<void> {
  const name = cleanName(text);
  await vault.refresh();
  // Made with this name, or someone else made it meanwhile: then rename it below.
  if (!vault.state.familyMeta && (await ensureFamilyKey(vault, name))) return;
  const { epoch, recipient } = await sealTarget(vault);
  const meta: FamilyMeta = { name };
  await vault.api.postRecord(
    await familyMetaRecord(vault.context(), { epoch, recipient, meta: await sealMeta(meta, recipient) }),
  );
  await vault.refresh();
}

/** Set our own name (and avatar), sealed to the family key's current epoch. */
export async function setMyProfile(vault: Vault, profile: ProfileMeta): Promise<void> {
  const value: ProfileMeta = { name: cleanName(profile.name) };
  if (profile.avatar !== undefined) {
    if (profile.avatar.length > MAX_AVATAR_LENGTH) {
      throw new RangeError("The picture is too large: choose a smaller one.");
    }
    if (safeAvatar(profile.avatar) === undefined) {
      throw new TypeError("A profile photo must be a WebP, JPEG or PNG picture.");
    }
    value.avatar = profile.avatar;
  }
  await vault.refresh();
  const { epoch, recipient } = await sealTarget(vault);
  await vault.api.postRecord(await profileRecord(vault.context(), { epoch, meta: await sealMeta(value, recipient) }));
  await vault.refresh();
}

/**
 * Change our own profile, keeping what is not changed: a new name keeps the photo, a new photo
 * keeps the name (`avatar: null` removes the photo). Without a profile yet, the name is
 * `fallbackName` (the identity's own), and a photo alone cannot be saved.
 */
export async function updateMyProfile(
  vault: Vault,
  change: { name?: string; avatar?: string | null },
  fallbackName?: string,
): Promise<void> {
  await vault.refresh();
  const mine = (await readNames(vault)).members.get(vault.keys.id);
  const name = change.name ?? mine?.name ?? fallbackName;
  if (name === undefined || name.trim() === "") {
    throw new TypeError("Choose your name first: the photo goes with it.");
  }
  const avatar = change.avatar === null ? undefined : (change.avatar ?? mine?.avatar);
  await setMyProfile(vault, avatar === undefined ? { name } : { name, avatar });
}

/**
 * Give the family key to a member (admins): every epoch we hold, so they read the older names too.
 * Keys we cannot open (sealed to a recipient we no longer have) are skipped.
 */
export async function grantFamilyKey(vault: Vault, member: Pick<MemberView, "identity" | "recipient">): Promise<void> {
  await vault.refresh();
  const held = vault.state.familyMeta ? familyEpochsHeldBy(vault.state, vault.keys.id) : [];
  for (const epoch of held) {
    const grant = vault.state.familyGrants.get(`${vault.keys.id}/${epoch}`);
    if (!grant) continue;
    let secret: string;
    try {
      secret = await openSealedSecret(grant.body.key, vault.keys.ageKey);
    } catch {
      continue;
    }
    await vault.api.postRecord(
      await familyGrantRecord(vault.context(), {
        member: member.identity,
        epoch,
        key: await sealKeyTo(secret, member.recipient),
        revoked: false,
      }),
    );
  }
  await vault.refresh();
}

/**
 * After a removal (admins): a new family key epoch, the family's name sealed to it, and the new
 * key for every current member, ourselves first. Without the family key nothing is written.
 */
export async function rotateFamilyKey(vault: Vault): Promise<boolean> {
  await vault.refresh({ full: true });
  const current = vault.state.familyMeta;
  if (!current) return false;
  const names = await readNames(vault);
  const next = await newAgeKey();
  const epoch = current.body.epoch + 1;
  const ctx = vault.context();
  const meta: FamilyMeta = { name: names.family ?? "" };
  await vault.api.postRecord(
    await familyMetaRecord(ctx, { epoch, recipient: next.recipient, meta: await sealMeta(meta, next.recipient) }),
  );
  const members = await vault.api.members();
  const everyone = [
    { identity: vault.keys.id, recipient: vault.keys.recipient },
    ...members.filter((m) => m.identity !== vault.keys.id),
  ];
  for (const member of everyone) {
    await vault.api.postRecord(
      await familyGrantRecord(ctx, {
        member: member.identity,
        epoch,
        key: await sealKeyTo(next.secret, member.recipient),
        revoked: false,
      }),
    );
  }
  await vault.refresh();
  const mine = names.members.get(vault.keys.id);
  if (mine) await setMyProfile(vault, mine);
  return true;
}

/**
 * Keep our own profile readable: when the family key moved on since we wrote it, seal it again to
 * the current epoch. Does nothing without a profile, a family key, or a key to read ours.
 */
export async function resealOwnProfile(vault: Vault): Promise<void> {
  const current = vault.state.familyMeta;
  const own = vault.state.profiles.get(vault.keys.id);
  if (!current || !own || own.body.epoch >= current.body.epoch) return;
  const mine = (await readNames(vault)).members.get(vault.keys.id);
  if (mine) await setMyProfile(vault, mine);
}

/** How to call a member: their name, or the start of their id while they have none. */
export function displayName(names: Names | undefined, id: string): string {
  return names?.members.get(id)?.name ?? `${id.slice(0, 7)}…`;
}
