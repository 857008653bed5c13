/** One image full size: while it is pulled, its progress; then the image, with Burn. */
import { useEffect, useRef } from "react";
import { describePullFailure, formatBytes, type GalleryItem, type GallerySession } from "../lib/gallery.ts";
import { itemStatus } from "./GalleryGrid.tsx";

interface Props {
  id: string;
  /** The item, or undefined once nobody here holds it. */
  item: GalleryItem | undefined;
  session: GallerySession;
  onClose: () => void;
  onRetry: () => void;
}

export function GalleryViewer({ id, item, session, onClose, onRetry }: Props) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    close.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  const image = item?.held ? session.image(id) : undefined;
  return (
    <div className="gallery-viewer-backdrop" onClick={onClose}>
      <div
        className="gallery-viewer card"
        role="dialog"
        aria-modal="true"
        aria-label={`Image ${id.slice(0, 8)}`}
        data-testid="gallery-viewer"
        data-id={id}
        onClick={(event) => event.stopPropagation()}
      >
        <div className="gallery-viewer-bar">
          <span className="muted" data-testid="gallery-viewer-status">
            {item ? `${itemStatus(item)} · ${formatBytes(item.size)}` : "Gone"}
          </span>
          <div className="buttons">
            {item?.held && (
              <button
                type="button"
                className="small danger"
                data-testid="gallery-burn"
                onClick={() => {
                  session.burn(id);
                  onClose();
                }}
              >
                Burn
              </button>
            )}
            <button type="button" className="small" ref={close} data-testid="gallery-viewer-close" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
        {image ? (
          <FullImage bytes={image.bytes} type={image.type} />
        ) : item?.pull ? (
          <div className="gallery-viewer-wait">
            <progress max={item.pull.size} value={item.pull.received} data-testid="gallery-viewer-progress" />
            <p className="muted">
              Pulling from {item.pull.fromNick ?? "a peer"}: {formatBytes(item.pull.received)} of{" "}
              {formatBytes(item.pull.size)}
              {item.pull.attempt > 1 ? ` (attempt ${item.pull.attempt}: the first holder did not deliver)` : ""}
            </p>
          </div>
        ) : item?.error ? (
          <div className="gallery-viewer-wait">
            <p className="form-error" role="alert" data-testid="gallery-viewer-error">
              Could not get this image: {describePullFailure(item.error)}.
            </p>
            <button type="button" className="primary" data-testid="gallery-viewer-retry" onClick={onRetry}>
              Try again
            </button>
          </div>
        ) : item ? (
          <div className="gallery-viewer-wait">
            <span className="spinner" aria-hidden="true" />
          </div>
        ) : (
          <p className="form-error" role="alert" data-testid="gallery-viewer-gone">
            This image is gone: no one holding it is here any more.
          </p>
        )}
        <p className="muted gallery-viewer-id">
          BLAKE3 <code>{id}</code>
        </p>
      </div>
    </div>
  );
}

/** The image from a blob: URL that lives exactly as long as it is shown. */
function FullImage({ bytes, type }: { bytes: Uint8Array; type: string }) {
  const ref = useRef<HTMLImageElement>(null);
  useEffect(() => {
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
    if (ref.current) ref.current.src = url;
    return () => URL.revokeObjectURL(url);
  }, [bytes, type]);
  return <img ref={ref} className="gallery-full" alt="" data-testid="gallery-viewer-image" />;
}
