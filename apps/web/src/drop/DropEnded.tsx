/** How a drop ended, when it did not end well: a key swap (the warning), a cancel, expiry, a stall… */
import type { DropEnded as Ended } from "./machine.ts";

const TITLES: Record<Ended["reason"], string> = {
  cancelled: "Drop cancelled",
  peer_cancelled: "Drop cancelled",
  expired: "The drop expired",
  tampered: "Transfer refused: the keys were tampered with",
  taken: "Someone else opened this drop",
  no_such_room: "This drop is no longer there",
  already_viewed: "Already viewed",
  stalled: "The transfer stalled",
  left: "The other side left",
  failed: "The drop failed",
};

export function DropEnded({
  state,
  role,
  onAgain,
}: {
  state: Ended;
  role: "sender" | "receiver";
  onAgain?: () => void;
}) {
  const tampered = state.reason === "tampered";
  return (
    <section
      className={`card drop-card drop-ended${tampered ? " notice drop-warning" : ""}`}
      data-testid={tampered ? "drop-warning" : "drop-ended"}
      data-reason={state.reason}
      role={tampered ? "alert" : undefined}
    >
      <h1>{TITLES[state.reason]}</h1>
      <p data-testid="drop-status" data-state={state.reason} role={tampered ? undefined : "status"}>
        {state.message}
      </p>
      {tampered && (
        <p>
          The link’s secret lets both ends check each other’s keys, and a key did not match. This happens when the hub,
          a relay or someone on the network substitutes keys to read the image, or when the part of the link after “#”
          was altered on its way.{" "}
          {role === "sender"
            ? "Send the image another way, or create a new drop and share its link through a different channel."
            : "Tell the sender, by another channel, that this drop was refused."}
        </p>
      )}
      {role === "receiver" && !tampered && state.reason !== "already_viewed" && (
        <p className="muted">Nothing of the image is kept in this browser.</p>
      )}
      {onAgain && (
        <div className="buttons drop-actions">
          <button type="button" className="primary" data-testid="drop-again" onClick={onAgain}>
            {role === "sender" ? "Send an image" : "Back"}
          </button>
        </div>
      )}
    </section>
  );
}
