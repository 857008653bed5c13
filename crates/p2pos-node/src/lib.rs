//! The node daemon's HTTP surface: the `/v1` API and the web app's static files.
//!
//! `router(state)` is the whole service, so tests drive it with `oneshot` and [`Node`] only binds a
//! socket. Errors leave through one [`ApiError`], as JSON `{error, message}`. Business rules live in
//! `family-vault`; this crate authenticates, stores and serves.

// Layers, lowest first; a module uses only modules before it in this list:
//   clock, error → replication::{config, fallback, peers, journal} → store → state → session →
//   records, blobs, enroll, release → replication::{local, service, replicator, routes, status} →
//   paging, auth, family, trash, nodes, remote, hub → this file (the router) and openapi (the document).
// Two references still point up: `error.rs` names `crate::MAX_JSON_BYTES`, and the handlers'
// OpenAPI annotations name `openapi::{ErrorBody, SignedRecordSchema, RoleSchema}`, which belong
// in a leaf module.
mod clock;
mod store;

mod auth;
mod blobs;
#[doc(hidden)]
pub mod bulk;
pub mod enroll;
mod error;
pub mod export;
mod family;
mod hub;
mod invites;
mod nodes;
pub mod openapi;
mod paging;
mod records;
pub mod release;
mod remote;
pub mod replication;
mod session;
mod state;
mod trash;
mod web;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

pub use auth::login_message;
pub use error::ApiError;
/// A page of records as replication brings them from a peer (for tests of what peers send).
#[doc(hidden)]
pub use records::ingest;
pub use session::{COOKIE, Session};
pub use state::{AppState, NodeConfig, NodeError};

/// JSON request bodies (records, logins) are small; blobs stream separately with their own cap.
pub(crate) const MAX_JSON_BYTES: usize = 256 * 1024;

/// The web app alone (static files, SPA fallback, security headers), for other services to mount.
pub fn web_app(dir: &std::path::Path) -> Router {
    web::security_headers(Router::new().fallback_service(web::service(dir)))
}

/// The complete HTTP service of a node.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/setup", post(auth::setup))
        .route("/auth/challenge", post(auth::challenge))
        .route("/auth/verify", post(auth::verify))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/records", post(records::post).get(records::list))
        .route("/members", get(family::members))
        .route("/albums", get(family::albums))
        .route("/albums/{id}", get(family::album))
        .route("/trash", get(trash::trash))
        .route("/albums/{id}/photos", get(paging::album_photos))
        .route("/photos", get(paging::timeline))
        .route("/replication/status", get(replication::status::status))
        .route("/replication/changes", get(paging::changes))
        .route("/nodes", get(nodes::list))
        .route("/nodes/peers", post(nodes::add_peer))
        .route("/nodes/peers/{id}", axum::routing::delete(nodes::remove_peer))
        .route("/enroll", post(nodes::enroll))
        // Invitations (issue 15).
        .route("/invites", post(invites::create).get(invites::list))
        .route("/invites/{id}", axum::routing::delete(invites::cancel))
        .route("/invites/{id}/join", post(invites::join))
        .route("/peer/rpc", post(replication::routes::rpc))
        .route("/peer/blob", post(replication::routes::blob))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .route("/blobs/{id}", put(blobs::put).get(blobs::get).layer(DefaultBodyLimit::disable()))
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::rotate));
    let app = Router::new().nest("/v1", api).route("/metrics", get(metrics));
    let app = match &state.inner.config.web_dir {
        Some(dir) => app.fallback_service(web::service(dir)),
        None => app,
    };
    let cors = cors(&state.inner.config.cors_origins);
    web::security_headers(app.with_state(state)).layer(cors)
}

/// CORS is off unless origins are configured; then only those may call with credentials.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::RANGE])
}

/// Prometheus text: counters of what the node did, and what it holds. No identities, no ids.
/// With a metrics token configured, only `Authorization: Bearer <token>` reads them; without
/// one, only a loopback client that came through no proxy (no `Forwarded`/`X-Forwarded-For`).
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    auth::ClientAddr(peer): auth::ClientAddr,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    metrics_allowed(&state, peer, &headers)?;
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.inner.metrics;
    let ((blobs, bytes), records) = state.db(|db| Ok((store::blobs::totals(db)?, store::records::count(db)?))).await?;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    line("p2pos_node_records", "gauge", "Records in the log.", records);
    line("p2pos_node_blobs", "gauge", "Blobs held.", blobs);
    line("p2pos_node_blob_bytes", "gauge", "Bytes of blobs held.", bytes);
    line(
        "p2pos_node_records_accepted_total",
        "counter",
        "Records accepted since start.",
        m.records_accepted.load(Relaxed),
    );
    line(
        "p2pos_node_records_refused_total",
        "counter",
        "Records refused since start.",
        m.records_refused.load(Relaxed),
    );
    line("p2pos_node_blobs_stored_total", "counter", "Blobs stored since start.", m.blobs_stored.load(Relaxed));
    line(
        "p2pos_node_blob_bytes_stored_total",
        "counter",
        "Blob bytes stored since start.",
        m.blob_bytes_stored.load(Relaxed),
    );
    line(
        "p2pos_node_blobs_refused_total",
        "counter",
        "Uploads refused (size, hash) since start.",
        m.blobs_refused.load(Relaxed),
    );
    line("p2pos_node_logins_total", "counter", "Successful logins since start.", m.logins.load(Relaxed));
    line("p2pos_node_logins_refused_total", "counter", "Refused logins since start.", m.logins_refused.load(Relaxed));
    line(
        "p2pos_node_peer_requests_total",
        "counter",
        "Requests from peer nodes (HTTP).",
        m.peer_requests.load(Relaxed),
    );
    line(
        "p2pos_node_peer_requests_refused_total",
        "counter",
        "Peer requests refused (signature, replay, not enrolled).",
        m.peer_requests_refused.load(Relaxed),
    );
    line(
        "p2pos_node_peer_rpc_bytes_in_total",
        "counter",
        "Bytes of peer requests received (HTTP bodies).",
        m.peer_rpc_bytes_in.load(Relaxed),
    );
    line(
        "p2pos_node_peer_rpc_bytes_out_total",
        "counter",
        "Bytes of replies to peers, blobs excluded (HTTP bodies).",
        m.peer_rpc_bytes_out.load(Relaxed),
    );
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

fn metrics_allowed(
    state: &AppState,
    peer: Option<SocketAddr>,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    use axum::http::header;
    match &state.inner.config.metrics_token {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let ok = given.is_some_and(|g| blake3::hash(g.as_bytes()) == blake3::hash(token.as_bytes()));
            if ok { Ok(()) } else { Err(ApiError::Unauthorized) }
        }
        None => {
            let proxied = headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
            if peer.is_some_and(|p| p.ip().is_loopback()) && !proxied {
                Ok(())
            } else {
                Err(ApiError::Forbidden("metrics are served to this machine only (or set a metrics token)".into()))
            }
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
    /// This node's id (its Ed25519 key, readable form).
    node_id: String,
    /// Whether a family has claimed this node (if not, the setup code is waiting, unless
    /// `joining`).
    claimed: bool,
    /// This node has no family yet and gets it from another node of the family (it was enrolled,
    /// or started to be): it has no setup code and cannot be claimed.
    joining: bool,
}

#[utoipa::path(get, path = "/v1/health", tag = "node", responses((status = 200, body = Health)))]
async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> Json<Health> {
    let claimed = state.vault().family().is_some();
    let joining = state.joining();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        node_id: state.node_id().to_string(),
        claimed,
        joining,
    })
}

/// A node bound to its socket; `run` serves until `shutdown` resolves.
#[derive(Debug)]
pub struct Node {
    listener: TcpListener,
    state: AppState,
}

impl Node {
    pub async fn bind(config: NodeConfig) -> Result<Self, NodeError> {
        if let Some(dir) = &config.web_dir
            && !dir.join("index.html").is_file()
        {
            tracing::warn!(dir = %dir.display(), "no index.html in the web app directory; build it with `make web`");
        }
        let listen = config.listen;
        let state = AppState::open(config).await?;
        let listener = TcpListener::bind(listen).await.map_err(|source| NodeError::Listen { addr: listen, source })?;
        Ok(Self { listener, state })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve the API, connect to the hub and replicate with the enrolled peers until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state.clone();
        if let Err(e) = state.start_replication().await {
            tracing::error!(error = %e, "could not start replication");
        }
        let hub = hub::start(&state, router(state.clone()));
        // The placements journal's first pass (one over every photo), before a page needs it.
        let warm = {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = paging::refresh(&state).await {
                    tracing::warn!(error = %e, "could not compare the placements journal with the vault");
                }
            })
        };
        let watcher = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
                let mut last_release = None::<std::time::Instant>;
                loop {
                    tick.tick().await;
                    if last_release.is_none_or(|at| at.elapsed() >= release::RELEASE_EVERY) {
                        last_release = Some(std::time::Instant::now());
                        if let Err(e) = release::release_expired(&state, clock::now_ms()).await {
                            tracing::warn!(error = %e, "could not release the trash's expired blobs");
                        }
                    }
                    if let Err(e) = state.reload_peers().await {
                        tracing::warn!(error = %e, "could not reload the peer list");
                    }
                    // Records held for being stamped ahead of our clock come due (off the async
                    // threads: coming due can mean a refold).
                    let now = clock::now_ms();
                    if let Ok(true) = state.write(move |vault, _| Ok(vault.advance(now))).await {
                        state.records_changed();
                    }
                }
            })
        };
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        watcher.abort();
        warm.abort();
        if let Some(hub) = hub {
            hub.abort();
        }
        state.stop_replication().await;
        served
    }
}
