/**
 * Adding files to a page: a drop zone with a styled picker button, and drag and drop anywhere on
 * the page (an overlay says where the files go while they are dragged over it).
 */
import { useEffect, useRef, useState } from "react";
import { FilePicker } from "./FilePicker.tsx";

interface DropZoneProps {
  onFiles: (files: File[]) => void;
  /** The picker button's words. */
  label: string;
  /** One sentence beside it, e.g. what happens to the files. */
  hint: string;
  accept?: string | undefined;
  testId?: string | undefined;
  inputTestId?: string | undefined;
}

/** The zone in the page: a button to choose files, and a target for files dropped on it. */
export function DropZone({ onFiles, label, hint, accept, testId, inputTestId }: DropZoneProps) {
  return (
    <div className="dropzone" data-testid={testId}>
      <FilePicker label={label} onFiles={onFiles} accept={accept} multiple primary testId={inputTestId} />
      <p className="dropzone-hint">{hint}</p>
    </div>
  );
}

/** Files dragged anywhere over the page: an overlay while they hover, `onFiles` when dropped. */
export function PageFileDrop({ onFiles, label }: { onFiles: (files: File[]) => void; label: string }) {
  const [over, setOver] = useState(false);
  const handler = useRef(onFiles);
  useEffect(() => {
    handler.current = onFiles;
  }, [onFiles]);

  useEffect(() => {
    // dragenter and dragleave fire for every element crossed: count them to know when it left the window.
    let depth = 0;
    const carriesFiles = (event: DragEvent) => event.dataTransfer?.types.includes("Files") ?? false;
    const enter = (event: DragEvent) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      setOver(true);
    };
    const overPage = (event: DragEvent) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    };
    const leave = (event: DragEvent) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const drop = (event: DragEvent) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      setOver(false);
      const files = Array.from(event.dataTransfer?.files ?? []);
      if (files.length > 0) handler.current(files);
    };
    window.addEventListener("dragenter", enter);
    window.addEventListener("dragover", overPage);
    window.addEventListener("dragleave", leave);
    window.addEventListener("drop", drop);
    return () => {
      window.removeEventListener("dragenter", enter);
      window.removeEventListener("dragover", overPage);
      window.removeEventListener("dragleave", leave);
      window.removeEventListener("drop", drop);
    };
  }, []);

  if (!over) return null;
  return (
    <div className="drop-overlay" data-testid="page-drop-overlay" aria-hidden="true">
      <p>{label}</p>
    </div>
  );
}
