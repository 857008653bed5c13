/**
 * A member's face: their profile photo in a circle, or their initials on a colour of their own
 * (from their id) when they have none, or when the photo does not decode.
 *
 * The photo is another member's text: it reaches the page only through `safeAvatar` and only as an
 * `<img src>`. Next to the member's name (`decorative`), it is hidden from screen readers; alone,
 * it is named by them (`alt`, or `aria-label` on the initials).
 */
import { useState } from "react";
import { avatarColour, initials, safeAvatar } from "../lib/avatar.ts";
import "./avatar.css";

interface Props {
  /** The member's id: picks the initials' colour. */
  id: string;
  /** Their name (or what stands for it): the initials, and the alt text unless decorative. */
  name: string;
  /** Their avatar data URL, if any (checked here again). */
  avatar?: string | undefined;
  /** Diameter in CSS pixels (default 32). */
  size?: number;
  /** The name is written next to it: hide it from assistive technology. */
  decorative?: boolean;
  testId?: string;
}

export function Avatar({ id, name, avatar, size = 32, decorative = false, testId = "avatar" }: Props) {
  const src = safeAvatar(avatar);
  // The photo that failed to decode, so that a new one is tried again.
  const [failed, setFailed] = useState<string>();
  const dimensions = { width: size, height: size };
  if (src !== undefined && src !== failed) {
    return (
      <img
        className="avatar"
        src={src}
        alt={decorative ? "" : name}
        {...dimensions}
        style={dimensions}
        decoding="async"
        draggable={false}
        data-testid={testId}
        data-kind="photo"
        onError={() => setFailed(src)}
      />
    );
  }
  return (
    <span
      className="avatar avatar-initials"
      style={{ ...dimensions, backgroundColor: avatarColour(id), fontSize: Math.max(10, Math.round(size * 0.4)) }}
      data-testid={testId}
      data-kind="initials"
      // Drawn by CSS (`::before`), so the initials never join the name in copied or read text.
      data-initials={initials(name)}
      {...(decorative ? { "aria-hidden": true } : { role: "img", "aria-label": name })}
    />
  );
}
