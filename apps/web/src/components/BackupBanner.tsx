/** On every vault page until the backup is checked: the keys are not backed up, and the way to do it. */
import { useCallback, useState } from "react";
import type { StoredIdentity } from "../lib/identity.ts";
import { BackupContents, BackupFlow } from "./BackupFlow.tsx";
import { Dialog } from "./Dialog.tsx";
import { Toast } from "./Toast.tsx";
import { useBackupState } from "./useBackupState.ts";

export function BackupBanner({ identity }: { identity: StoredIdentity }) {
  const state = useBackupState(identity);
  const [open, setOpen] = useState(false);
  const [toast, setToast] = useState<string>();
  const clearToast = useCallback(() => setToast(undefined), []);
  return (
    <>
      {state !== "confirmed" && (
        <aside className="banner banner-warn" aria-label="Backup" data-testid="backup-banner" data-state={state}>
          <p>
            <strong>
              {state === "none" ? "Your keys are not backed up yet." : "Your backup is downloaded but not checked yet."}
            </strong>{" "}
            If this browser loses its data, you lose your access to the family&apos;s photos.
          </p>
          <button
            type="button"
            className="primary small"
            data-testid="backup-banner-action"
            onClick={() => setOpen(true)}
          >
            {state === "none" ? "Back up now" : "Check your backup"}
          </button>
        </aside>
      )}
      <BackupDialog
        identity={identity}
        open={open}
        onClose={() => setOpen(false)}
        onConfirmed={() => {
          setOpen(false);
          setToast("Your backup works: keep the file and your passphrase safe.");
        }}
      />
      <Toast message={toast} onDone={clearToast} testId="backup-toast" />
    </>
  );
}

export function BackupDialog({
  identity,
  open,
  onClose,
  onConfirmed,
}: {
  identity: StoredIdentity;
  open: boolean;
  onClose: () => void;
  onConfirmed: () => void;
}) {
  return (
    <Dialog open={open} title="Back up your keys" onClose={onClose} testId="backup-dialog">
      <p className="muted">
        Your keys exist only in this browser. The backup file and your passphrase are the only way to get them back.
      </p>
      <BackupContents />
      <BackupFlow identity={identity} onConfirmed={onConfirmed} />
    </Dialog>
  );
}
