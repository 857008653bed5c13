/**
 * The backup, done properly: download the file, then show it works by choosing the saved file and
 * opening it with the passphrase (in this browser; nothing is sent anywhere). Used by the step that
 * ends creating an identity, and by the banner's dialog until the check is done.
 */
import { useId, useState, type SubmitEvent } from "react";
import { checkBackup } from "../lib/backupState.ts";
import { backupFile, type StoredIdentity } from "../lib/identity.ts";
import { downloadText } from "../download.ts";
import { describeError } from "../errorMessages.ts";
import { scryptInWorker } from "../scryptWorker.ts";
import { FilePicker } from "./FilePicker.tsx";
import { ScryptProgress } from "./ScryptProgress.tsx";
import { saveBackupEvent, useBackupState } from "./useBackupState.ts";

interface Props {
  identity: StoredIdentity;
  /** The check succeeded. */
  onConfirmed: () => void;
  /** Offered once the file is downloaded: go on now and check later (the banner stays meanwhile). */
  onLater?: () => void;
}

export function BackupFlow({ identity, onConfirmed, onLater }: Props) {
  const fieldId = useId();
  const state = useBackupState(identity);
  const backup = backupFile(identity);
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const busy = progress !== null;

  const download = () => {
    downloadText(backup.name, backup.text, backup.type);
    saveBackupEvent(identity, "downloaded").catch((caught: unknown) => setError(describeError(caught)));
  };

  async function check(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!file || busy) return;
    setError(null);
    setProgress(0);
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      await checkBackup(identity.id, bytes, passphrase, { onProgress: setProgress, scrypt: scryptInWorker });
      await saveBackupEvent(identity, "confirmed");
      setPassphrase("");
      onConfirmed();
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setProgress(null);
    }
  }

  return (
    <div className="backup-flow" data-testid="backup-flow" data-state={state}>
      <ol className="steps">
        <li className={state === "none" ? "step current" : "step done"}>
          <h2 className="step-title">Download the backup file</h2>
          <p>
            Save <strong>{backup.name}</strong> somewhere other than this device: a USB stick, a password manager, your
            cloud drive, or print it.
          </p>
          <div className="buttons">
            <button
              type="button"
              className={state === "none" ? "primary" : undefined}
              data-testid="backup-download"
              onClick={download}
            >
              {state === "none" ? "Download backup" : "Download it again"}
            </button>
            {state !== "none" && (
              <span className="step-mark" data-testid="backup-downloaded">
                ✓ Downloaded
              </span>
            )}
          </div>
        </li>
        <li className={state === "none" ? "step" : "step current"}>
          <h2 className="step-title">Check that it works</h2>
          <form className="backup-check" onSubmit={(event) => void check(event)} aria-labelledby={`${fieldId}-title`}>
            <p id={`${fieldId}-title`}>
              Choose the file you saved and type your passphrase. This browser opens it to make sure it restores you;
              nothing is sent anywhere.
            </p>
            <FilePicker
              label={file ? "Choose another file" : "Choose the saved file"}
              accept=".age,.txt,text/plain,application/octet-stream"
              testId="backup-check-file"
              disabled={busy}
              chosen={file ? file.name : "No file chosen yet"}
              onFiles={(files) => {
                setFile(files[0] ?? null);
                setError(null);
              }}
            />
            <label htmlFor={`${fieldId}-passphrase`}>Passphrase</label>
            <input
              id={`${fieldId}-passphrase`}
              data-testid="backup-check-passphrase"
              type="password"
              autoComplete="current-password"
              value={passphrase}
              disabled={busy}
              aria-invalid={error !== null}
              aria-describedby={error ? `${fieldId}-error` : undefined}
              onChange={(event) => {
                setPassphrase(event.target.value);
                setError(null);
              }}
            />
            {busy ? (
              <ScryptProgress label="Opening the backup with your passphrase…" fraction={progress} />
            ) : (
              <div className="buttons">
                <button
                  type="submit"
                  className={state === "none" ? undefined : "primary"}
                  data-testid="backup-check-submit"
                  disabled={!file || passphrase === ""}
                >
                  Check backup
                </button>
                {onLater && state === "downloaded" && (
                  <button type="button" className="quiet" data-testid="backup-later" onClick={onLater}>
                    Check it later
                  </button>
                )}
              </div>
            )}
            {error && (
              <p className="form-error" role="alert" id={`${fieldId}-error`} data-testid="backup-check-error">
                {error}
              </p>
            )}
          </form>
        </li>
      </ol>
    </div>
  );
}

/** What the backup file holds and what it does not: said wherever people are asked to keep it. */
export function BackupContents() {
  return (
    <details className="explain" data-testid="backup-contents">
      <summary>What is in the file?</summary>
      <ul>
        <li>
          Your two private keys: the one that signs what you add to the family vault (Ed25519), and the one that opens
          what is shared with you (an age X25519 key), with your id and encryption address.
        </li>
        <li>
          All of it encrypted with your passphrase (a standard age file, scrypt). The file alone is useless without the
          passphrase; the passphrase is not in it.
        </li>
        <li>
          No photos and no album keys: those stay on your family&apos;s nodes, encrypted to you. Your keys open them
          again on any browser, and with the <code>age</code> tool in an export.
        </li>
      </ul>
    </details>
  );
}
