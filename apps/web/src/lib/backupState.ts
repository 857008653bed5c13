/**
 * Whether the person has a backup of their keys that works, and proving it.
 *
 * The keys live only in this browser: without the backup file and its passphrase, losing the
 * browser's data loses the identity, and with it every album shared with it. So creating an
 * identity ends with the backup: download it, then check it (choose the saved file and open it
 * with the passphrase, here, without sending anything anywhere). Restoring from a backup counts as
 * checked: that file just worked.
 */
import { openBackup } from "./backup.ts";
import { wipe } from "./bytes.ts";
import type { ScryptOptions } from "./crypt.ts";
import { P2posError } from "./errors.ts";
import type { StoredIdentity } from "./identityStore.ts";

/** `none`: never downloaded here; `downloaded`: downloaded, not checked; `confirmed`: shown to work. */
export type BackupState = "none" | "downloaded" | "confirmed";

export type BackupEvent = "downloaded" | "confirmed";

type BackupFields = Pick<StoredIdentity, "backupDownloadedAt" | "backupConfirmedAt">;

export function backupStateOf(identity: BackupFields): BackupState {
  if (identity.backupConfirmedAt !== undefined) return "confirmed";
  if (identity.backupDownloadedAt !== undefined) return "downloaded";
  return "none";
}

/** The identity with `event` recorded at `now`. Never goes back: a confirmed backup stays confirmed. */
export function withBackupEvent<T extends BackupFields>(identity: T, event: BackupEvent, now: number): T {
  return event === "downloaded"
    ? { ...identity, backupDownloadedAt: now }
    : { ...identity, backupConfirmedAt: identity.backupConfirmedAt ?? now };
}

export class BackupCheckError extends P2posError<"backup"> {
  constructor(message: string) {
    super("backup", message);
  }
}

/**
 * Check that `file` is a backup of the identity `id` that `passphrase` opens. Throws `CryptError`
 * ("passphrase": wrong passphrase; "corrupt": not a backup), `IdentityFileError` (opens, but holds
 * no identity) or `BackupCheckError` (the backup of another identity). Nothing leaves this browser,
 * and the secrets read from the file are wiped at once.
 */
export async function checkBackup(
  id: string,
  file: Uint8Array | string,
  passphrase: string,
  options: ScryptOptions = {},
): Promise<void> {
  const { identity } = await openBackup(file, passphrase, options);
  wipe(identity.seed);
  if (identity.id !== id) {
    throw new BackupCheckError(
      `This file is the backup of another identity (${identity.id.slice(0, 7)}…), not of yours (${id.slice(0, 7)}…).`,
    );
  }
}
