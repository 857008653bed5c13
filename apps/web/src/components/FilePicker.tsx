/**
 * A file picker that looks like the rest of the app: the browser's own input stays in the page for
 * keyboards, screen readers and tests, visually hidden; its label is the button people see.
 */
import { useId } from "react";

interface Props {
  /** The button's words, e.g. "Choose photos". */
  label: string;
  onFiles: (files: File[]) => void;
  accept?: string | undefined;
  multiple?: boolean;
  disabled?: boolean;
  primary?: boolean;
  /** `data-testid` of the input (what tests set files on). */
  testId?: string | undefined;
  /** Shown beside the button: the chosen file's name, or what to choose. Omit to show nothing. */
  chosen?: string | undefined;
  id?: string | undefined;
  describedBy?: string | undefined;
}

export function FilePicker({
  label,
  onFiles,
  accept,
  multiple = false,
  disabled = false,
  primary = false,
  testId,
  chosen,
  id,
  describedBy,
}: Props) {
  const autoId = useId();
  const inputId = id ?? `${autoId}-file`;
  return (
    <span className="file-picker">
      <input
        id={inputId}
        type="file"
        className="file-picker-input"
        data-testid={testId}
        accept={accept}
        multiple={multiple}
        disabled={disabled}
        aria-describedby={describedBy}
        onChange={(event) => {
          onFiles(Array.from(event.target.files ?? []));
          // Choosing the same file again must still count: the caller keeps the files.
          event.target.value = "";
        }}
      />
      <label htmlFor={inputId} className={`button${primary ? " primary" : ""}`} aria-disabled={disabled || undefined}>
        {label}
      </label>
      {chosen !== undefined && <span className="file-picker-chosen">{chosen}</span>}
    </span>
  );
}
