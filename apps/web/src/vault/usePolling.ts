/** Keep a value fresh: load it every `intervalMs` while the page is visible (see `poller.ts`). */
import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";
import { Poller } from "./poller.ts";

export interface Polled<T> {
  /** The latest value; kept while a later load fails. */
  value: T | undefined;
  /** Why the latest load failed; undefined once one succeeds again. */
  error: unknown;
  /** Load again now. */
  refresh: () => void;
}

export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: DependencyList): Polled<T> {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<unknown>();
  const poller = useRef<Poller<T>>(undefined);
  useEffect(
    () => {
      const current = new Poller<T>({
        load,
        intervalMs,
        onValue: (next) => {
          setValue(next);
          setError(undefined);
        },
        onError: setError,
      });
      poller.current = current;
      const onVisibility = () => current.visibilityChanged();
      document.addEventListener("visibilitychange", onVisibility);
      current.start();
      return () => {
        document.removeEventListener("visibilitychange", onVisibility);
        current.stop();
      };
    },
    // `load` is a fresh closure each render; `deps` are what it reads.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [...deps, intervalMs],
  );
  const refresh = useCallback(() => poller.current?.refresh(), []);
  return { value, error, refresh };
}
