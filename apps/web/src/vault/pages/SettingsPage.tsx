/** Settings: identity backup, export of your albums, sign out. */
import { useState } from "react";
import { buildExportArchive, type ExportProgress } from "../../lib/exportArchive.ts";
import { backupFile } from "../../lib/identity.ts";
import { downloadBlob, downloadText } from "../../download.ts";
import { useVault } from "../context.ts";

export function SettingsPage() {
  const { identity, signOut, api, me } = useVault();
  const backup = backupFile(identity);
  const [exporting, setExporting] = useState<ExportProgress | null>(null);
  const [exportError, setExportError] = useState<string | null>(null);

  async function exportAlbums() {
    setExportError(null);
    setExporting({ albums: 0, photos: 0, bytes: 0 });
    try {
      const archive = await buildExportArchive(api, me.identity, setExporting);
      const date = new Date().toISOString().slice(0, 10);
      downloadBlob(
        `p2pos-export-${date}.zip`,
        new Blob([archive as Uint8Array<ArrayBuffer>], { type: "application/zip" }),
      );
    } catch (error) {
      setExportError(error instanceof Error ? error.message : String(error));
    } finally {
      setExporting(null);
    }
  }
  return (
    <section className="card" data-testid="settings-page">
      <h1>Settings</h1>
      <h2 className="label">Identity backup</h2>
      <p className="muted">
        <strong>{backup.name}</strong> and your passphrase restore your identity (and so your access to every album) on
        any browser.
      </p>
      <button
        type="button"
        className="primary"
        data-testid="settings-backup"
        onClick={() => downloadText(backup.name, backup.text, backup.type)}
      >
        Download backup
      </button>
      <h2 className="label">Export</h2>
      <p className="muted">
        Every album shared with you, as age files with your album keys and a manifest. With your backup and the standard{" "}
        <code>age</code> tool you can open every photo without P2POS (README.txt inside explains how).
      </p>
      <button
        type="button"
        data-testid="settings-export"
        disabled={exporting !== null}
        onClick={() => void exportAlbums()}
      >
        {exporting ? `Exporting… ${exporting.photos} photos` : "Export my albums"}
      </button>
      {exportError && (
        <p role="alert" className="error" data-testid="settings-export-error">
          Export failed: {exportError}
        </p>
      )}
      <h2 className="label">Session</h2>
      <p className="muted">Signing out ends this browser's session with the node. Your keys stay here.</p>
      <button type="button" data-testid="sign-out" onClick={() => void signOut()}>
        Sign out
      </button>
    </section>
  );
}
