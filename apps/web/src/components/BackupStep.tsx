/**
 * The step that ends creating an identity (and greets an identity that has no backup yet): the keys
 * exist only in this browser, so the person deals with the backup before going on.
 */
import type { StoredIdentity } from "../lib/identity.ts";
import { BackupContents, BackupFlow } from "./BackupFlow.tsx";

export function BackupStep({ identity, onDone }: { identity: StoredIdentity; onDone: () => void }) {
  return (
    <section className="card backup-step" data-testid="backup-step" aria-labelledby="backup-step-title">
      <h1 id="backup-step-title">Back up your keys before you go on</h1>
      <p className="lead">
        Your keys exist only in this browser. If its data is lost (a new phone, cleared browsing data, a broken disk),
        only the backup file and your passphrase bring them back. Without them your access to the family&apos;s photos
        is gone for good: no admin, no node and nobody at P2POS can restore it.
      </p>
      <BackupContents />
      <BackupFlow identity={identity} onConfirmed={onDone} onLater={onDone} />
    </section>
  );
}
