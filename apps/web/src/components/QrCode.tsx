/** A QR code of a short text (an id), drawn on a canvas so another device can scan it. */
import QRCode from "qrcode";
import { useEffect, useRef, useState } from "react";

export function QrCode({ text, label }: { text: string; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!canvas.current) return;
    QRCode.toCanvas(canvas.current, text, { errorCorrectionLevel: "M", margin: 2, width: 208 }).catch(() =>
      setFailed(true),
    );
  }, [text]);

  if (failed) return <p className="muted">The QR code could not be drawn.</p>;
  return (
    <canvas ref={canvas} className="qr" role="img" aria-label={label} data-testid="identity-qr" data-qr-text={text} />
  );
}
