/**
 * Inside a gallery: who is here, the thumbnails of everything they hold, adding images, pulling
 * and viewing, burning, leaving, and resetting the gallery identity.
 */
import { useCallback, useState, useSyncExternalStore } from "react";
import { CopyButton } from "../components/CopyButton.tsx";
import { formatBytes, type GalleryPeerRow, type GallerySession, GALLERY_LIMITS } from "../lib/gallery.ts";
import { GalleryGrid } from "./GalleryGrid.tsx";
import { GalleryViewer } from "./GalleryViewer.tsx";

interface Props {
  session: GallerySession;
  onLeave: () => void;
  onReset: () => void;
}

export function GalleryRoom({ session, onLeave, onReset }: Props) {
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);
  const [selected, setSelected] = useState<string | undefined>();
  const connected = snapshot.peers.filter((peer) => peer.state === "connected").length;

  const closeViewer = useCallback(() => setSelected(undefined), []);
  const open = (id: string) => {
    session.pull(id);
    setSelected(id);
  };

  return (
    <div className="gallery-room" data-testid="gallery-room">
      <section className="card gallery-head">
        <div className="gallery-head-row">
          <div>
            <h1 className="gallery-title">{snapshot.name}</h1>
            <p className="muted" data-testid="gallery-me" data-peer={snapshot.me.peer} data-tag={snapshot.me.tag}>
              You are <strong>{snapshot.me.nick}</strong> <code className="gallery-tag">{snapshot.me.tag}</code> ·{" "}
              <span data-testid="gallery-connected">
                {connected === 0 ? "nobody else here yet" : `${connected} ${connected === 1 ? "other" : "others"} here`}
              </span>{" "}
              · this tab holds{" "}
              <span data-testid="gallery-held">
                {snapshot.held.count} {snapshot.held.count === 1 ? "image" : "images"} (
                {formatBytes(snapshot.held.bytes)})
              </span>{" "}
              in memory
            </p>
          </div>
          <button type="button" data-testid="gallery-leave" onClick={onLeave}>
            Leave
          </button>
        </div>
        <div className="gallery-share">
          <label htmlFor="gallery-link">Invite with this link</label>
          <div className="with-action">
            <input
              id="gallery-link"
              data-testid="gallery-link"
              readOnly
              value={snapshot.link}
              onFocus={(e) => e.target.select()}
            />
            <CopyButton text={snapshot.link} label="Copy the gallery link" testId="gallery-copy-link" />
          </div>
        </div>
      </section>

      {snapshot.hubLost && (
        <p className="form-error" role="alert" data-testid="gallery-hub-lost">
          The connection to the hub dropped ({snapshot.hubLost}). People already connected stay; nobody new can reach
          you until you leave and join again.
        </p>
      )}

      {snapshot.notices.length > 0 && (
        <ul className="gallery-notices" data-testid="gallery-notices" aria-live="polite">
          {snapshot.notices.map((notice) => (
            <li key={notice.id} className={`gallery-notice ${notice.tone}`} data-testid="gallery-notice">
              <span>{notice.text}</span>
              <button
                type="button"
                className="small quiet"
                aria-label="Dismiss"
                onClick={() => session.dismissNotice(notice.id)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}

      <AddImages session={session} adding={snapshot.adding} />

      <GalleryGrid items={snapshot.items} onOpen={open} onBurn={(id) => session.burn(id)} />

      <Peers peers={snapshot.peers} />

      <ResetIdentity onReset={onReset} />

      {selected !== undefined && (
        <GalleryViewer
          id={selected}
          item={snapshot.items.find((item) => item.id === selected)}
          session={session}
          onClose={closeViewer}
          onRetry={() => session.pull(selected)}
        />
      )}
    </div>
  );
}

function AddImages({ session, adding }: { session: GallerySession; adding: number }) {
  const [dragging, setDragging] = useState(false);
  const add = (files: File[]) => {
    if (files.length > 0) void session.addFiles(files);
  };
  return (
    <label
      className={`dropzone gallery-drop${dragging ? " dragging" : ""}`}
      data-testid="gallery-dropzone"
      onDragOver={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        add(Array.from(event.dataTransfer.files));
      }}
    >
      <input
        type="file"
        multiple
        accept="image/jpeg,image/png,image/gif,image/webp,image/avif"
        data-testid="gallery-add-input"
        onChange={(event) => {
          add(Array.from(event.target.files ?? []));
          event.target.value = "";
        }}
      />
      <span>
        Drop images here, or click to choose (up to {formatBytes(GALLERY_LIMITS.maxImageBytes)} each). They stay in this
        tab's memory and go only to people who ask for them.
      </span>
      {adding > 0 && (
        <span className="gallery-adding" role="status" data-testid="gallery-adding">
          <span className="spinner" aria-hidden="true" /> Adding {adding} {adding === 1 ? "image" : "images"}…
        </span>
      )}
    </label>
  );
}

const PATHS: Record<string, string> = { host: "direct", srflx: "direct", prflx: "direct", relay: "relayed" };

function Peers({ peers }: { peers: GalleryPeerRow[] }) {
  return (
    <section className="card">
      <h2>People here</h2>
      {peers.length === 0 ? (
        <p className="muted" data-testid="gallery-alone">
          Nobody else yet. Send them the link: the gallery lasts as long as someone has it open.
        </p>
      ) : (
        <ul className="gallery-peers" data-testid="gallery-peers">
          {peers.map((peer) => (
            <li
              key={peer.peer}
              className="gallery-peer"
              data-testid="gallery-peer"
              data-peer={peer.peer}
              data-nick={peer.nick ?? ""}
              data-state={peer.state}
            >
              <span
                className={`dot ${peer.state === "connected" ? "dot-green" : peer.state === "connecting" ? "dot-amber" : "dot-red"}`}
                aria-hidden="true"
              />
              <span className="gallery-peer-name">{peer.nick ?? "someone"}</span>
              {peer.tag && <code className="gallery-tag">{peer.tag}</code>}
              <span className="muted">
                {peer.state === "connected"
                  ? `holds ${peer.holds} ${peer.holds === 1 ? "image" : "images"}${peer.path ? ` · ${PATHS[peer.path] ?? peer.path}` : ""}`
                  : peer.state === "connecting"
                    ? "connecting…"
                    : `not connected${peer.reason ? `: ${peer.reason}` : ""}`}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ResetIdentity({ onReset }: { onReset: () => void }) {
  const [step, setStep] = useState<0 | 1 | 2>(0);
  if (step === 0) {
    return (
      <section className="danger-zone">
        <button type="button" className="danger quiet" data-testid="gallery-reset" onClick={() => setStep(1)}>
          Reset identity…
        </button>
      </section>
    );
  }
  return (
    <section
      className="danger-zone confirm"
      role="alertdialog"
      aria-labelledby="gallery-reset-title"
      data-testid="gallery-reset-dialog"
    >
      <h2 id="gallery-reset-title">{step === 1 ? "Reset your gallery identity?" : "Are you sure?"}</h2>
      {step === 1 ? (
        <p>
          This forgets your nickname and tag on this browser, burns every image this tab holds, and rejoins this gallery
          as a new, unknown peer. Others keep what they pulled from you.
        </p>
      ) : (
        <p>This cannot be undone: nobody will be able to tell the new you from a stranger.</p>
      )}
      <div className="buttons">
        <button type="button" data-testid="gallery-reset-cancel" onClick={() => setStep(0)}>
          Cancel
        </button>
        {step === 1 ? (
          <button type="button" className="danger" data-testid="gallery-reset-continue" onClick={() => setStep(2)}>
            Continue
          </button>
        ) : (
          <button
            type="button"
            className="danger"
            data-testid="gallery-reset-confirm"
            onClick={() => {
              setStep(0);
              onReset();
            }}
          >
            Reset identity now
          </button>
        )}
      </div>
    </section>
  );
}
