/** The sender's page: pick an image and a view time, share the link, watch it go, see it viewed. */
import { type SubmitEvent, useEffect, useRef, useState } from "react";
import { CopyButton } from "../components/CopyButton.tsx";
import { QrCode } from "../components/QrCode.tsx";
import type { SenderState } from "./machine.ts";
import { DropError, MAX_SECONDS, MIN_SECONDS, checkImage } from "./protocol.ts";
import { DropSender } from "./session.ts";
import { DropEnded } from "./DropEnded.tsx";
import { formatBytes, percent } from "./render.ts";

const PRESETS = [5, 10, 30, 60];

export function DropSend() {
  const [file, setFile] = useState<File>();
  const [seconds, setSeconds] = useState("10");
  const [formError, setFormError] = useState<string>();
  const [state, setState] = useState<SenderState>();
  const [fileKey, setFileKey] = useState(0);
  const session = useRef<DropSender>(undefined);

  // Leaving the page cancels a drop under way.
  useEffect(() => () => session.current?.cancel(), []);

  const active = state !== undefined && state.phase !== "ended" && state.phase !== "viewed";
  useEffect(() => {
    if (!active) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    addEventListener("beforeunload", warn);
    return () => removeEventListener("beforeunload", warn);
  }, [active]);

  async function start(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const time = Number(seconds);
    if (!file) {
      setFormError("Choose an image first.");
      return;
    }
    try {
      checkImage(file.type, file.size, time);
    } catch (error) {
      setFormError(error instanceof DropError ? error.message : String(error));
      return;
    }
    setFormError(undefined);
    setState({ phase: "starting" });
    try {
      // Read once, into memory only: a later change to the file on disk does not change the drop.
      const bytes = new Uint8Array(await file.arrayBuffer());
      session.current = DropSender.start({
        image: { name: file.name, type: file.type, bytes },
        seconds: time,
        onState: setState,
      });
    } catch (error) {
      setState(undefined);
      setFormError(`The image could not be read: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  function again() {
    session.current = undefined;
    setState(undefined);
    setFile(undefined);
    setFileKey((k) => k + 1);
  }

  if (state === undefined) {
    return (
      <form className="card drop-card" data-testid="drop-send" onSubmit={(event) => void start(event)} noValidate>
        <h1>Send an image, once</h1>
        <p className="muted">
          You get a link for one person. When they open it, the image travels straight to their browser, encrypted end
          to end, is shown for a few seconds with their name across it, and is then destroyed. Keep this page open until
          then.
        </p>
        <label htmlFor="drop-file">Image</label>
        <input
          key={fileKey}
          id="drop-file"
          data-testid="drop-file"
          type="file"
          accept="image/*"
          onChange={(event) => {
            setFile(event.target.files?.[0]);
            setFormError(undefined);
          }}
        />
        {file && <FilePreview file={file} />}
        <label htmlFor="drop-seconds">
          View time{" "}
          <span className="optional">
            (seconds, {MIN_SECONDS}–{MAX_SECONDS})
          </span>
        </label>
        <div className="drop-seconds">
          <input
            id="drop-seconds"
            data-testid="drop-seconds"
            type="number"
            inputMode="numeric"
            min={MIN_SECONDS}
            max={MAX_SECONDS}
            step={1}
            value={seconds}
            onChange={(event) => setSeconds(event.target.value)}
          />
          <div className="buttons" role="group" aria-label="Common view times">
            {PRESETS.map((preset) => (
              <button
                key={preset}
                type="button"
                className="small"
                aria-pressed={seconds === String(preset)}
                onClick={() => setSeconds(String(preset))}
              >
                {preset} s
              </button>
            ))}
          </div>
        </div>
        {formError !== undefined && (
          <p className="form-error" role="alert" data-testid="drop-form-error">
            {formError}
          </p>
        )}
        <button type="submit" className="primary" data-testid="drop-create">
          Create link
        </button>
      </form>
    );
  }

  if (state.phase === "ended") {
    return <DropEnded state={state} role="sender" onAgain={again} />;
  }

  return (
    <section className="card drop-card" data-testid="drop-send">
      <SenderStatus state={state} />
      {state.phase === "waiting" && (
        <div className="drop-share">
          <div className="stack drop-share-link">
            <p className="muted">Send this link to one person, by a channel you trust. It works once.</p>
            <div className="with-action">
              <code className="drop-link" data-testid="drop-link" data-link={state.link}>
                {state.link}
              </code>
              <CopyButton text={state.link} label="Copy the link" testId="drop-copy" />
            </div>
            <p className="muted small-print">
              The part after “#” is the key to the drop: it never reaches the hub. Whoever has the whole link can open
              the drop, so send it to one person only.
            </p>
          </div>
          <figure className="qr-figure">
            <QrCode text={state.link} label="QR code of the drop link" testId="drop-qr" size={200} />
            <figcaption className="muted">Or scan it with the other phone</figcaption>
          </figure>
        </div>
      )}
      {state.phase !== "viewed" && (
        <div className="buttons drop-actions">
          <button
            type="button"
            className="danger quiet"
            data-testid="drop-cancel"
            onClick={() => session.current?.cancel()}
          >
            Cancel drop
          </button>
        </div>
      )}
      {state.phase === "viewed" && (
        <div className="buttons drop-actions">
          <button type="button" className="primary" data-testid="drop-again" onClick={again}>
            Send another image
          </button>
        </div>
      )}
    </section>
  );
}

function SenderStatus({ state }: { state: Exclude<SenderState, { phase: "ended" }> }) {
  switch (state.phase) {
    case "starting":
      return (
        <>
          <h1>Preparing the drop…</h1>
          <p className="progress" data-testid="drop-status" data-state="starting" role="status">
            <span className="spinner" aria-hidden="true" />
            Making keys and a room at the hub.
          </p>
        </>
      );
    case "waiting":
      return (
        <>
          <h1>Waiting for the receiver</h1>
          <p className="progress" data-testid="drop-status" data-state="waiting" role="status">
            <span className="spinner" aria-hidden="true" />
            Nobody has opened the link yet. It expires at{" "}
            {new Date(state.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.
          </p>
        </>
      );
    case "connecting":
      return (
        <>
          <h1>{state.receiver} opened the link</h1>
          <p className="progress" data-testid="drop-status" data-state="connecting" role="status">
            <span className="spinner" aria-hidden="true" />
            Keys checked. Connecting directly to their browser…
          </p>
        </>
      );
    case "sending":
      return (
        <>
          <h1>Sending to {state.receiver}</h1>
          <div className="progress" data-testid="drop-status" data-state="sending" role="status">
            <label>
              <span>
                Sending… {percent(state.received, state.total)}% ({formatBytes(state.received)} of{" "}
                {formatBytes(state.total)})
              </span>
              <progress data-testid="drop-progress" max={state.total} value={state.received} />
            </label>
          </div>
        </>
      );
    case "viewing":
      return (
        <>
          <h1>{state.receiver} is viewing the image</h1>
          <p className="progress" data-testid="drop-status" data-state="viewing" role="status">
            <span className="spinner" aria-hidden="true" />
            It arrived whole. It shows for {state.seconds} seconds, then it is destroyed.
          </p>
        </>
      );
    case "viewed":
      return (
        <>
          <h1>Viewed, then destroyed</h1>
          <p data-testid="drop-status" data-state="viewed" role="status">
            {state.receiver} saw the image, and their browser then wiped it. The link no longer works.
          </p>
        </>
      );
  }
}

/** A small preview of the chosen image (an object URL of the file: no copy of its bytes). */
function FilePreview({ file }: { file: File }) {
  const img = useRef<HTMLImageElement>(null);
  useEffect(() => {
    const element = img.current;
    if (!element) return;
    const url = URL.createObjectURL(file);
    element.src = url;
    return () => {
      element.removeAttribute("src");
      URL.revokeObjectURL(url);
    };
  }, [file]);
  return (
    <div className="drop-preview">
      <img ref={img} alt="" />
      <span className="muted">
        {file.name} · {formatBytes(file.size)}
      </span>
    </div>
  );
}
