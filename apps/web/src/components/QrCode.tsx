/** A QR code of a short text (an id, a member card, an enrollment token), drawn on a canvas so another device can scan it. */
import QRCode from "qrcode";
import { useEffect, useRef, useState } from "react";

interface Props {
  text: string;
  label: string;
  /** Default `identity-qr`. */
  testId?: string;
  /** Width in CSS pixels. Default 208. */
  size?: number;
}

export function QrCode({ text, label, testId = "identity-qr", size = 208 }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!canvas.current) return;
    QRCode.toCanvas(canvas.current, text, { errorCorrectionLevel: "M", margin: 2, width: size }).catch(() =>
      setFailed(true),
    );
  }, [text, size]);

  if (failed) return <p className="muted">The QR code could not be drawn.</p>;
  return <canvas ref={canvas} className="qr" role="img" aria-label={label} data-testid={testId} data-qr-text={text} />;
}
