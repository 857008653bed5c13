/** Settings: identity backup, sign out. */
import { backupFile } from "../../lib/identity.ts";
import { downloadText } from "../../download.ts";
import { useVault } from "../context.ts";

export function SettingsPage() {
  const { identity, signOut } = useVault();
  const backup = backupFile(identity);
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
      <h2 className="label">Session</h2>
      <p className="muted">Signing out ends this browser's session with the node. Your keys stay here.</p>
      <button type="button" data-testid="sign-out" onClick={() => void signOut()}>
        Sign out
      </button>
    </section>
  );
}
