/** A live hint under the passphrase field. */
import { passphraseStrength } from "../lib/passphrase.ts";

const LEVEL_WIDTH = { "too-short": 10, weak: 35, fair: 65, strong: 100 } as const;

export function PassphraseStrength({ passphrase, id }: { passphrase: string; id: string }) {
  const strength = passphraseStrength(passphrase);
  return (
    <div className={`strength strength-${strength.level}`} id={id} data-testid="passphrase-strength" aria-live="polite">
      <div className="strength-bar" aria-hidden="true">
        <span style={{ width: `${passphrase ? LEVEL_WIDTH[strength.level] : 0}%` }} />
      </div>
      <p>{strength.hint}</p>
    </div>
  );
}
