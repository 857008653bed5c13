/**
 * The receiver's page. Opening it does nothing yet: the drop starts only when the person confirms
 * ("View once"), so a link preview cannot use it up.
 */
import { type SubmitEvent, useCallback, useEffect, useRef, useState } from "react";
import type { ReceiverState } from "./machine.ts";
import { wasViewed } from "./protocol.ts";
import { DropReceiver } from "./session.ts";
import { DropEnded } from "./DropEnded.tsx";
import { DropViewer } from "./DropViewer.tsx";
import { decodeForView, formatBytes, percent } from "./render.ts";

const NAME_MAX = 40;

export function DropReceive({ room, secret }: { room: string; secret: Uint8Array }) {
  const [viewedBefore] = useState(() => wasViewed(room));
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string>();
  const [state, setState] = useState<ReceiverState>();
  const session = useRef<DropReceiver>(undefined);

  // Leaving the page ends the drop (and wipes what arrived).
  useEffect(() => {
    const current = session;
    return () => current.current?.cancel();
  }, []);

  const shown = useCallback(() => session.current?.shown(), []);
  const notShown = useCallback((message: string) => session.current?.notShown(message), []);

  function confirm(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === "") {
      setNameError("Enter your name: it is stamped on the image.");
      return;
    }
    setNameError(undefined);
    // The secret leaves the address bar (and history): from here on the drop is in use.
    history.replaceState(history.state, "", location.pathname);
    session.current = DropReceiver.start({ room, secret, name: trimmed, decode: decodeForView, onState: setState });
  }

  if (viewedBefore && state === undefined) {
    return (
      <DropEnded
        state={{
          phase: "ended",
          reason: "already_viewed",
          message: "You already viewed this drop. It can be viewed only once.",
        }}
        role="receiver"
      />
    );
  }

  if (state === undefined) {
    return (
      <form className="card drop-card" data-testid="drop-receive" onSubmit={confirm} noValidate>
        <h1>Someone sent you an image</h1>
        <p>
          It can be viewed <strong>once</strong>, for a few seconds, with your name written across it. Then it is
          destroyed: in your browser, and the link stops working.
        </p>
        <p className="muted">
          It travels encrypted from the sender’s browser straight to yours; the hub that connects you cannot see it.
          Nothing has happened yet: the drop starts when you press “View once”.
        </p>
        <p className="sr-only" data-testid="drop-status" data-state="ready">
          Ready to view.
        </p>
        <label htmlFor="drop-name">Your name</label>
        <input
          id="drop-name"
          data-testid="drop-name"
          autoComplete="name"
          maxLength={NAME_MAX}
          value={name}
          aria-invalid={nameError !== undefined}
          aria-describedby="drop-name-help"
          onChange={(event) => setName(event.target.value)}
        />
        <p id="drop-name-help" className="muted small-print">
          Shown to the sender and stamped on the image with the time.
        </p>
        {nameError !== undefined && (
          <p className="field-error" role="alert">
            {nameError}
          </p>
        )}
        <button type="submit" className="primary" data-testid="drop-view">
          View once
        </button>
      </form>
    );
  }

  switch (state.phase) {
    case "connecting":
      return (
        <section className="card drop-card" data-testid="drop-receive">
          <h1>Opening the drop…</h1>
          <p className="progress" data-testid="drop-status" data-state="connecting" role="status">
            <span className="spinner" aria-hidden="true" />
            {state.step === "hub"
              ? "Reaching the hub…"
              : state.step === "hello"
                ? "Checking keys with the sender…"
                : "Keys checked. Connecting directly to the sender…"}
          </p>
        </section>
      );
    case "receiving":
      return (
        <section className="card drop-card" data-testid="drop-receive">
          <h1>Receiving the image…</h1>
          <div className="progress" data-testid="drop-status" data-state="receiving" role="status">
            <label>
              <span>
                {state.total === undefined
                  ? "Starting…"
                  : `${percent(state.received, state.total)}% (${formatBytes(state.received)} of ${formatBytes(state.total)})`}
              </span>
              <progress data-testid="drop-progress" max={state.total ?? 1} value={state.received} />
            </label>
          </div>
        </section>
      );
    case "viewing":
      return (
        <DropViewer
          picture={state.picture}
          seconds={state.meta.seconds}
          endsAt={state.endsAt}
          name={name.trim()}
          onShown={shown}
          onFailed={notShown}
          onClose={() => session.current?.done()}
        />
      );
    case "gone":
      return (
        <section className="card drop-card drop-gone" data-testid="drop-gone">
          <h1>Gone.</h1>
          <p data-testid="drop-status" data-state="gone" role="status">
            The image was shown once and destroyed: its pixels, keys and buffers are wiped from this page, and the link
            no longer works.
          </p>
        </section>
      );
    case "ended":
      return <DropEnded state={state} role="receiver" />;
  }
}
