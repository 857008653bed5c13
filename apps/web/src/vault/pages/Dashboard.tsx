/** Home: the family, this node (by name), your role, the storage your albums use; ids in the details. */
import { useNames } from "../names.ts";
import type { Health } from "../../lib/apiTypes.ts";
import { storageUsed } from "../../lib/vault.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { formatBytes } from "../format.ts";
import { useAsync } from "../useAsync.ts";

interface Overview {
  health: Health;
  /** This node's name (`--name`, e.g. Oak). */
  nodeName: string;
  members: number;
  albums: number;
  photos: number;
  bytes: number;
}

export function Dashboard() {
  const { api, vault, me } = useVault();
  const names = useNames(vault);
  const [state] = useAsync(async (): Promise<Overview> => {
    const [health, nodes, members, albums] = await Promise.all([
      api.health(),
      api.nodes(),
      api.members(),
      api.albums(),
    ]);
    return {
      health,
      nodeName: nodes.me.name,
      members: members.length,
      albums: albums.length,
      photos: albums.reduce((sum, album) => sum + album.photos, 0),
      bytes: storageUsed(albums),
    };
  }, [api]);

  return (
    <section className="card" data-testid="dashboard">
      <h1 data-testid="dashboard-title">{names?.family ?? "Your family vault"}</h1>
      {state.status === "loading" && (
        <p className="muted" role="status">
          Counting…
        </p>
      )}
      {state.status === "failed" && (
        <p className="form-error" role="alert">
          {describeError(state.error)}
        </p>
      )}
      {state.status === "ready" && (
        <dl className="facts">
          <dt>This node</dt>
          <dd data-testid="dashboard-node">{state.value.nodeName}</dd>
          <dt>Your role</dt>
          <dd data-testid="dashboard-role">{me.role === "admin" ? "Admin" : "Member"}</dd>
          <dt>Members</dt>
          <dd data-testid="dashboard-members">{state.value.members}</dd>
          <dt>Albums</dt>
          <dd data-testid="dashboard-albums">
            {state.value.albums} ({state.value.photos} {state.value.photos === 1 ? "photo" : "photos"})
          </dd>
          <dt>Storage used</dt>
          <dd data-testid="dashboard-storage" data-bytes={state.value.bytes}>
            {formatBytes(state.value.bytes)} (encrypted originals and thumbnails)
          </dd>
        </dl>
      )}
      <p>
        <a href="#/albums" className="button primary" data-testid="dashboard-open-albums">
          Open your albums
        </a>
      </p>
      {state.status === "ready" && (
        <details className="disclosure" data-testid="dashboard-details">
          <summary>Technical details</summary>
          <dl className="facts compact">
            <dt>Family id</dt>
            <dd>
              <code data-testid="dashboard-family">{vault.state.family}</code>
            </dd>
            <dt>Node address</dt>
            <dd data-testid="dashboard-node-url">{location.origin}</dd>
            <dt>Node id</dt>
            <dd>
              <code data-testid="dashboard-node-id">{state.value.health.node_id}</code>
            </dd>
            <dt>Version</dt>
            <dd data-testid="dashboard-version">p2pos {state.value.health.version}</dd>
          </dl>
        </details>
      )}
    </section>
  );
}
