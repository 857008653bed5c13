/** Home: the family, this node, your role, the storage your albums use. */
import type { Health } from "../../lib/apiTypes.ts";
import { storageUsed } from "../../lib/vault.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { formatBytes } from "../format.ts";
import { useAsync } from "../useAsync.ts";

interface Overview {
  health: Health;
  members: number;
  albums: number;
  photos: number;
  bytes: number;
}

export function Dashboard() {
  const { api, vault, me } = useVault();
  const [state] = useAsync(async (): Promise<Overview> => {
    const [health, members, albums] = await Promise.all([api.health(), api.members(), api.albums()]);
    return {
      health,
      members: members.length,
      albums: albums.length,
      photos: albums.reduce((sum, album) => sum + album.photos, 0),
      bytes: storageUsed(albums),
    };
  }, [api]);

  return (
    <section className="card" data-testid="dashboard">
      <h1>Your family vault</h1>
      <dl className="facts">
        <dt>Family</dt>
        <dd>
          <code data-testid="dashboard-family">{vault.state.family}</code>
        </dd>
        <dt>This node</dt>
        <dd data-testid="dashboard-node">
          {location.origin}
          {state.status === "ready" && (
            <>
              {` · p2pos ${state.value.health.version} · `}
              <code data-testid="dashboard-node-id">{state.value.health.node_id}</code>
            </>
          )}
        </dd>
        <dt>Your role</dt>
        <dd data-testid="dashboard-role">{me.role === "admin" ? "Admin" : "Member"}</dd>
        {state.status === "ready" && (
          <>
            <dt>Members</dt>
            <dd data-testid="dashboard-members">{state.value.members}</dd>
            <dt>Albums shared with you</dt>
            <dd data-testid="dashboard-albums">
              {state.value.albums} ({state.value.photos} photos)
            </dd>
            <dt>Storage used</dt>
            <dd data-testid="dashboard-storage" data-bytes={state.value.bytes}>
              {formatBytes(state.value.bytes)} (encrypted originals and thumbnails)
            </dd>
          </>
        )}
      </dl>
      {state.status === "loading" && <p className="muted">Counting…</p>}
      {state.status === "failed" && (
        <p className="form-error" role="alert">
          {describeError(state.error)}
        </p>
      )}
      <p>
        <a href="#/albums" data-testid="dashboard-open-albums">
          Open your albums →
        </a>
      </p>
    </section>
  );
}
