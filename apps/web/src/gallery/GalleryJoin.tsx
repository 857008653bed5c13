/** The join screen: the gallery's name (from the link's fragment, typed, or made up) and a nickname. */
import { type SyntheticEvent, useState } from "react";
import {
  checkNickname,
  type GalleryIdentity,
  GALLERY_LIMITS,
  formatBytes,
  newGalleryIdentity,
  randomGalleryName,
  WEAK_NAME_CHARS,
} from "../lib/gallery.ts";
import { normalizeGalleryName } from "../lib/galleryName.ts";
import { describeGalleryError } from "./describe.ts";

interface Props {
  initialName: string;
  identity: GalleryIdentity | undefined;
  busy: boolean;
  error: string | undefined;
  /** The user just left a gallery. */
  left: boolean;
  onJoin: (name: string, identity: GalleryIdentity) => void;
}

export function GalleryJoin({ initialName, identity, busy, error, left, onJoin }: Props) {
  const [name, setName] = useState(initialName);
  const [nick, setNick] = useState(identity?.nick ?? "");
  const [problem, setProblem] = useState<string | undefined>();
  const weak = name.trim().length > 0 && name.trim().length < WEAK_NAME_CHARS;

  function submit(event: SyntheticEvent) {
    event.preventDefault();
    try {
      const tidyName = normalizeGalleryName(name);
      const tidyNick = checkNickname(nick);
      setProblem(undefined);
      onJoin(tidyName, identity ? { ...identity, nick: tidyNick } : newGalleryIdentity(tidyNick));
    } catch (caught) {
      setProblem(describeGalleryError(caught));
    }
  }

  const shown = problem ?? error;
  return (
    <div className="gallery-join-page">
      {left && (
        <p className="card gallery-left" role="status" data-testid="gallery-left">
          You left the gallery. Every image this tab held is gone from it.
        </p>
      )}
      <form className="card gallery-join" data-testid="gallery-join" onSubmit={submit} noValidate>
        <h1>Join a gallery</h1>
        <p className="muted">
          A gallery lives only in the browsers that have it open. Everyone sees thumbnails of what the others hold and
          pulls the images they want, straight from each other. Nothing is uploaded to a server, and nothing is saved on
          this device.
        </p>
        <label htmlFor="gallery-name">Gallery name</label>
        <div className="with-action">
          <input
            id="gallery-name"
            data-testid="gallery-name"
            value={name}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={problem !== undefined && name.trim() === ""}
            onChange={(event) => setName(event.target.value)}
            placeholder="a name only your people know"
          />
          <button
            type="button"
            className="small"
            data-testid="gallery-random-name"
            onClick={() => setName(randomGalleryName())}
          >
            Make one up
          </button>
        </div>
        <p className={weak ? "gallery-hint warn" : "gallery-hint"}>
          {weak
            ? `Short names are easy to guess. Anyone who guesses it can join, and the hub could try guesses. Use ${WEAK_NAME_CHARS} characters or more, or make one up.`
            : "Everyone who knows the name (or has the link) can join. The hub sees only a hash of it."}
        </p>
        <label htmlFor="gallery-nick">Your nickname</label>
        <input
          id="gallery-nick"
          data-testid="gallery-nick"
          value={nick}
          autoComplete="nickname"
          maxLength={40}
          onChange={(event) => setNick(event.target.value)}
          placeholder="what the others see"
        />
        <button type="submit" className="primary" data-testid="gallery-join-submit" disabled={busy}>
          {busy ? "Joining…" : "Join"}
        </button>
        {shown && (
          <p className="form-error" role="alert" data-testid="gallery-join-error">
            {shown}
          </p>
        )}
        <details className="explain">
          <summary>How it works</summary>
          <ul>
            <li>Your browser connects to the others directly (WebRTC). The hub only introduces you.</li>
            <li>
              An image is sent only to someone who asks for it. When you pull one, you hold it too and can pass it on.
            </li>
            <li>
              When the last person holding an image leaves, it is gone. When everyone leaves, the gallery is gone.
            </li>
            <li>
              Images up to {formatBytes(GALLERY_LIMITS.maxImageBytes)}: JPEG, PNG, GIF, WebP or AVIF. Burn removes an
              image from your tab only.
            </li>
          </ul>
        </details>
      </form>
    </div>
  );
}
