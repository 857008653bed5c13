/**
 * A readable id in its 8 groups, monospaced so people can compare it group by group when reading
 * it aloud. It prefers to wrap between its two halves (4 + 4 groups), the first ending in its dash.
 * The dashes are real text, so selecting and copying gives the canonical id.
 */
import { Fragment } from "react";
import { idGroups } from "../lib/readableId.ts";

export function ReadableId({ id }: { id: string }) {
  const groups = idGroups(id);
  const halves = [groups.slice(0, 4), groups.slice(4)];
  return (
    <code className="readable-id" data-testid="readable-id" data-id={id}>
      {halves.map((half, h) => (
        <span className="half" key={h}>
          {half.map((group, g) => (
            <Fragment key={g}>
              {g > 0 && <span className="dash">-</span>}
              <span className="group">{group}</span>
            </Fragment>
          ))}
          {h === 0 && <span className="dash">-</span>}
        </span>
      ))}
    </code>
  );
}
