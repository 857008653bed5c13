/** Shown while scrypt stretches the passphrase (about a second, on purpose: it slows guessers too). */
export function ScryptProgress({ label, fraction }: { label: string; fraction: number }) {
  const percent = Math.round(fraction * 100);
  return (
    <div className="progress" role="status" data-testid="scrypt-progress">
      <span className="spinner" aria-hidden="true" />
      <label>
        {label}
        <progress max={100} value={percent} aria-valuetext={`${percent}%`} />
      </label>
    </div>
  );
}
