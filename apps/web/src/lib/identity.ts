/**
 * A person's identity in this browser: create, restore, load, forget, back up.
 *
 * Creating generates an Ed25519 seed and an age X25519 key, writes them as an identity file,
 * encrypts that file with the person's passphrase (the backup), then imports both keys as
 * non-extractable `CryptoKey`s and drops the raw bytes. Restoring is the same from a backup. What
 * is stored (see `identityStore.ts`) never contains a readable secret.
 */
import { openBackup, sealBackup, type SealOptions } from "./backup.ts";
import { withBackupEvent, type BackupEvent } from "./backupState.ts";
import { wipe } from "./bytes.ts";
import { armorFile, isArmored, type ScryptOptions } from "./crypt.ts";
import { ageSecretKeyBytes, identityFromSecrets, type IdentityFile } from "./identityFile.ts";
import { deleteStoredIdentity, readStoredIdentity, writeStoredIdentity, type StoredIdentity } from "./identityStore.ts";
import { generateAgeSecretKey, generateEd25519Seed, importAgeKey, importSigningKey } from "./keys.ts";
import { idGroups } from "./readableId.ts";
import { clearIndexes } from "./photoIndexStore.ts";

export type { StoredIdentity };

/** The keys of an identity, ready to sign and decrypt. No secret is readable from it. */
export interface IdentityKeys {
  id: string;
  publicKey: Uint8Array;
  recipient: string;
  signingKey: CryptoKey;
  ageKey: CryptoKey;
}

export interface CreateOptions extends SealOptions {
  name?: string;
}

/** Generate a new identity file in memory. Secret: pass it on to `importIdentity` and drop it. */
export async function generateIdentityFile(): Promise<IdentityFile> {
  return identityFromSecrets(await generateEd25519Seed(), await generateAgeSecretKey());
}

/** Import an identity file's secrets as non-extractable keys, then wipe the raw seed. */
export async function importIdentity(file: IdentityFile): Promise<IdentityKeys> {
  const scalar = ageSecretKeyBytes(file.ageSecretKey);
  try {
    return {
      id: file.id,
      publicKey: file.publicKey,
      recipient: file.recipient,
      signingKey: await importSigningKey(file.seed),
      ageKey: await importAgeKey(scalar),
    };
  } finally {
    wipe(scalar);
    wipe(file.seed);
  }
}

/** Create an identity protected by `passphrase` and keep it in this browser. */
export async function createIdentity(passphrase: string, options: CreateOptions = {}): Promise<StoredIdentity> {
  const file = await generateIdentityFile();
  const backup = await sealBackup(file, passphrase, options);
  const keys = await importIdentity(file);
  return store(keys, backup, options.name);
}

/**
 * Restore an identity from backup text (armored or binary age) and keep it in this browser. Throws
 * `CryptError` "passphrase" for a wrong passphrase, "corrupt" for a damaged file, and
 * `IdentityFileError` when the file decrypts but is not an identity.
 */
export async function restoreIdentity(
  backup: Uint8Array | string,
  passphrase: string,
  options: ScryptOptions = {},
): Promise<StoredIdentity> {
  const { identity } = await openBackup(backup, passphrase, options);
  const keys = await importIdentity(identity);
  // Keep the backup as given (binary files armored) so the download is the file restored from.
  // It just opened with the passphrase: the person has a backup that works.
  return store(keys, backupText(backup), undefined, Date.now());
}

/**
 * Record on the stored identity that its backup was downloaded, or shown to work
 * (`backupState.ts`); resolves to the identity updated. Kept for this identity only: if another
 * one was stored meanwhile, nothing is written.
 */
export async function recordBackup(identity: StoredIdentity, event: BackupEvent): Promise<StoredIdentity> {
  const stored = await readStoredIdentity();
  if (stored?.id !== identity.id) return withBackupEvent(identity, event, Date.now());
  const updated = withBackupEvent(stored, event, Date.now());
  await writeStoredIdentity(updated);
  return updated;
}

/** The identity kept in this browser, if any. */
export async function loadIdentity(): Promise<StoredIdentity | undefined> {
  return readStoredIdentity();
}

/** Remove the identity from this browser. Only its backup can bring it back. */
export async function forgetIdentity(): Promise<void> {
  await deleteStoredIdentity();
  // The local photo index is sealed to this identity: useless without it, removed with it.
  await clearIndexes().catch(() => undefined);
}

/** The backup as a file to download: `p2pos-identity-<first group of the id>.age`. */
export function backupFile(identity: Pick<StoredIdentity, "id" | "backup">): {
  name: string;
  type: string;
  text: string;
} {
  return {
    name: `p2pos-identity-${idGroups(identity.id)[0] ?? "backup"}.age`,
    type: "application/octet-stream",
    text: identity.backup,
  };
}

function backupText(backup: Uint8Array | string): string {
  if (typeof backup === "string") return backup;
  return isArmored(backup) ? new TextDecoder().decode(backup) : armorFile(backup);
}

async function store(
  keys: IdentityKeys,
  backup: string,
  name: string | undefined,
  backupConfirmedAt?: number,
): Promise<StoredIdentity> {
  const identity: StoredIdentity = {
    ...keys,
    backup,
    createdAt: Date.now(),
    ...(name ? { name } : {}),
    ...(backupConfirmedAt === undefined ? {} : { backupConfirmedAt }),
  };
  await writeStoredIdentity(identity);
  return identity;
}
