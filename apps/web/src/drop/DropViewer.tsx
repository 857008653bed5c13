/**
 * The one viewing: the picture on a canvas under the receiver's name and the time, a countdown, and
 * on unmount the canvas wiped (pixels overwritten, buffer released).
 */
import { useEffect, useRef, useState } from "react";
import type { DropPicture } from "./machine.ts";
import { drawPicture, watermarkText, wipeCanvas } from "./render.ts";

interface Props {
  picture: DropPicture;
  seconds: number;
  /** When the countdown ends (epoch ms); undefined until the picture is drawn. */
  endsAt: number | undefined;
  name: string;
  onShown: () => void;
  onFailed: (message: string) => void;
  onClose: () => void;
}

export function DropViewer({ picture, seconds, endsAt, name, onShown, onFailed, onClose }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [stamp] = useState(() => new Date());
  const left = useSecondsLeft(endsAt, seconds);

  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    try {
      drawPicture(element, picture, watermarkText(name, stamp));
    } catch (error) {
      onFailed(error instanceof Error ? error.message : String(error));
      return;
    }
    onShown();
    return () => wipeCanvas(element);
  }, [picture, name, stamp, onShown, onFailed]);

  return (
    <section className="drop-viewer" data-testid="drop-viewer" aria-label="The image, shown once">
      <div className="drop-viewer-bar">
        <p data-testid="drop-status" data-state="viewing" role="status">
          Viewing once.{" "}
          <span className="drop-countdown" data-testid="drop-countdown" data-seconds={left} aria-live="off">
            {left} s
          </span>{" "}
          left
        </p>
        <button type="button" className="small" data-testid="drop-close" onClick={onClose}>
          Done
        </button>
      </div>
      <div className="drop-meter" aria-hidden="true">
        <span style={{ width: `${(left / seconds) * 100}%` }} />
      </div>
      <canvas
        ref={canvas}
        className="drop-canvas"
        data-testid="drop-canvas"
        role="img"
        aria-label={`The image, with “${name}” stamped across it`}
        onContextMenu={(event) => event.preventDefault()}
        onDragStart={(event) => event.preventDefault()}
      />
    </section>
  );
}

/** Whole seconds until `endsAt` (the full time until it is known), updated a few times a second. */
function useSecondsLeft(endsAt: number | undefined, seconds: number): number {
  const [left, setLeft] = useState(seconds);
  useEffect(() => {
    if (endsAt === undefined) return;
    const tick = () => setLeft(Math.max(0, Math.ceil((endsAt - Date.now()) / 1000)));
    const timer = setInterval(tick, 200);
    const first = setTimeout(tick, 0);
    return () => {
      clearInterval(timer);
      clearTimeout(first);
    };
  }, [endsAt]);
  return left;
}
