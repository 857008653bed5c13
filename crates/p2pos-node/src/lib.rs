//! The node daemon's HTTP surface: the `/v1` API and the web app's static files.
//!
//! `router(state)` is the whole service, so tests drive it with `oneshot` and [`Node`] only binds a
//! socket. Errors leave through one [`ApiError`], as JSON `{error, message}`. Business rules live in
//! `family-vault`; this crate authenticates, stores and serves.

mod auth;
mod blobs;
mod error;
pub mod export;
mod family;
pub mod openapi;
mod records;
mod state;
mod web;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

pub use auth::{COOKIE, Session, login_message};
pub use error::ApiError;
pub use state::{AppState, NodeConfig, NodeError};

/// JSON request bodies (records, logins) are small; blobs stream separately with their own cap.
const MAX_JSON_BYTES: usize = 256 * 1024;

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
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .route("/blobs/{id}", put(blobs::put).get(blobs::get).layer(DefaultBodyLimit::disable()))
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::rotate));
    let app = Router::new().nest("/v1", api);
    let app = match &state.inner.config.web_dir {
        Some(dir) => app.fallback_service(web::service(dir)),
        None => app,
    };
    web::security_headers(app.with_state(state))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/v1/health", tag = "node", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
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

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state)).with_graceful_shutdown(shutdown).await
    }
}
