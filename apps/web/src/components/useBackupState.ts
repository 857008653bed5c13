/**
 * The backup state of the identity in this browser, for every component that shows it (the
 * required step, the banner on each vault page, the identity page), kept in step when any of them
 * records a download or a successful check.
 */
import { useCallback, useSyncExternalStore } from "react";
import { backupStateOf, type BackupEvent, type BackupState } from "../lib/backupState.ts";
import { recordBackup, type StoredIdentity } from "../lib/identity.ts";

const states = new Map<string, BackupState>();
const listeners = new Set<() => void>();

export function useBackupState(identity: StoredIdentity): BackupState {
  const subscribe = useCallback((listener: () => void) => {
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return useSyncExternalStore(subscribe, () => states.get(identity.id) ?? backupStateOf(identity));
}

/** Record a download or a successful check (stored with the identity) and tell every view. */
export async function saveBackupEvent(identity: StoredIdentity, event: BackupEvent): Promise<void> {
  const updated = await recordBackup(identity, event);
  states.set(identity.id, backupStateOf(updated));
  for (const listener of listeners) listener();
}
