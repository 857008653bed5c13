/** Restore an identity from a backup file (made here or by `p2pos id new`) and its passphrase. */
import { useId, useState, type SubmitEvent } from "react";
import { restoreIdentity, type StoredIdentity } from "../lib/identity.ts";
import { describeError } from "../errorMessages.ts";
import { scryptInWorker } from "../scryptWorker.ts";
import { FilePicker } from "./FilePicker.tsx";
import { ScryptProgress } from "./ScryptProgress.tsx";

export function RestoreIdentityForm({ onRestored }: { onRestored: (identity: StoredIdentity) => void }) {
  const fieldId = useId();
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const busy = progress !== null;

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!file || busy) return;
    setError(null);
    setProgress(0);
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      onRestored(await restoreIdentity(bytes, passphrase, { onProgress: setProgress, scrypt: scryptInWorker }));
    } catch (caught) {
      setError(describeError(caught));
      setProgress(null);
    }
  }

  return (
    <form
      className="card"
      onSubmit={(event) => void submit(event)}
      data-testid="restore-identity"
      aria-labelledby={`${fieldId}-title`}
    >
      <h2 id={`${fieldId}-title`}>Restore from backup</h2>
      <p className="muted">
        Already have an identity? Choose its backup file (it ends in .age) and enter its passphrase.
      </p>

      <span className="field-label" id={`${fieldId}-file-label`}>
        Backup file
      </span>
      <FilePicker
        id={`${fieldId}-file`}
        label={file ? "Choose another file" : "Choose the backup file"}
        testId="restore-file"
        accept=".age,.txt,text/plain,application/octet-stream"
        disabled={busy}
        describedBy={`${fieldId}-file-label`}
        chosen={file ? file.name : "No file chosen yet"}
        onFiles={(files) => {
          setFile(files[0] ?? null);
          setError(null);
        }}
      />

      <label htmlFor={`${fieldId}-passphrase`}>Passphrase</label>
      <input
        id={`${fieldId}-passphrase`}
        data-testid="restore-passphrase"
        type="password"
        autoComplete="current-password"
        required
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
        <button type="submit" data-testid="restore-submit" disabled={!file || passphrase === ""}>
          Restore identity
        </button>
      )}
      {error && (
        <p className="form-error" role="alert" id={`${fieldId}-error`} data-testid="restore-error">
          {error}
        </p>
      )}
    </form>
  );
}
