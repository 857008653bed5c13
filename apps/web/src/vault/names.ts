/**
 * Names in the vault's pages: read once per log change and shared through a hook, and the work
 * done on entering the vault (`adoptNames`).
 */
import { useEffect, useState } from "react";
import { forgetInvitation, forgetPendingName, pendingName } from "../lib/invite.ts";
import { readNames, resealOwnProfile, setFamilyName, setMyProfile, type Names } from "../lib/names.ts";
import type { Vault } from "../lib/vault.ts";

/**
 * On entering the vault: a name typed when asking to join becomes our profile (once the family
 * key exists), and a profile sealed to an older family key is sealed again to the current one.
 * Failures leave things as they were; the Members page offers the same by hand.
 */
export async function adoptNames(vault: Vault): Promise<void> {
  forgetInvitation();
  try {
    const name = pendingName();
    if (name !== undefined && !vault.state.profiles.has(vault.keys.id) && vault.state.familyMeta) {
      await setMyProfile(vault, { name });
      forgetPendingName();
    } else {
      await resealOwnProfile(vault);
    }
  } catch {
    // Not fatal: names are shown as ids until then.
  }
}

/**
 * Right after founding: the family's name (which creates the family key) and the founder's own
 * name, from the identity. Failures leave the family unnamed; the Members page offers the same.
 */
export async function nameTheFamily(vault: Vault, familyName: string, ownName: string | undefined): Promise<void> {
  try {
    await setFamilyName(vault, familyName);
    if (ownName !== undefined && ownName.trim() !== "") await setMyProfile(vault, { name: ownName });
  } catch {
    // Not fatal: the vault opens unnamed.
  }
}

/** Who reads the names again when this page changes one (the header shows our own name and photo). */
const listeners = new Set<() => void>();

/** Our own name or photo changed here: every `useNames` reads them again. */
export function announceNamesChanged(): void {
  for (const listener of listeners) listener();
}

/**
 * The family's names, read again whenever `version` changes (e.g. after a reload of the page's
 * data) and after `announceNamesChanged`.
 */
export function useNames(vault: Vault, version?: unknown): Names | undefined {
  const [names, setNames] = useState<Names>();
  const [changes, setChanges] = useState(0);
  useEffect(() => {
    const listener = () => setChanges((n) => n + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  useEffect(() => {
    let live = true;
    readNames(vault).then(
      (value) => {
        if (live) setNames(value);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [vault, version, changes]);
  return names;
}
