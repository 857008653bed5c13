/**
 * Scan a QR code with the camera, or read it from a picture (a screenshot or photo of someone's
 * identity screen). Calls `onText` with the first code found.
 */
import { useEffect, useRef, useState } from "react";
import { decodeQrFrom } from "../lib/qrDecode.ts";
import { FilePicker } from "./FilePicker.tsx";

interface Props {
  onText: (text: string) => void;
}

export function QrScanner({ onText }: Props) {
  const [scanning, setScanning] = useState(false);
  const [error, setError] = useState<string>();

  const fromPicture = async (file: File) => {
    setError(undefined);
    try {
      const bitmap = await createImageBitmap(file);
      try {
        const text = await decodeQrFrom(bitmap, bitmap.width, bitmap.height);
        if (text) onText(text);
        else setError("No QR code found in that picture. Try a sharper or closer one.");
      } finally {
        bitmap.close();
      }
    } catch {
      setError("That file could not be read as a picture.");
    }
  };

  return (
    <div className="qr-scanner" data-testid="qr-scanner">
      <div className="actions">
        <button type="button" data-testid="qr-camera" onClick={() => setScanning((on) => !on)}>
          {scanning ? "Stop camera" : "Scan QR with camera"}
        </button>
        <FilePicker
          label="QR from a picture…"
          accept="image/*"
          testId="qr-picture"
          onFiles={(files) => {
            const file = files[0];
            if (file) void fromPicture(file);
          }}
        />
      </div>
      {scanning && (
        <CameraScan
          onText={(text) => {
            setScanning(false);
            onText(text);
          }}
          onError={(message) => {
            setScanning(false);
            setError(message);
          }}
        />
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="qr-error">
          {error}
        </p>
      )}
    </div>
  );
}

function CameraScan({ onText, onError }: { onText: (text: string) => void; onError: (message: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  // The camera runs once per mount; fresh callbacks from each render must not restart it.
  const callbacks = useRef({ onText, onError });
  useEffect(() => {
    callbacks.current = { onText, onError };
  });

  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    // A function, not the variable: checks after an await must re-read it.
    const isStopped = () => stopped;
    const tick = async () => {
      const element = video.current;
      if (isStopped() || !element) return;
      if (element.readyState >= element.HAVE_CURRENT_DATA && element.videoWidth > 0) {
        const text = await decodeQrFrom(element, element.videoWidth, element.videoHeight);
        if (text && !isStopped()) {
          callbacks.current.onText(text);
          return;
        }
      }
      if (!isStopped()) timer = setTimeout(() => void tick(), 150);
    };
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then((media) => {
        stream = media;
        if (isStopped() || !video.current) return;
        video.current.srcObject = media;
        void video.current.play().catch(() => undefined);
        void tick();
      })
      .catch((caught: unknown) => {
        if (isStopped()) return;
        const reason =
          caught instanceof DOMException && caught.name === "NotAllowedError" ? "permission denied" : "none found";
        callbacks.current.onError(
          `No camera (${reason}). Use a picture of the code, or type the id and encryption address.`,
        );
      });
    return () => {
      stopped = true;
      clearTimeout(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
  }, []);

  return <video ref={video} className="qr-video" muted playsInline data-testid="qr-video" />;
}
