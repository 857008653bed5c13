//! `GET /v1/replication/status`: this node's peers (online, path, backlog, last error) and, per
//! photo the caller can open, which nodes hold it. Read from one snapshot of the replicator.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::{PathKind, TransportErrorKind};
use p2pos_replication::{LocalErrorKind, LocalState, SyncError, SyncErrorKind};
use serde::Serialize;

use crate::clock::lock;
use crate::error::{ApiError, ApiQuery};
use crate::session::Session;
use crate::state::AppState;
use crate::store;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicationStatus {
    /// This node.
    node: NodeSummary,
    peers: Vec<PeerSummary>,
    /// Per photo (of the albums the caller can open): where its blobs are.
    photos: Vec<PhotoPlacement>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct NodeSummary {
    #[schema(value_type = String)]
    node: NodeId,
    name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PeerSummary {
    #[schema(value_type = String)]
    node: NodeId,
    name: String,
    base_url: Option<String>,
    /// Whether the last sync with it succeeded.
    online: bool,
    /// How it was reached: http, host, srflx, prflx or relay (none when not connected).
    #[schema(value_type = Option<String>)]
    path: Option<PathKind>,
    /// Milliseconds since the last successful sync.
    last_sync_ms_ago: Option<u64>,
    /// Records it has that this node has not read yet.
    backlog: u64,
    /// Blobs this node holds or wants that the peer does not hold (yet).
    blobs_missing_there: usize,
    /// Why the last sync failed, for people (the text may change between versions).
    last_error: Option<String>,
    /// What kind of failure that was: the value to switch on.
    last_error_kind: Option<ReplicationErrorKind>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PhotoPlacement {
    pub(crate) photo: String,
    pub(crate) album: String,
    pub(crate) nodes: Vec<Placement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub(crate) struct Placement {
    #[schema(value_type = String)]
    pub(crate) node: NodeId,
    pub(crate) name: String,
    /// ok, pending, fetching or failed (this node knows failures of its own fetches only).
    pub(crate) state: &'static str,
    /// The last error of this node's fetch, when it failed.
    pub(crate) error: Option<String>,
    /// What kind of failure that was.
    pub(crate) error_kind: Option<ReplicationErrorKind>,
    /// Milliseconds since this node last tried to fetch the photo's blobs (pending or failed).
    pub(crate) last_attempt_ms_ago: Option<u64>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatusQuery {
    /// Only the photos of this album (pages that show one album poll with it).
    album: Option<String>,
    /// `false`: peers only, no photos (the Nodes page). Default true.
    photos: Option<bool>,
}

/// Where the family's photos are, and how this node's peers are doing.
#[utoipa::path(get, path = "/v1/replication/status", operation_id = "replication_status", tag = "nodes",
    params(StatusQuery),
    responses((status = 200, body = ReplicationStatus), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> Result<Json<ReplicationStatus>, ApiError> {
    session.require_member(&state)?;
    let snapshot = replicator_snapshot(&state).await;
    let me = this_node(&state);
    let infos = state.inner.replication.peers();
    let peer_status: HashMap<NodeId, &p2pos_replication::PeerStatus> =
        snapshot.as_ref().map(|s| s.peers.iter().map(|p| (p.peer, p)).collect()).unwrap_or_default();
    let peers = infos
        .iter()
        .map(|info| {
            let s = peer_status.get(&info.node);
            PeerSummary {
                node: info.node,
                name: info.name.clone(),
                base_url: info.base_url.clone(),
                online: s.is_some_and(|s| s.online),
                path: s.and_then(|s| s.path),
                last_sync_ms_ago: snapshot
                    .as_ref()
                    .and_then(|snap| p2pos_replication::age(snap, s.and_then(|s| s.last_sync)))
                    .map(|d| d.as_millis() as u64),
                backlog: s.map_or(0, |s| s.backlog),
                blobs_missing_there: s.map_or(0, |s| s.blobs_missing_there),
                last_error: s.and_then(|s| s.last_error.as_ref()).map(error_text),
                last_error_kind: s.and_then(|s| s.last_error.as_ref()).map(error_kind),
            }
        })
        .collect();
    let wants_photos = query.photos.unwrap_or(true);
    let held = state.db(move |db| if wants_photos { store::blobs::held(db) } else { Ok(Default::default()) }).await?;
    let source = PlacementSource { me, infos, snapshot, held };
    let photos = {
        let vault = state.vault();
        let mut photos = Vec::new();
        for (album_id, _) in vault.albums() {
            if !wants_photos || query.album.as_ref().is_some_and(|a| *a != album_id.to_string()) {
                continue;
            }
            if !vault.can_open_album(&session.identity, album_id) {
                continue;
            }
            for (photo_id, photo) in vault.photos_in(album_id) {
                photos.push(PhotoPlacement {
                    photo: photo_id.to_string(),
                    album: album_id.to_string(),
                    nodes: source.of(photo),
                });
            }
        }
        photos
    };
    let PlacementSource { me, .. } = source;
    Ok(Json(ReplicationStatus { node: me, peers, photos }))
}

/// The replicator's view (peers' holdings, this node's fetches), if replication runs.
pub(crate) async fn replicator_snapshot(state: &AppState) -> Option<p2pos_replication::Snapshot> {
    let request = {
        let r = lock(&state.inner.replication.replicator);
        r.as_ref().map(|r| r.status_request())
    };
    match request {
        Some(request) => request.await,
        None => None,
    }
}

pub(crate) fn this_node(state: &AppState) -> NodeSummary {
    NodeSummary { node: state.node_id(), name: state.inner.config.replication.name.clone() }
}

/// What tells where a photo's blobs are: this node's blob table (all of it, or the blobs asked
/// about), the replicator's snapshot and the enrolled peers. Built once per request.
pub(crate) struct PlacementSource {
    pub(crate) me: NodeSummary,
    pub(crate) infos: Vec<crate::replication::PeerInfo>,
    pub(crate) snapshot: Option<p2pos_replication::Snapshot>,
    /// The blobs this node holds, of those that will be asked about.
    pub(crate) held: HashSet<[u8; 32]>,
}

impl PlacementSource {
    /// For the photos whose blobs are `blobs` (`None`: every blob this node holds).
    pub(crate) async fn load(state: &AppState, blobs: Option<Vec<BlobId>>) -> Result<Self, ApiError> {
        let snapshot = replicator_snapshot(state).await;
        let held = state
            .db(move |db| match blobs {
                Some(blobs) => store::blobs::held_among(db, &blobs),
                None => store::blobs::held(db),
            })
            .await?;
        Ok(Self { me: this_node(state), infos: state.inner.replication.peers(), snapshot, held })
    }

    /// Where a photo is: this node first, then each enrolled peer.
    pub(crate) fn of(&self, photo: &family_vault::vault::Photo) -> Vec<Placement> {
        let snapshot = self.snapshot.as_ref();
        let blobs: Vec<BlobId> = std::iter::once(photo.blob).chain(photo.thumb).collect();
        let here_state = |blob: &BlobId| -> (&'static str, Option<&SyncError>, Option<u64>) {
            if self.held.contains(blob.as_bytes()) {
                return ("ok", None, None);
            }
            let status = snapshot.and_then(|s| s.blobs.get(blob).map(|b| (s, b)));
            let attempt =
                status.and_then(|(snap, b)| p2pos_replication::age(snap, b.last_attempt)).map(|d| d.as_millis() as u64);
            match status.map(|(_, b)| &b.local) {
                Some(LocalState::Failed { error, .. }) => ("failed", Some(error), attempt),
                Some(LocalState::Fetching { .. }) => ("fetching", None, attempt),
                _ => ("pending", None, attempt),
            }
        };
        let here = blobs.iter().map(here_state).find(|s| s.0 != "ok").unwrap_or(("ok", None, None));
        let mut nodes = vec![Placement {
            node: self.me.node,
            name: self.me.name.clone(),
            state: here.0,
            error: here.1.map(error_text),
            error_kind: here.1.map(error_kind),
            last_attempt_ms_ago: here.2,
        }];
        for info in &self.infos {
            let holds = |blob: &BlobId| {
                snapshot.and_then(|s| s.blobs.get(blob)).is_some_and(|b| b.held_by.contains(&info.node))
            };
            let all = blobs.iter().all(holds);
            nodes.push(Placement {
                node: info.node,
                name: info.name.clone(),
                state: if all { "ok" } else { "pending" },
                error: None,
                error_kind: None,
                last_attempt_ms_ago: None,
            });
        }
        nodes
    }
}

/// What kind of failure a replication error is: what the web app switches on (the error's text,
/// beside it, is for people and may change). New kinds may be added; a client shows an unknown
/// one as `other` would be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReplicationErrorKind {
    /// The peer is not on the hub or refuses connections: switched off or offline.
    PeerOffline,
    /// Setting up a connection failed on this side (hub, WebRTC stack, HTTP client).
    Unreachable,
    /// The peer is there, but no route between the two nodes works.
    NoPath,
    /// Only the relay (TURN) could connect the two nodes, and it gave no relay address.
    RelayUnavailable,
    /// The relay that carried the connection stopped relaying.
    RelayLost,
    /// The peer answered with an error.
    Refused,
    /// The peer broke the protocol.
    Protocol,
    /// The connection broke during the exchange.
    Broken,
    /// A transfer made no progress for the stall timeout.
    Stalled,
    /// No answer within the timeout.
    TimedOut,
    /// This node's own storage failed.
    Storage,
    /// This node refused the bytes it was sent (they do not match the blob's id, or exceed a limit).
    Rejected,
    /// A failure this version has no name for.
    Other,
}

/// An error's text for people: its own words, then its causes' ("unreachable: could not connect
/// over HTTP: … Connection refused").
fn error_text(error: &SyncError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let words = c.to_string();
        if !text.ends_with(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = c.source();
    }
    text
}

fn error_kind(error: &SyncError) -> ReplicationErrorKind {
    use ReplicationErrorKind as R;
    use TransportErrorKind as T;
    match error.kind() {
        SyncErrorKind::Transport(kind) => match kind {
            T::PeerOffline => R::PeerOffline,
            T::Unreachable => R::Unreachable,
            T::NoPath => R::NoPath,
            T::RelayUnavailable => R::RelayUnavailable,
            T::RelayLost => R::RelayLost,
            T::Refused => R::Refused,
            T::Protocol => R::Protocol,
            T::Broken => R::Broken,
            T::Stalled => R::Stalled,
            T::TimedOut => R::TimedOut,
            _ => R::Other,
        },
        SyncErrorKind::Local(LocalErrorKind::Storage) => R::Storage,
        SyncErrorKind::Local(LocalErrorKind::Refused) => R::Rejected,
        SyncErrorKind::Local(LocalErrorKind::Transfer) => R::Broken,
        _ => R::Other,
    }
}
