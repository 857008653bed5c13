/** Where a photo is stored: "Oak ✓ Pine …", from `GET /v1/replication/status`, refreshed every 2 s. */
import type { Placement, ReplicationStatus } from "../lib/apiTypes.ts";
import { useVault } from "./context.ts";
import { placementMark, placementState, placementWords } from "./replicationView.ts";
import { usePolling, type Polled } from "./usePolling.ts";

/** How often pages showing placements or peers ask the node again. */
export const REFRESH_MS = 2000;

/**
 * The replication status of one album's photos (and the peers), polled while the page is visible
 * and the calling view is mounted.
 */
export function useReplicationStatus(album: string): Polled<ReplicationStatus> {
  const { api } = useVault();
  return usePolling(() => api.replicationStatus({ album }), REFRESH_MS, [api, album]);
}

interface Props {
  placements: readonly Placement[];
  /** Also say in visible words what failed (the viewer); the grid has tooltips only. */
  detailed?: boolean;
}

export function PlacementBadges({ placements, detailed = false }: Props) {
  const failed = placements.filter((p) => placementState(p) === "failed");
  return (
    <>
      <ul className={`placements${detailed ? " detailed" : ""}`} aria-label="Stored on" data-testid="placements">
        {placements.map((placement) => {
          const state = placementState(placement);
          const words = placementWords(placement);
          return (
            <li
              key={placement.node}
              className={`placement placement-${state}`}
              title={words}
              data-testid="placement"
              data-node-id={placement.node}
              data-node-name={placement.name}
              data-state={state}
            >
              <span aria-hidden="true">
                {placement.name} {placementMark(state)}
              </span>
              <span className="sr-only">{words}</span>
            </li>
          );
        })}
      </ul>
      {detailed &&
        failed.map((placement) => (
          <p
            key={placement.node}
            className="form-error"
            role="alert"
            data-testid="placement-error"
            data-node-name={placement.name}
          >
            {sentence(placementWords(placement))} This node tries again by itself.
          </p>
        ))}
    </>
  );
}

function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
