/**
 * Your profile photo, beside your name: choose a picture, see it in a circle, move and zoom the
 * crop, save (or remove). The crop is drawn at 96×96 and encoded (WebP, or JPEG), smaller until it
 * fits the profile record; then it is sealed and signed with your name, like your name.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { Avatar } from "../../components/Avatar.tsx";
import { FilePicker } from "../../components/FilePicker.tsx";
import {
  CENTRED,
  MAX_ZOOM,
  canvasEncoder,
  decodePhoto,
  drawCrop,
  dragCrop,
  fitAvatar,
  type Crop,
} from "../../lib/avatar.ts";
import { updateMyProfile } from "../../lib/names.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";

interface Props {
  /** Our name as the family knows it, if we have one. */
  name: string | undefined;
  /** Our current photo, if any. */
  avatar: string | undefined;
  onSaved: () => void;
}

/** The preview's side in canvas pixels (shown at 160 CSS px: sharp on 2× screens). */
const PREVIEW = 320;
/** How far an arrow key moves the picture, in CSS pixels of the preview. */
const STEP = 8;

export function ProfilePhoto({ name, avatar, onSaved }: Props) {
  const { vault, identity } = useVault();
  const ids = useId();
  // The photo being cropped (decoded) and its crop; none while not editing.
  const [bitmap, setBitmap] = useState<ImageBitmap>();
  const [crop, setCrop] = useState<Crop>(CENTRED);
  const [busy, setBusy] = useState<"reading" | "saving" | "removing">();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();
  const shownName = name ?? identity.name ?? "You";

  // The decoded picture is released when replaced, cancelled or left.
  useEffect(() => {
    if (!bitmap) return;
    return () => bitmap.close();
  }, [bitmap]);

  const choose = async (file: File | undefined) => {
    if (!file) return;
    setBusy("reading");
    setError(undefined);
    setStatus(undefined);
    try {
      setBitmap(await decodePhoto(file));
      setCrop(CENTRED);
    } catch (caught) {
      setBitmap(undefined);
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  const save = async () => {
    if (!bitmap) return;
    setBusy("saving");
    setError(undefined);
    try {
      const url = await fitAvatar(canvasEncoder(bitmap, crop));
      await updateMyProfile(vault, { avatar: url }, identity.name);
      setBitmap(undefined);
      setStatus("Saved: the family sees your new photo.");
      onSaved();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  const remove = async () => {
    setBusy("removing");
    setError(undefined);
    try {
      await updateMyProfile(vault, { avatar: null }, identity.name);
      setStatus("Removed: the family sees your initials.");
      onSaved();
    } catch (caught) {
      setError(describeError(caught, "member"));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <div
      className={`profile-photo${bitmap ? " editing" : ""}`}
      data-testid="profile-photo"
      role="group"
      aria-labelledby={`${ids}-label`}
    >
      <span className="profile-photo-label" id={`${ids}-label`}>
        Profile photo
      </span>
      {bitmap ? (
        <CropEditor bitmap={bitmap} crop={crop} onCrop={setCrop} hintId={`${ids}-hint`} zoomId={`${ids}-zoom`} />
      ) : (
        <div className="profile-photo-row">
          <Avatar id={identity.id} name={shownName} avatar={avatar} size={72} testId="profile-photo-current" />
          <div className="profile-photo-actions">
            <FilePicker
              label={avatar ? "Change photo" : "Choose a photo"}
              accept="image/*"
              testId="profile-photo-input"
              disabled={busy !== undefined}
              describedBy={`${ids}-hint`}
              onFiles={(files) => void choose(files[0])}
            />
            {avatar && (
              <button
                type="button"
                className="quiet"
                data-testid="profile-photo-remove"
                disabled={busy !== undefined}
                onClick={() => void remove()}
              >
                {busy === "removing" ? "Removing…" : "Remove photo"}
              </button>
            )}
          </div>
        </div>
      )}
      {bitmap && (
        <div className="buttons profile-photo-buttons">
          <button
            type="button"
            className="primary"
            data-testid="profile-photo-save"
            disabled={busy !== undefined}
            onClick={() => void save()}
          >
            {busy === "saving" ? "Saving…" : "Save photo"}
          </button>
          <FilePicker
            label="Another photo"
            accept="image/*"
            testId="profile-photo-another"
            disabled={busy !== undefined}
            onFiles={(files) => void choose(files[0])}
          />
          <button
            type="button"
            className="quiet"
            data-testid="profile-photo-cancel"
            disabled={busy === "saving"}
            onClick={() => setBitmap(undefined)}
          >
            Cancel
          </button>
        </div>
      )}
      <p id={`${ids}-hint`} className="muted small-print" role="status" data-testid="profile-photo-status">
        {busy === "reading"
          ? "Opening the photo…"
          : bitmap
            ? "Drag the photo (or use the arrow keys) and zoom to choose what shows in the circle."
            : (status ?? "Shown next to your name, to the family only: encrypted like your name.")}
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="profile-photo-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** The picture in a circle, as it will be saved: drag or arrow keys move it, the slider zooms. */
function CropEditor({
  bitmap,
  crop,
  onCrop,
  hintId,
  zoomId,
}: {
  bitmap: ImageBitmap;
  crop: Crop;
  /** Given how to change the crop (pointer moves can come faster than renders). */
  onCrop: (change: (crop: Crop) => Crop) => void;
  hintId: string;
  zoomId: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const dragging = useRef<{ x: number; y: number }>(undefined);

  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    context.clearRect(0, 0, PREVIEW, PREVIEW);
    drawCrop(context, bitmap, crop, PREVIEW);
  }, [bitmap, crop]);

  const shown = () => {
    const width = canvas.current?.getBoundingClientRect().width ?? 0;
    return width > 0 ? width : PREVIEW / 2;
  };
  const move = (dx: number, dy: number) => {
    const side = shown();
    onCrop((now) => dragCrop(now, bitmap.width, bitmap.height, dx, dy, side));
  };
  const zoom = (by: (zoom: number) => number) =>
    onCrop((now) => ({ ...now, zoom: Math.min(MAX_ZOOM, Math.max(1, by(now.zoom))) }));

  const keys: Record<string, () => void> = {
    ArrowLeft: () => move(-STEP, 0),
    ArrowRight: () => move(STEP, 0),
    ArrowUp: () => move(0, -STEP),
    ArrowDown: () => move(0, STEP),
    "+": () => zoom((z) => z + 0.1),
    "=": () => zoom((z) => z + 0.1),
    "-": () => zoom((z) => z - 0.1),
  };

  return (
    <div className="profile-photo-editor">
      <canvas
        ref={canvas}
        className="profile-photo-preview"
        width={PREVIEW}
        height={PREVIEW}
        tabIndex={0}
        role="img"
        aria-label="Your new profile photo, as the family will see it"
        aria-describedby={hintId}
        data-testid="profile-photo-preview"
        onPointerDown={(event: PointerEvent<HTMLCanvasElement>) => {
          event.currentTarget.setPointerCapture(event.pointerId);
          dragging.current = { x: event.clientX, y: event.clientY };
        }}
        onPointerMove={(event: PointerEvent<HTMLCanvasElement>) => {
          const from = dragging.current;
          if (!from) return;
          dragging.current = { x: event.clientX, y: event.clientY };
          move(event.clientX - from.x, event.clientY - from.y);
        }}
        onPointerUp={() => (dragging.current = undefined)}
        onPointerCancel={() => (dragging.current = undefined)}
        onKeyDown={(event: KeyboardEvent<HTMLCanvasElement>) => {
          const action = keys[event.key];
          if (!action) return;
          event.preventDefault();
          action();
        }}
      />
      <div className="profile-photo-zoom">
        <label htmlFor={zoomId}>Zoom</label>
        <input
          id={zoomId}
          type="range"
          min={1}
          max={MAX_ZOOM}
          step={0.01}
          value={crop.zoom}
          data-testid="profile-photo-zoom"
          onChange={(event) => {
            const value = Number(event.target.value);
            zoom(() => value);
          }}
        />
      </div>
    </div>
  );
}
