/** The identity kept in this browser: id (text and QR), age recipient, backup, forget. */
import { useId, useState } from "react";
import { backupFile, forgetIdentity, type StoredIdentity } from "../lib/identity.ts";
import { formatMemberCard } from "../lib/memberCard.ts";
import { downloadText } from "../download.ts";
import { describeError } from "../errorMessages.ts";
import { CopyButton } from "./CopyButton.tsx";
import { QrCode } from "./QrCode.tsx";
import { ReadableId } from "./ReadableId.tsx";
import { BackupDialog } from "./BackupBanner.tsx";
import { saveBackupEvent, useBackupState } from "./useBackupState.ts";

interface Props {
  identity: StoredIdentity;
  onForgotten: () => void;
}

export function IdentityView({ identity, onForgotten }: Props) {
  const titleId = useId();
  const backup = backupFile(identity);
  const card = formatMemberCard(identity);
  const backupState = useBackupState(identity);
  const [checking, setChecking] = useState(false);

  return (
    <section className="card identity" data-testid="identity-view" aria-labelledby={titleId}>
      <h1 id={titleId}>{identity.name ? `${identity.name}'s identity` : "Your identity"}</h1>

      <div className="identity-grid">
        <div>
          <h2 className="label">Your id</h2>
          <p className="muted">Share it with family members so they can add you. Compare it group by group.</p>
          <div className="with-action">
            <ReadableId id={identity.id} />
            <CopyButton text={identity.id} label="Copy your id" testId="copy-id" />
          </div>

          <h2 className="label">Encryption address</h2>
          <p className="muted">Photos and album keys shared with you are encrypted to this age recipient.</p>
          <div className="with-action">
            <code className="recipient" data-testid="age-recipient">
              {identity.recipient}
            </code>
            <CopyButton text={identity.recipient} label="Copy your encryption address" testId="copy-recipient" />
          </div>
        </div>
        <figure className="qr-figure">
          <QrCode text={card} label={`QR code of your member card (id ${identity.id})`} />
          <figcaption className="muted">
            An admin scans this to add you: it holds your id and encryption address.{" "}
            <CopyButton text={card} label="Copy your member card" testId="copy-card" />
          </figcaption>
        </figure>
      </div>

      <div className="backup" data-testid="identity-backup">
        <h2 className="label">Backup</h2>
        {backupState === "confirmed" ? (
          <p data-testid="backup-confirmed">
            <span className="step-mark">✓ Checked:</span> your backup file opened with your passphrase in this browser.
          </p>
        ) : (
          <p className="warn-text" data-testid="backup-unconfirmed">
            {backupState === "none" ? "Not backed up yet." : "Downloaded, not checked yet."} Without the backup file and
            your passphrase, losing this browser&apos;s data means losing your access to the family&apos;s photos.
          </p>
        )}
        <p className="muted">
          Keep <strong>{backup.name}</strong> and your passphrase somewhere safe. Together they restore this identity on
          any browser; the p2pos command line reads the same file.
        </p>
        <div className="buttons">
          <button
            type="button"
            className={backupState === "confirmed" ? undefined : "primary"}
            data-testid="download-backup"
            onClick={() => {
              downloadText(backup.name, backup.text, backup.type);
              void saveBackupEvent(identity, "downloaded").catch(() => undefined);
            }}
          >
            Download backup
          </button>
          <button type="button" data-testid="identity-backup-check" onClick={() => setChecking(true)}>
            {backupState === "confirmed" ? "Check it again" : "Check your backup"}
          </button>
        </div>
        <BackupDialog
          identity={identity}
          open={checking}
          onClose={() => setChecking(false)}
          onConfirmed={() => setChecking(false)}
        />
      </div>

      <ForgetIdentity onForgotten={onForgotten} />
    </section>
  );
}

function ForgetIdentity({ onForgotten }: { onForgotten: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function forget() {
    try {
      await forgetIdentity();
      onForgotten();
    } catch (caught) {
      setError(describeError(caught));
    }
  }

  if (!confirming) {
    return (
      <div className="danger-zone">
        <button
          type="button"
          className="quiet danger"
          data-testid="forget-identity"
          onClick={() => setConfirming(true)}
        >
          Forget this identity on this browser
        </button>
      </div>
    );
  }
  return (
    <div
      className="danger-zone confirm"
      role="alertdialog"
      aria-labelledby="forget-title"
      aria-describedby="forget-text"
    >
      <h2 id="forget-title" className="label">
        Forget this identity?
      </h2>
      <p id="forget-text">
        The keys will be deleted from this browser. Only the backup file and its passphrase can bring them back.
      </p>
      <div className="buttons">
        <button type="button" className="danger" data-testid="confirm-forget" onClick={() => void forget()}>
          Forget it
        </button>
        <button type="button" data-testid="cancel-forget" onClick={() => setConfirming(false)} autoFocus>
          Keep it
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
