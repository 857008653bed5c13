/** A yes/no preference of this browser, remembered in localStorage (e.g. "show file names"). */
import { useCallback, useState } from "react";

export function useStoredToggle(key: string, initial: boolean): [boolean, (value: boolean) => void] {
  const [value, setValue] = useState(() => readToggle(key, initial));
  const set = useCallback(
    (next: boolean) => {
      setValue(next);
      try {
        localStorage.setItem(key, next ? "1" : "0");
      } catch {
        // Storage refused (private mode, quota): the choice lasts for this page only.
      }
    },
    [key],
  );
  return [value, set];
}

export function readToggle(key: string, initial: boolean): boolean {
  try {
    const stored = localStorage.getItem(key);
    return stored === null ? initial : stored === "1";
  } catch {
    return initial;
  }
}
