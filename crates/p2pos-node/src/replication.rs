//! Replication wiring (DESIGN.md §5, §7): the enrolled peers, what this node answers them
//! ([`NodeService`], over HTTP at `/v1/peer/*` and over WebRTC), how it reaches them
//! ([`NodeConnector`]: WebRTC through the hub when it can, HTTP to the peer's base URL when it
//! cannot), the store side of replication ([`NodeLocal`]), and `GET /v1/replication/status`.
//!
//! The rules live in `p2pos-replication` (planner) and `p2pos-net` (signatures, replay guard);
//! this module only connects them to the node's database, blob store and vault.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::auth::{AuthError, ReplayGuard, SignedRequest};
use p2pos_net::http::{BLOB_SIZE_HEADER, HttpTransport};
use p2pos_net::wire::MAX_PAGE;
use p2pos_net::{
    BlobBody, BlobEntry, LogEntry, PathKind, PeerRequest, PeerResponse, PeerService, PeerTransport, ServiceError,
    TransportError,
};
use p2pos_replication::{Connector, Cursors, Local, LocalState, PlannerConfig, Replicator};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::auth::Session;
use crate::records::now_ms;
use crate::{ApiError, AppState};

/// How this node replicates. Defaults are documented on `p2pos node --help`.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// This node's name, shown to the family (e.g. "Oak"). Default: the host name.
    pub name: String,
    /// The hub (`ws://…` or `wss://…`): WebRTC signaling and enrolment. Default none.
    pub hub: Option<String>,
    /// This node's base URL as its peers can reach it (the HTTP fallback). Default none.
    pub public_url: Option<String>,
    /// Use WebRTC data channels (needs `hub`). Default true.
    pub webrtc: bool,
    /// Use HTTP to peers' base URLs. Default true.
    pub http: bool,
    /// How long to try WebRTC before falling back to HTTP. Default 10 s.
    pub webrtc_timeout: Duration,
    /// Local UDP addresses for WebRTC host candidates. Default `0.0.0.0:0` (every non-loopback
    /// IPv4 interface); `127.0.0.1:0` for a family on one machine.
    pub rtc_bind: Vec<std::net::SocketAddr>,
    /// The planner's timing (`P2POS_REP_FAILED_RETRY_AFTER_SECS` sets `failed_retry_after`).
    pub planner: PlannerConfig,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            name: default_name(),
            hub: None,
            public_url: None,
            webrtc: true,
            http: true,
            webrtc_timeout: Duration::from_secs(10),
            rtc_bind: vec![std::net::SocketAddr::from(([0, 0, 0, 0], 0))],
            planner: PlannerConfig::default(),
        }
    }
}

fn default_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// An enrolled peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeerInfo {
    #[schema(value_type = String)]
    pub node: NodeId,
    pub name: String,
    pub base_url: Option<String>,
    pub added_ms: u64,
}

/// The node's replication state: peers, the replay guard, the running replicator.
pub(crate) struct Replication {
    peers: RwLock<HashMap<NodeId, PeerInfo>>,
    pub(crate) guard: Arc<Mutex<ReplayGuard>>,
    replicator: Mutex<Option<Replicator>>,
    http: Mutex<HashMap<NodeId, Arc<HttpTransport>>>,
    rtc: RwLock<Option<Arc<dyn RtcConnect>>>,
    /// When WebRTC to a peer last failed: while recent, HTTP (if possible) is used directly.
    rtc_failed: Mutex<HashMap<NodeId, std::time::Instant>>,
}

/// After a failed WebRTC attempt, how long a peer with an HTTP URL is reached by HTTP alone before
/// WebRTC is tried again.
const RTC_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The WebRTC side, as the connector needs it (implemented in `hub.rs`).
#[async_trait]
pub(crate) trait RtcConnect: Send + Sync {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError>;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replication {
    pub(crate) fn load(db: &Connection, me: NodeId, _config: &ReplicationConfig) -> Result<Self, rusqlite::Error> {
        let peers = load_peers(db)?.into_iter().map(|p| (p.node, p)).collect();
        Ok(Self {
            peers: RwLock::new(peers),
            guard: Arc::new(Mutex::new(ReplayGuard::new(me))),
            replicator: Mutex::new(None),
            http: Mutex::new(HashMap::new()),
            rtc: RwLock::new(None),
            rtc_failed: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn peer(&self, node: &NodeId) -> Option<PeerInfo> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).get(node).cloned()
    }

    pub(crate) fn is_peer(&self, node: &NodeId) -> bool {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).contains_key(node)
    }

    pub(crate) fn peers(&self) -> Vec<PeerInfo> {
        let mut all: Vec<_> = self.peers.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.added_ms.cmp(&b.added_ms)));
        all
    }

    pub(crate) fn set_rtc(&self, rtc: Arc<dyn RtcConnect>) {
        *self.rtc.write().unwrap_or_else(|p| p.into_inner()) = Some(rtc);
    }

    fn rtc(&self) -> Option<Arc<dyn RtcConnect>> {
        self.rtc.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Tell the replicator that something changed here (a record or blob arrived).
    pub(crate) fn changed(&self) {
        if let Some(r) = lock(&self.replicator).as_ref() {
            r.changed();
        }
    }

    pub(crate) fn have(&self, blob: BlobId) {
        if let Some(r) = lock(&self.replicator).as_ref() {
            r.have(blob);
        }
    }
}

pub(crate) fn load_peers(db: &Connection) -> rusqlite::Result<Vec<PeerInfo>> {
    let mut stmt = db.prepare("SELECT node_id, name, base_url, added_ms FROM peers")?;
    let rows = stmt.query_map([], |r| {
        let id: String = r.get(0)?;
        Ok((id, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut peers = Vec::new();
    for row in rows {
        let (id, name, base_url, added_ms) = row?;
        match id.parse() {
            Ok(node) => peers.push(PeerInfo { node, name, base_url, added_ms: added_ms as u64 }),
            Err(e) => tracing::warn!(id, error = %e, "skipping a peer with an unreadable id"),
        }
    }
    Ok(peers)
}

fn load_cursors(db: &Connection, node: &NodeId) -> rusqlite::Result<(Cursors, Vec<BlobId>)> {
    let id = node.to_string();
    let cursors = db
        .query_row("SELECT records_cursor, blobs_cursor FROM peers WHERE node_id = ?1", [&id], |r| {
            Ok(Cursors { records: r.get::<_, i64>(0)? as u64, blobs: r.get::<_, i64>(1)? as u64 })
        })
        .optional()?
        .unwrap_or_default();
    let mut stmt = db.prepare("SELECT id FROM peer_blobs WHERE node_id = ?1")?;
    let holds = stmt
        .query_map([&id], |r| r.get::<_, Vec<u8>>(0))?
        .filter_map(|b| b.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).map(BlobId::from_bytes))
        .collect();
    Ok((cursors, holds))
}

impl AppState {
    /// This node as its peers see it.
    pub(crate) fn me(&self) -> PeerInfo {
        let config = &self.inner.config.replication;
        PeerInfo { node: self.node_id(), name: config.name.clone(), base_url: config.public_url.clone(), added_ms: 0 }
    }

    /// Pick up peers pinned by another process (`p2pos peer add` on this data dir) or removed.
    pub(crate) async fn reload_peers(&self) -> Result<(), ApiError> {
        let on_disk = self.db(|db| load_peers(db)).await?;
        let known = self.inner.replication.peers();
        for peer in &on_disk {
            if !known.iter().any(|k| k == peer) {
                let rep = &self.inner.replication;
                rep.peers.write().unwrap_or_else(|p| p.into_inner()).insert(peer.node, peer.clone());
                lock(&rep.http).remove(&peer.node);
                tracing::info!(peer = %peer.node.short(), name = %peer.name, "replicating with a new peer");
                // A node with an enrolled peer joins that peer's family: nobody can claim it.
                self.forget_setup_code();
                self.start_peer(peer.node).await?;
            }
        }
        for gone in known.iter().filter(|k| !on_disk.iter().any(|p| p.node == k.node)) {
            self.remove_peer(gone.node).await?;
        }
        Ok(())
    }

    /// Pin `peer` (enrolment) and start replicating with it. Re-enrolling updates name and URL.
    pub(crate) async fn add_peer(&self, peer: PeerInfo) -> Result<(), ApiError> {
        let row = peer.clone();
        self.db(move |db| {
            db.execute(
                "INSERT INTO peers (node_id, name, base_url, added_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, base_url = excluded.base_url",
                params![row.node.to_string(), row.name, row.base_url, row.added_ms as i64],
            )
        })
        .await?;
        let rep = &self.inner.replication;
        rep.peers.write().unwrap_or_else(|p| p.into_inner()).insert(peer.node, peer.clone());
        lock(&rep.http).remove(&peer.node);
        self.forget_setup_code();
        self.start_peer(peer.node).await
    }

    /// Forget `peer`: no more replication with it, and its requests are refused.
    pub(crate) async fn remove_peer(&self, peer: NodeId) -> Result<bool, ApiError> {
        let removed = self.db(move |db| db.execute("DELETE FROM peers WHERE node_id = ?1", [peer.to_string()])).await?;
        let rep = &self.inner.replication;
        rep.peers.write().unwrap_or_else(|p| p.into_inner()).remove(&peer);
        lock(&rep.http).remove(&peer);
        if let Some(r) = lock(&rep.replicator).as_ref() {
            r.remove_peer(peer);
        }
        Ok(removed > 0)
    }

    async fn start_peer(&self, peer: NodeId) -> Result<(), ApiError> {
        let (cursors, holds) = self.db(move |db| load_cursors(db, &peer)).await?;
        if let Some(r) = lock(&self.inner.replication.replicator).as_ref() {
            r.add_peer(peer, cursors, holds);
        }
        Ok(())
    }

    /// Start the replicator (once): every enrolled peer, synced from its saved cursors.
    pub(crate) async fn start_replication(&self) -> Result<(), ApiError> {
        {
            let mut slot = lock(&self.inner.replication.replicator);
            if slot.is_some() {
                return Ok(());
            }
            let local = Arc::new(NodeLocal { state: self.clone() });
            let connector = Arc::new(NodeConnector { state: self.clone() });
            *slot = Some(Replicator::spawn(self.inner.config.replication.planner.clone(), local, connector));
        }
        for peer in self.inner.replication.peers() {
            self.start_peer(peer.node).await?;
        }
        Ok(())
    }

    pub(crate) async fn stop_replication(&self) {
        let replicator = lock(&self.inner.replication.replicator).take();
        if let Some(r) = replicator {
            r.shutdown().await;
        }
    }

    /// After a blob was stored here (upload or replication).
    pub(crate) fn blob_stored(&self, id: BlobId) {
        self.inner.replication.have(id);
    }

    /// After a record was accepted here.
    pub(crate) fn records_changed(&self) {
        self.inner.replication.changed();
    }
}

// ---------------------------------------------------------------------------------------------
// What this node answers its peers.

/// Answers enrolled peers: hello, the record log, the blob log, blob bytes.
#[derive(Clone)]
pub(crate) struct NodeService {
    pub(crate) state: AppState,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    tracing::error!(error = %e, "answering a peer failed");
    ServiceError::new("internal", "internal error")
}

impl NodeService {
    fn require_peer(&self, from: &NodeId) -> Result<(), ServiceError> {
        if self.state.inner.replication.is_peer(from) {
            Ok(())
        } else {
            Err(ServiceError::new("not_enrolled", format!("node {from} is not enrolled here")))
        }
    }
}

#[async_trait]
impl PeerService for NodeService {
    async fn call(&self, from: NodeId, request: PeerRequest) -> Result<PeerResponse, ServiceError> {
        self.require_peer(&from)?;
        match request {
            PeerRequest::Hello => {
                let family = self.state.vault().family().map(|f| f.to_string());
                let (records_head, blobs_head) = self
                    .state
                    .db(|db| {
                        let r: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| r.get(0))?;
                        let b: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM blob_log", [], |r| r.get(0))?;
                        Ok((r as u64, b as u64))
                    })
                    .await
                    .map_err(internal)?;
                Ok(PeerResponse::Hello { node: self.state.node_id(), family, records_head, blobs_head })
            }
            PeerRequest::Records { since, limit } => {
                let limit = limit.clamp(1, MAX_PAGE) as i64;
                let (rows, head) = self
                    .state
                    .db(move |db| {
                        let rows = crate::records::since(db, since as i64, limit)?;
                        let head: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| r.get(0))?;
                        Ok((rows, head as u64))
                    })
                    .await
                    .map_err(internal)?;
                let records =
                    rows.iter().filter_map(|(seq, record)| LogEntry::from_record(*seq as u64, record)).collect();
                Ok(PeerResponse::Records { records, head })
            }
            PeerRequest::Blobs { since, limit } => {
                let limit = limit.clamp(1, MAX_PAGE) as i64;
                let (blobs, head) = self
                    .state
                    .db(move |db| {
                        let mut stmt = db.prepare_cached(
                            "SELECT l.seq, l.id, b.size FROM blob_log l JOIN blobs b ON b.id = l.id
                             WHERE l.seq > ?1 ORDER BY l.seq LIMIT ?2",
                        )?;
                        let rows = stmt
                            .query_map(params![since as i64, limit], |r| {
                                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?))
                            })?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        let head: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM blob_log", [], |r| r.get(0))?;
                        Ok((rows, head as u64))
                    })
                    .await
                    .map_err(internal)?;
                let blobs = blobs
                    .into_iter()
                    .filter_map(|(seq, id, size)| {
                        let id = BlobId::from_bytes(<[u8; 32]>::try_from(id).ok()?);
                        Some(BlobEntry { seq: seq as u64, id, size: size as u64 })
                    })
                    .collect();
                Ok(PeerResponse::Blobs { blobs, head })
            }
            PeerRequest::GetBlob { .. } => {
                Err(ServiceError::new("bad_request", "get_blob is answered with bytes: use the blob endpoint"))
            }
        }
    }

    async fn get_blob(&self, from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError> {
        self.require_peer(&from)?;
        let read = match self.state.inner.blobs.get(&id, Some((offset, None))).await {
            Ok(read) => read,
            Err(p2pos_storage::BlobError::NotFound(_)) => {
                return Err(ServiceError::new("not_found", format!("no blob {id} here")));
            }
            Err(p2pos_storage::BlobError::RangeNotSatisfiable { .. }) => {
                return Err(ServiceError::new("bad_request", format!("offset {offset} is past the blob's end")));
            }
            Err(e) => return Err(internal(e)),
        };
        let stream = ReaderStream::with_capacity(read.reader, 64 * 1024)
            .map_err(|e| TransportError::Broken(format!("reading the blob: {e}")));
        Ok(BlobBody { size: read.size, offset, stream: Box::pin(stream) })
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP side of the peer protocol.

fn refused(status: StatusCode, e: ServiceError) -> Response {
    (status, Json(e)).into_response()
}

fn auth_refusal(e: &AuthError) -> Response {
    let status = match e {
        AuthError::Malformed(_) => StatusCode::BAD_REQUEST,
        AuthError::NotEnrolled(_) => StatusCode::FORBIDDEN,
        AuthError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNAUTHORIZED,
    };
    refused(status, ServiceError::new(e.code(), e.to_string()))
}

fn service_refusal(e: ServiceError) -> Response {
    let status = match e.error.as_str() {
        "not_enrolled" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "bad_request" => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refused(status, e)
}

fn check(state: &AppState, request: &SignedRequest) -> Result<(NodeId, PeerRequest), AuthError> {
    let replication = &state.inner.replication;
    let mut guard = lock(&replication.guard);
    // The sender must be enrolled before anything of its request is remembered.
    guard.check_from(request, now_ms(), |from| replication.is_peer(from)).inspect_err(|e| {
        tracing::info!(from = %request.from.short(), error = %e, "refused a peer request");
    })
}

/// `POST /v1/peer/rpc`: one signed request from a peer node, one JSON reply.
pub(crate) async fn rpc(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    crate::error::ApiJson(request): crate::error::ApiJson<SignedRequest>,
) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let metrics = &state.inner.metrics;
    metrics.peer_requests.fetch_add(1, Relaxed);
    metrics.peer_rpc_bytes_in.fetch_add(serde_json::to_vec(&request).map_or(0, |b| b.len() as u64), Relaxed);
    let (from, request) = match check(&state, &request) {
        Ok(checked) => checked,
        Err(e) => {
            metrics.peer_requests_refused.fetch_add(1, Relaxed);
            return auth_refusal(&e);
        }
    };
    match (NodeService { state: state.clone() }).call(from, request).await {
        Ok(reply) => {
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            let (body, gzipped) = maybe_gzip(&headers, body);
            state.inner.metrics.peer_rpc_bytes_out.fetch_add(body.len() as u64, Relaxed);
            let mut response =
                ([(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
                    .into_response();
            if gzipped {
                response.headers_mut().insert(axum::http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Err(e) => {
            state.inner.metrics.peer_requests_refused.fetch_add(1, Relaxed);
            service_refusal(e)
        }
    }
}

/// Replies of more than a few KB (pages of records) are gzipped when the peer accepts it: signed
/// records are text, and a catch-up is mostly records.
fn maybe_gzip(headers: &axum::http::HeaderMap, body: Vec<u8>) -> (Vec<u8>, bool) {
    use std::io::Write as _;
    let accepts = headers
        .get(axum::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !accepts || body.len() < 2048 {
        return (body, false);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
    match encoder.write_all(&body).and_then(|()| encoder.finish()) {
        Ok(compressed) => (compressed, true),
        Err(_) => (body, false),
    }
}

/// `POST /v1/peer/blob`: a signed `get_blob`; the reply is the bytes from the offset.
pub(crate) async fn blob(
    State(state): State<AppState>,
    crate::error::ApiJson(request): crate::error::ApiJson<SignedRequest>,
) -> Response {
    state.inner.metrics.peer_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (from, request) = match check(&state, &request) {
        Ok(checked) => checked,
        Err(e) => {
            state.inner.metrics.peer_requests_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return auth_refusal(&e);
        }
    };
    let PeerRequest::GetBlob { id, offset } = request else {
        return service_refusal(ServiceError::new("bad_request", "this endpoint answers get_blob only"));
    };
    match (NodeService { state }).get_blob(from, id, offset).await {
        Ok(body) => {
            let mut response = Response::new(Body::from_stream(body.stream));
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            if let Ok(size) = HeaderValue::from_str(&body.size.to_string()) {
                response.headers_mut().insert(BLOB_SIZE_HEADER, size);
            }
            response
        }
        Err(e) => service_refusal(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The store side of replication.

pub(crate) struct NodeLocal {
    pub(crate) state: AppState,
}

#[async_trait]
impl Local for NodeLocal {
    async fn apply_records(&self, from: NodeId, entries: &[LogEntry]) -> Result<usize, String> {
        let records = entries.iter().map(LogEntry::record).collect();
        // Our own trouble (the database): the sync retries this page (records are deduplicated).
        let outcomes = crate::records::ingest(&self.state, records)
            .await
            .map_err(|e| format!("storing records from {}: {e}", from.short()))?;
        // Kept either way: a refused record is judged again when what it needs arrives, a held
        // one when its time comes.
        let refused = outcomes.iter().filter(|o| matches!(o, family_vault::Outcome::Refused(_))).count();
        if refused > 0 {
            tracing::debug!(peer = %from.short(), refused, "kept records the rules refuse for now");
        }
        if !outcomes.is_empty() && self.state.vault().family().is_some() {
            self.state.forget_setup_code();
        }
        Ok(outcomes.len())
    }

    async fn peer_holds(&self, peer: NodeId, entries: &[BlobEntry]) -> Result<(), String> {
        let ids: Vec<[u8; 32]> = entries.iter().map(|e| *e.id.as_bytes()).collect();
        self.state
            .db(move |db| {
                let tx = db.transaction()?;
                {
                    let mut stmt =
                        tx.prepare_cached("INSERT OR IGNORE INTO peer_blobs (node_id, id) VALUES (?1, ?2)")?;
                    let peer = peer.to_string();
                    for id in &ids {
                        stmt.execute(params![peer, id.as_slice()])?;
                    }
                }
                tx.commit()
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn save_cursors(&self, peer: NodeId, cursors: Cursors) -> Result<(), String> {
        self.state
            .db(move |db| {
                db.execute(
                    "UPDATE peers SET records_cursor = ?2, blobs_cursor = ?3 WHERE node_id = ?1",
                    params![peer.to_string(), cursors.records as i64, cursors.blobs as i64],
                )
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn wanted(&self) -> Result<Vec<(BlobId, u64, bool)>, String> {
        let referenced = self.state.vault().referenced_blobs();
        let held: std::collections::HashSet<[u8; 32]> = self
            .state
            .db(|db| {
                let mut stmt = db.prepare_cached("SELECT id FROM blobs")?;
                let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
                Ok(rows.filter_map(|r| r.ok().and_then(|b| <[u8; 32]>::try_from(b).ok())).collect())
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(referenced.into_iter().map(|(id, size)| (id, size, held.contains(id.as_bytes()))).collect())
    }

    async fn store_blob(&self, id: BlobId, _declared: u64, body: p2pos_net::ByteStream) -> Result<(), String> {
        let stream = body.map_err(std::io::Error::other);
        let mut reader = StreamReader::new(stream);
        // A record's declared size is not trusted as the cap: a lying record must not stop a blob
        // from replicating. The blob's id (its BLAKE3) is what proves the bytes.
        let cap = self.state.inner.config.max_upload_bytes;
        let outcome = self.state.inner.blobs.put(id, &mut reader, cap).await.map_err(|e| e.to_string())?;
        crate::blobs::record_presence(&self.state, id, outcome.size()).await.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// How this node reaches a peer.

pub(crate) struct NodeConnector {
    pub(crate) state: AppState,
}

#[async_trait]
impl Connector for NodeConnector {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError> {
        let rep = &self.state.inner.replication;
        let config = &self.state.inner.config.replication;
        let info = rep.peer(&peer).ok_or_else(|| TransportError::Unreachable("not an enrolled peer".into()))?;
        let mut why = Vec::new();
        let http_possible = config.http && info.base_url.is_some();
        let recently_failed = lock(&rep.rtc_failed).get(&peer).is_some_and(|t| t.elapsed() < RTC_RETRY_AFTER);
        if config.webrtc && recently_failed && http_possible {
            why.push("WebRTC: failed recently".into());
        } else if config.webrtc {
            match rep.rtc() {
                // The endpoint's own timeout is `webrtc_timeout` and says why it found no path;
                // this one is a backstop.
                Some(rtc) => {
                    match tokio::time::timeout(config.webrtc_timeout + Duration::from_secs(5), rtc.connect(peer)).await
                    {
                        Ok(Ok(transport)) => {
                            lock(&rep.rtc_failed).remove(&peer);
                            return Ok(transport);
                        }
                        Ok(Err(e)) => {
                            lock(&rep.rtc_failed).insert(peer, std::time::Instant::now());
                            why.push(format!("WebRTC: {e}"));
                        }
                        Err(_) => {
                            lock(&rep.rtc_failed).insert(peer, std::time::Instant::now());
                            why.push(format!("WebRTC: no connection within {} s", config.webrtc_timeout.as_secs()));
                        }
                    }
                }
                None if config.hub.is_none() => why.push("WebRTC: no hub configured".into()),
                None => why.push("WebRTC: not connected to the hub".into()),
            }
        }
        if config.http {
            match &info.base_url {
                Some(url) => {
                    let mut cache = lock(&rep.http);
                    let transport = match cache.get(&peer) {
                        Some(t) => t.clone(),
                        None => {
                            let t = Arc::new(HttpTransport::new(
                                url,
                                self.state.inner.node_key.clone(),
                                peer,
                                Duration::from_secs(5),
                                Duration::from_secs(30),
                            )?);
                            cache.insert(peer, t.clone());
                            t
                        }
                    };
                    return Ok(transport);
                }
                None => why.push("HTTP: the peer gave no base URL".into()),
            }
        }
        Err(TransportError::Unreachable(format!("no path to {}: {}", info.name, why.join("; "))))
    }
}

// ---------------------------------------------------------------------------------------------
// GET /v1/replication/status

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicationStatus {
    /// This node.
    node: NodeSummary,
    peers: Vec<PeerSummary>,
    /// Per photo (of the albums the caller can open): where its blobs are.
    photos: Vec<PhotoPlacement>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct NodeSummary {
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
    last_error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PhotoPlacement {
    photo: String,
    album: String,
    nodes: Vec<Placement>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Placement {
    #[schema(value_type = String)]
    node: NodeId,
    name: String,
    /// ok, pending, fetching or failed (this node knows failures of its own fetches only).
    state: &'static str,
    /// The last error of this node's fetch, when it failed.
    error: Option<String>,
    /// Milliseconds since this node last tried to fetch the photo's blobs (pending or failed).
    last_attempt_ms_ago: Option<u64>,
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
    crate::error::ApiQuery(query): crate::error::ApiQuery<StatusQuery>,
) -> Result<Json<ReplicationStatus>, ApiError> {
    session.require_member(&state)?;
    let replicator_snapshot = {
        let r = lock(&state.inner.replication.replicator);
        r.as_ref().map(|r| r.status_request())
    };
    let snapshot = match replicator_snapshot {
        Some(request) => request.await,
        None => None,
    };
    let me = NodeSummary { node: state.node_id(), name: state.inner.config.replication.name.clone() };
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
                last_error: s.and_then(|s| s.last_error.clone()),
            }
        })
        .collect();
    let wants_photos = query.photos.unwrap_or(true);
    let held: std::collections::HashSet<[u8; 32]> = state
        .db(move |db| {
            if !wants_photos {
                return Ok(Default::default());
            }
            let mut stmt = db.prepare_cached("SELECT id FROM blobs")?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(rows.filter_map(|r| r.ok().and_then(|b| <[u8; 32]>::try_from(b).ok())).collect())
        })
        .await?;
    let photos = {
        let vault = state.vault();
        let mut photos = Vec::new();
        for (album_id, _) in vault.albums() {
            if !query.photos.unwrap_or(true) || query.album.as_ref().is_some_and(|a| *a != album_id.to_string()) {
                continue;
            }
            if !vault.can_open_album(&session.identity, album_id) {
                continue;
            }
            for (photo_id, photo) in vault.photos_in(album_id) {
                if photo.deleted {
                    continue;
                }
                let blobs: Vec<BlobId> = std::iter::once(photo.blob).chain(photo.thumb).collect();
                let here_state = |blob: &BlobId| -> (&'static str, Option<String>, Option<u64>) {
                    if held.contains(blob.as_bytes()) {
                        return ("ok", None, None);
                    }
                    let status = snapshot.as_ref().and_then(|s| s.blobs.get(blob).map(|b| (s, b)));
                    let attempt = status
                        .and_then(|(snap, b)| p2pos_replication::age(snap, b.last_attempt))
                        .map(|d| d.as_millis() as u64);
                    match status.map(|(_, b)| &b.local) {
                        Some(LocalState::Failed { error, .. }) => ("failed", Some(error.clone()), attempt),
                        Some(LocalState::Fetching { .. }) => ("fetching", None, attempt),
                        _ => ("pending", None, attempt),
                    }
                };
                let here = blobs.iter().map(here_state).find(|s| s.0 != "ok").unwrap_or(("ok", None, None));
                let mut nodes = vec![Placement {
                    node: me.node,
                    name: me.name.clone(),
                    state: here.0,
                    error: here.1,
                    last_attempt_ms_ago: here.2,
                }];
                for info in &infos {
                    let holds = |blob: &BlobId| {
                        snapshot
                            .as_ref()
                            .and_then(|s| s.blobs.get(blob))
                            .is_some_and(|b| b.held_by.contains(&info.node))
                    };
                    let all = blobs.iter().all(holds);
                    nodes.push(Placement {
                        node: info.node,
                        name: info.name.clone(),
                        state: if all { "ok" } else { "pending" },
                        error: None,
                        last_attempt_ms_ago: None,
                    });
                }
                photos.push(PhotoPlacement { photo: photo_id.to_string(), album: album_id.to_string(), nodes });
            }
        }
        photos
    };
    Ok(Json(ReplicationStatus { node: me, peers, photos }))
}
