/**
 * Nodes: this node and the family's other nodes, each with a status dot (refreshed every 2 s while
 * the page is visible). Admins enroll another node (a one-time token, as text and QR code), add
 * this node to another with its token, and remove peers. Members see the list only.
 */
import { useState } from "react";
import type { EnrollToken, Nodes, PeerInfo, ReplicationStatus } from "../../lib/apiTypes.ts";
import { CopyButton } from "../../components/CopyButton.tsx";
import { QrCode } from "../../components/QrCode.tsx";
import { QrScanner } from "../../components/QrScanner.tsx";
import { ReadableId } from "../../components/ReadableId.tsx";
import { familyLinkThroughHub, vaultLinkThroughHub } from "../../lib/hubClient.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";
import { REFRESH_MS } from "../Placements.tsx";
import { backlogWords, formatAgo, pathWords, peerHealth, peerViews, type PeerView } from "../replicationView.ts";
import { usePolling } from "../usePolling.ts";

interface Overview {
  nodes: Nodes;
  status: ReplicationStatus;
}

export function NodesPage() {
  const { api, isAdmin } = useVault();
  const overview = usePolling(
    async (): Promise<Overview> => {
      const [nodes, status] = await Promise.all([api.nodes(), api.replicationStatus({ photos: false })]);
      return { nodes, status };
    },
    REFRESH_MS,
    [api],
  );
  const value = overview.value;
  const peers = value ? peerViews(value.nodes, value.status) : [];
  const remoteLink = value?.nodes.hub ? vaultLinkThroughHub(value.nodes.hub, value.nodes.me.node) : undefined;
  const familyLink =
    value?.nodes.hub && value.nodes.peers.length > 0
      ? familyLinkThroughHub(value.nodes.hub, [value.nodes.me.node, ...value.nodes.peers.map((peer) => peer.node)])
      : undefined;

  return (
    <section className="card wide" data-testid="nodes-page">
      <h1>Nodes</h1>
      <p className="muted">
        The machines that keep your family&apos;s photos. Each holds the encrypted photos and copies new ones from the
        others, so the vault survives one of them being off or lost.
      </p>
      {overview.error !== undefined && (
        <p className="form-error" role="alert" data-testid="nodes-error">
          {value ? "Could not refresh: " : ""}
          {describeError(overview.error)}
        </p>
      )}
      {!value && overview.error === undefined && <p className="muted">Loading the nodes…</p>}
      {value && (
        <>
          <h2 className="label">This node</h2>
          <div className="this-node" data-testid="this-node">
            <p className="node-name" data-testid="this-node-name">
              {value.nodes.me.name}
            </p>
            {remoteLink && (
              <p data-testid="this-node-remote">
                Away from home, open your vault through the hub: <a href={remoteLink}>{remoteLink}</a>{" "}
                <span className="muted">
                  (an encrypted WebRTC channel to this node, when its address is out of reach)
                </span>
              </p>
            )}
            {familyLink && (
              <p data-testid="family-link">
                One bookmark for the whole family: <a href={familyLink}>{familyLink}</a>{" "}
                <span className="muted">
                  (opens the vault through whichever of your nodes answers first, and moves to another when that one
                  goes away; it changes when you add a node)
                </span>
              </p>
            )}
            <details className="disclosure">
              <summary>Technical details</summary>
              <dl className="facts compact">
                <dt>Node id</dt>
                <dd data-testid="this-node-id" data-id={value.nodes.me.node}>
                  <ReadableId id={value.nodes.me.node} />
                </dd>
                <dt>Address</dt>
                <dd data-testid="this-node-url">
                  {value.nodes.me.base_url ?? location.origin}
                  {!value.nodes.me.base_url && <span className="muted"> (other nodes reach it over WebRTC only)</span>}
                </dd>
                <dt>Hub</dt>
                <dd data-testid="this-node-hub">{value.nodes.hub ?? "none: this node cannot enroll other nodes"}</dd>
              </dl>
            </details>
          </div>

          <h2 className="label">Other nodes</h2>
          {peers.length === 0 ? (
            <p className="muted" data-testid="peers-empty">
              No other nodes yet. With a second node, your photos survive this one being lost.
              {isAdmin ? " Enroll one below." : " An admin can enroll one."}
            </p>
          ) : (
            <ul className="peers" data-testid="peers">
              {peers.map((peer) => (
                <PeerRow
                  key={peer.info.node}
                  peer={peer}
                  here={value.nodes.me.name}
                  canRemove={isAdmin}
                  onRemoved={overview.refresh}
                />
              ))}
            </ul>
          )}
          {isAdmin ? (
            <div className="node-actions">
              <EnrollNode hasHub={Boolean(value.nodes.hub)} peers={value.nodes.peers} />
              <AddNode onAdded={overview.refresh} />
            </div>
          ) : (
            <p className="muted" data-testid="nodes-read-only">
              Only the family&apos;s admins enroll or remove nodes.
            </p>
          )}
        </>
      )}
    </section>
  );
}

interface PeerRowProps {
  peer: PeerView;
  /** This node's name. */
  here: string;
  canRemove: boolean;
  onRemoved: () => void;
}

function PeerRow({ peer, here, canRemove, onRemoved }: PeerRowProps) {
  const { info, summary } = peer;
  const health = peerHealth(summary);
  return (
    <li
      className={`peer peer-${health.colour}`}
      data-testid="peer-row"
      data-node-id={info.node}
      data-node-name={info.name}
      data-health={health.colour}
      data-online={summary.online ? "true" : "false"}
      data-path={summary.path ?? ""}
    >
      <div className="peer-head">
        <span
          className={`dot dot-${health.colour}`}
          role="img"
          aria-label={`${health.colour}: ${health.label}`}
          title={health.label}
          data-testid="peer-dot"
        />
        <strong className="peer-name">{info.name}</strong>
        <span className="peer-label" data-testid="peer-label">
          {health.label}
        </span>
      </div>
      <p className={health.colour === "red" ? "peer-detail problem" : "peer-detail"} data-testid="peer-detail">
        {health.detail}
      </p>
      <dl className="facts compact">
        <dt>Path</dt>
        <dd data-testid="peer-path">{pathWords(summary.path)}</dd>
        <dt>Last sync</dt>
        <dd data-testid="peer-last-sync">{formatAgo(summary.last_sync_ms_ago)}</dd>
        <dt>Backlog</dt>
        <dd data-testid="peer-backlog">{backlogWords(summary.backlog, summary.blobs_missing_there)}</dd>
        {summary.last_error && (
          <>
            <dt>Last error</dt>
            <dd className="peer-error" data-testid="peer-last-error">
              {summary.last_error}
            </dd>
          </>
        )}
        <dt>Enrolled on</dt>
        <dd>{new Date(info.added_ms).toLocaleString()}</dd>
      </dl>
      <details className="disclosure">
        <summary>Technical details</summary>
        <dl className="facts compact">
          <dt>Address</dt>
          <dd>{info.base_url ?? "WebRTC only"}</dd>
          <dt>Node id</dt>
          <dd>
            <code className="member-id">{info.node}</code>
          </dd>
        </dl>
      </details>
      {canRemove && <RemovePeer node={info.node} name={info.name} here={here} onRemoved={onRemoved} />}
    </li>
  );
}

function RemovePeer({
  node,
  name,
  here,
  onRemoved,
}: {
  node: string;
  name: string;
  here: string;
  onRemoved: () => void;
}) {
  const { api } = useVault();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.removePeer(node);
      onRemoved();
    } catch (caught) {
      setError(describeError(caught, "peer"));
      setBusy(false);
    }
  };

  if (!confirming) {
    return (
      <button
        type="button"
        className="small danger quiet"
        data-testid="peer-remove"
        onClick={() => setConfirming(true)}
      >
        Remove
      </button>
    );
  }
  return (
    <div className="danger-zone confirm" role="group" aria-label={`Remove ${name}`} data-testid="peer-remove-confirm">
      <p>
        <strong>Remove {name}?</strong> {here} stops copying photos to and from {name} and refuses its requests. Photos
        already on {name} stay there. Remove {here} on {name} too (its Nodes page, or <code>p2pos peer remove</code>).
        To replicate again later, enroll it with a new token.
      </p>
      <div className="buttons">
        <button
          type="button"
          className="danger"
          data-testid="peer-remove-yes"
          disabled={busy}
          onClick={() => void remove()}
        >
          {busy ? "Removing…" : `Remove ${name}`}
        </button>
        <button type="button" data-testid="peer-remove-no" disabled={busy} onClick={() => setConfirming(false)}>
          Cancel
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="peer-remove-error">
          {error}
        </p>
      )}
    </div>
  );
}

interface IssuedToken extends EnrollToken {
  /** When it was issued, by this browser's clock (for "valid for 15 minutes"). */
  issued_ms: number;
  /** The peers enrolled before: a new one has used the token. */
  before: string[];
}

function EnrollNode({ hasHub, peers }: { hasHub: boolean; peers: readonly PeerInfo[] }) {
  const { api } = useVault();
  const [issued, setIssued] = useState<IssuedToken>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const issue = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const token = await api.enroll();
      setIssued({ ...token, issued_ms: Date.now(), before: peers.map((p) => p.node) });
    } catch (caught) {
      setError(describeError(caught, "enroll"));
    } finally {
      setBusy(false);
    }
  };

  const minutes = issued ? Math.max(1, Math.round((issued.expires_ms - issued.issued_ms) / 60_000)) : 0;
  const joined = issued ? peers.filter((p) => !issued.before.includes(p.node)) : [];
  return (
    <div className="enrol" data-testid="enrol-node">
      <h2>Enroll another node</h2>
      <p className="muted">
        A one-time token lets another node join this family: the two nodes find each other through the hub, check the
        token, and from then on copy each other&apos;s encrypted photos.
      </p>
      {!hasHub && (
        <p className="muted" data-testid="enrol-no-hub">
          This node has no hub (start it with <code>--hub</code>), so it cannot enroll other nodes.
        </p>
      )}
      <button
        type="button"
        className="primary"
        data-testid="enrol-start"
        disabled={busy || !hasHub}
        onClick={() => void issue()}
      >
        {busy ? "Making a token…" : issued ? "Make a new token" : "Make a one-time token"}
      </button>
      {error && (
        <p className="form-error" role="alert" data-testid="enrol-error">
          {error}
        </p>
      )}
      {joined.length > 0 && (
        <p className="enrol-token" role="status" data-testid="enrol-joined">
          {joined.map((p) => p.name).join(" and ")} joined with the token, which is used up now. Copying starts within
          seconds: watch {joined.length === 1 ? "its" : "their"} status above.
        </p>
      )}
      {issued && joined.length === 0 && (
        <div className="enrol-token" data-testid="enrol-result" data-expires-ms={issued.expires_ms}>
          <div className="identity-grid">
            <div>
              <h3>The token</h3>
              <div className="with-action">
                <code className="token" data-testid="enrol-token">
                  {issued.token}
                </code>
                <CopyButton text={issued.token} label="Copy the enrollment token" testId="enrol-copy" />
              </div>
              <p data-testid="enrol-expiry">
                Works once, until {new Date(issued.expires_ms).toLocaleTimeString()} ({minutes} minutes).
              </p>
              <p>
                On the other node, run <code>p2pos peer add &lt;token&gt;</code>, or paste the token (or scan the QR
                code) on its Nodes page under &ldquo;Add a node with a token&rdquo;. This node must stay running until
                then.
              </p>
            </div>
            <figure className="qr-figure">
              <QrCode text={issued.token} label="QR code of the enrollment token" testId="enrol-qr" size={256} />
              <figcaption className="muted">Scan it on the other node&apos;s Nodes page.</figcaption>
            </figure>
          </div>
        </div>
      )}
    </div>
  );
}

function AddNode({ onAdded }: { onAdded: () => void }) {
  const { api } = useVault();
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [added, setAdded] = useState<string>();

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    setAdded(undefined);
    try {
      const peer = await api.addPeer(token.trim());
      setAdded(peer.name);
      setToken("");
      onAdded();
    } catch (caught) {
      setError(describeError(caught, "peer"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="add-member"
      data-testid="add-node"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <h2>Add a node with a token</h2>
      <p className="muted">
        Made on another node of your family (its Nodes page, or <code>p2pos enroll</code>). This node then joins that
        node&apos;s family and copies its photos.
      </p>
      <QrScanner
        onText={(text) => {
          setToken(text.trim());
          setError(undefined);
        }}
      />
      <label htmlFor="add-node-token">Token</label>
      <textarea
        id="add-node-token"
        data-testid="add-node-token"
        value={token}
        rows={3}
        spellCheck={false}
        autoComplete="off"
        placeholder="P2POS-ENROLL-…"
        onChange={(event) => setToken(event.target.value)}
      />
      <button type="submit" className="primary" data-testid="add-node-submit" disabled={busy || token.trim() === ""}>
        {busy ? "Contacting the other node…" : "Add node"}
      </button>
      {busy && (
        <p className="muted" role="status">
          Reaching it through the hub; this takes up to 30 seconds.
        </p>
      )}
      {added && (
        <p role="status" data-testid="add-node-done">
          Enrolled with {added}. Copying starts within seconds.
        </p>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="add-node-error">
          {error}
        </p>
      )}
    </form>
  );
}
