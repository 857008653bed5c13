/** No identity on this browser yet: create one, or restore one from a backup. */
import type { StoredIdentity } from "../lib/identity.ts";
import { CreateIdentityForm } from "./CreateIdentityForm.tsx";
import { RestoreIdentityForm } from "./RestoreIdentityForm.tsx";

export function Welcome({ onReady }: { onReady: (identity: StoredIdentity) => void }) {
  return (
    <>
      <section className="intro">
        <h1>Welcome</h1>
        <p>
          Your identity is a pair of keys that lives in this browser. It signs what you add to the family vault and
          opens the photos shared with you. Nobody else holds a copy: not a server, not us.
        </p>
      </section>
      <div className="columns">
        <CreateIdentityForm onCreated={onReady} />
        <RestoreIdentityForm onRestored={onReady} />
      </div>
    </>
  );
}
