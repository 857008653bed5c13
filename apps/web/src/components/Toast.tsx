/** A short message that confirms something happened, then goes away by itself. */
import { useEffect } from "react";

interface Props {
  message: string | undefined;
  onDone: () => void;
  /** How long it stays, in ms. Default 5 s. */
  duration?: number;
  testId?: string;
}

export function Toast({ message, onDone, duration = 5000, testId = "toast" }: Props) {
  useEffect(() => {
    if (message === undefined) return;
    const timer = setTimeout(onDone, duration);
    return () => clearTimeout(timer);
  }, [message, onDone, duration]);
  return (
    <div className="toast-region" role="status" aria-live="polite">
      {message !== undefined && (
        <p className="toast" data-testid={testId}>
          {message}
        </p>
      )}
    </div>
  );
}
