/**
 * One grid cell: the decrypted thumbnail, or a placeholder naming the kind of file; below it,
 * where the photo is stored. A photo whose files have not reached this node yet waits for them.
 */
import { useEffect, useState } from "react";
import type { Placement } from "../../lib/apiTypes.ts";
import { displayKind, type OpenPhoto } from "../../lib/photos.ts";
import { useVault } from "../context.ts";
import { PlacementBadges } from "../Placements.tsx";
import { storedHere } from "../replicationView.ts";
import { href } from "../router.ts";
import { keptThumb, loadThumb } from "../thumbLoader.ts";

interface Props {
  album: string;
  photo: OpenPhoto;
  keys: CryptoKey[];
  /** Where it is stored, when the replication status is known. */
  placements?: readonly Placement[] | undefined;
  /** This node's id, to tell whether its files are here yet. */
  here?: string | undefined;
  /** False: no link to the viewer (the trash). */
  linked?: boolean;
  /** While selecting: whether this photo is selected, and how to toggle it. */
  selection?: { selected: boolean; onToggle: () => void } | undefined;
  /** Show the file name under the photo (the grid's "Show file names"). Default false. */
  showName?: boolean;
}

export function Thumb({ album, photo, keys, placements, here, linked = true, selection, showName = false }: Props) {
  const { api } = useVault();
  const thumb = photo.view.thumb;
  const [url, setUrl] = useState(() => keptThumb(api, thumb));
  const [failed, setFailed] = useState(false);
  // Unknown counts as here (the status may lag behind the album); known missing waits.
  const arriving = storedHere(placements, here) === false;

  useEffect(() => {
    if (!thumb || arriving) return;
    const controller = new AbortController();
    // In turn with the other cells' (a few at a time, those on screen first), decrypted off the page.
    loadThumb(api, thumb, keys, controller.signal).then(
      (loaded) => {
        if (controller.signal.aborted) return;
        setUrl(loaded);
        setFailed(false);
      },
      () => {
        if (!controller.signal.aborted) setFailed(true);
      },
    );
    return () => controller.abort();
  }, [api, thumb, keys, arriving]);

  const name = photo.meta?.name ?? "(name cannot be opened)";
  const kind = displayKind(photo.meta);
  const loading = Boolean(thumb) && (arriving || !failed);
  const content = (
    <>
      {url ? (
        <img src={url} alt={name} decoding="async" data-testid="thumb-image" />
      ) : (
        <span
          className={`placeholder placeholder-${kind}`}
          data-testid="thumb-placeholder"
          data-loading={loading ? "true" : "false"}
        >
          {loading
            ? arriving
              ? "arriving…"
              : "…"
            : kind === "video"
              ? "▶ video"
              : kind === "image"
                ? "image"
                : fileLabel(name)}
        </span>
      )}
      {showName && (
        <span className="thumb-name" data-testid="thumb-name">
          {name}
        </span>
      )}
    </>
  );
  return (
    <li
      className={`thumb${selection?.selected ? " selected" : ""}`}
      data-testid="photo-thumb"
      data-photo-id={photo.view.id}
      data-name={name}
      data-arriving={arriving ? "true" : "false"}
      data-selected={selection ? String(selection.selected) : undefined}
    >
      {selection ? (
        // While selecting, a tap selects instead of opening.
        <button
          type="button"
          className="thumb-select"
          aria-pressed={selection.selected}
          aria-label={`Select ${name}`}
          data-testid="photo-select"
          onClick={selection.onToggle}
        >
          {content}
          <span className="check" aria-hidden="true">
            {selection.selected ? "✓" : ""}
          </span>
        </button>
      ) : linked ? (
        <a href={href({ page: "photo", album, photo: photo.view.id })} title={name}>
          {content}
        </a>
      ) : (
        <span className="thumb-static">{content}</span>
      )}
      {placements && <PlacementBadges placements={placements} />}
    </li>
  );
}

function fileLabel(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toUpperCase() : "file";
}
