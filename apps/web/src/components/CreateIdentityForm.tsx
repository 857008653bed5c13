/** Create a new identity protected by a passphrase. */
import { useId, useState, type SubmitEvent } from "react";
import { createIdentity, type StoredIdentity } from "../lib/identity.ts";
import { MIN_PASSPHRASE_LENGTH } from "../lib/passphrase.ts";
import { describeError } from "../errorMessages.ts";
import { scryptInWorker } from "../scryptWorker.ts";
import { PassphraseStrength } from "./PassphraseStrength.tsx";
import { ScryptProgress } from "./ScryptProgress.tsx";

export function CreateIdentityForm({ onCreated }: { onCreated: (identity: StoredIdentity) => void }) {
  const fieldId = useId();
  const [name, setName] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [confirmation, setConfirmation] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  const tooShort = Array.from(passphrase).length < MIN_PASSPHRASE_LENGTH;
  const mismatch = confirmation !== "" && confirmation !== passphrase;
  const busy = progress !== null;

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (tooShort || confirmation !== passphrase || busy) return;
    setError(null);
    setProgress(0);
    try {
      const trimmed = name.trim();
      const identity = await createIdentity(passphrase, {
        onProgress: setProgress,
        scrypt: scryptInWorker,
        ...(trimmed ? { name: trimmed } : {}),
      });
      onCreated(identity);
    } catch (caught) {
      setError(describeError(caught));
      setProgress(null);
    }
  }

  return (
    <form
      className="card"
      onSubmit={(event) => void submit(event)}
      data-testid="create-identity"
      aria-labelledby={`${fieldId}-title`}
    >
      <h2 id={`${fieldId}-title`}>Create your identity</h2>
      <p className="muted">
        Your passphrase protects the backup of your keys. Nobody can reset it, so choose one you will remember and write
        it down somewhere safe.
      </p>

      <label htmlFor={`${fieldId}-name`}>
        Name <span className="optional">(optional, shown only on this browser)</span>
      </label>
      <input
        id={`${fieldId}-name`}
        data-testid="create-name"
        autoComplete="nickname"
        value={name}
        disabled={busy}
        onChange={(event) => setName(event.target.value)}
      />

      <label htmlFor={`${fieldId}-passphrase`}>Passphrase</label>
      <input
        id={`${fieldId}-passphrase`}
        data-testid="create-passphrase"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSPHRASE_LENGTH}
        aria-describedby={`${fieldId}-strength`}
        value={passphrase}
        disabled={busy}
        onChange={(event) => setPassphrase(event.target.value)}
      />
      <PassphraseStrength passphrase={passphrase} id={`${fieldId}-strength`} />

      <label htmlFor={`${fieldId}-confirm`}>Passphrase again</label>
      <input
        id={`${fieldId}-confirm`}
        data-testid="create-passphrase-confirm"
        type="password"
        autoComplete="new-password"
        required
        aria-invalid={mismatch}
        aria-describedby={mismatch ? `${fieldId}-mismatch` : undefined}
        value={confirmation}
        disabled={busy}
        onChange={(event) => setConfirmation(event.target.value)}
      />
      {mismatch && (
        <p className="field-error" id={`${fieldId}-mismatch`}>
          The two passphrases differ.
        </p>
      )}

      <details className="explain">
        <summary>What is the backup?</summary>
        <p>
          Your keys are stored in this browser and cannot be read back out of it. Right after creating them you can
          download a backup: a small file with your keys, encrypted with this passphrase (a standard age file). With the
          file and the passphrase you can restore your identity on another browser, or use it with the p2pos command
          line. Without both, nobody can, including you.
        </p>
      </details>

      {busy ? (
        <ScryptProgress label="Protecting your keys with your passphrase…" fraction={progress} />
      ) : (
        <button
          type="submit"
          className="primary"
          data-testid="create-submit"
          disabled={tooShort || confirmation !== passphrase}
        >
          Create identity
        </button>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="create-error">
          {error}
        </p>
      )}
    </form>
  );
}
