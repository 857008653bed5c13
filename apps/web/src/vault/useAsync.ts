/** Load something when its inputs change; only the latest load may set state. */
import { useCallback, useEffect, useState, type DependencyList } from "react";

export type AsyncState<T> =
  { status: "loading" } | { status: "ready"; value: T } | { status: "failed"; error: unknown };

/**
 * Runs `load` when `deps` change or `reload()` is called. A reload keeps showing the previous
 * value until the new one arrives, so pages do not flash while refreshing.
 */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): [AsyncState<T>, () => void] {
  const [state, setState] = useState<AsyncState<T>>({ status: "loading" });
  const [generation, setGeneration] = useState(0);
  useEffect(
    () => {
      let live = true;
      load().then(
        (value) => {
          if (live) setState({ status: "ready", value });
        },
        (error: unknown) => {
          if (live) setState({ status: "failed", error });
        },
      );
      return () => {
        live = false;
      };
    },
    // `load` is a fresh closure each render; `deps` are what it reads.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [...deps, generation],
  );
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return [state, reload];
}
