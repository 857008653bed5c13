//! The node daemon's HTTP surface: the `/v1` API and the web app's static files.
//!
//! `router(state)` is the whole service, so tests drive it with `oneshot` and `serve` only binds
//! a socket. Errors leave through one [`ApiError`], as JSON `{error, message}`.

mod error;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

pub use error::ApiError;

/// The web app alone (static files, SPA fallback, security headers), for other services to mount.
pub fn web_app(dir: &std::path::Path) -> Router {
    web::security_headers(Router::new().fallback_service(web::service(dir)))
}

/// What a node needs to start. Every field's default is documented in `p2pos node --help`.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where to listen. Default `127.0.0.1:7700`.
    pub listen: SocketAddr,
    /// The built web app (`apps/web/dist`). `None` serves the API only.
    pub web_dir: Option<PathBuf>,
}

/// Shared state of the running node.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    web_dir: Option<PathBuf>,
}

impl AppState {
    pub fn new(config: &NodeConfig) -> Self {
        Self { inner: Arc::new(Inner { web_dir: config.web_dir.clone() }) }
    }
}

/// The complete HTTP service of a node.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .fallback(|| async { ApiError::NotFound("no such API route".into()) });
    let app = Router::new().nest("/v1", api);
    let app = match &state.inner.web_dir {
        Some(dir) => app.fallback_service(web::service(dir)),
        None => app,
    };
    web::security_headers(app.with_state(state))
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

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
    pub async fn bind(config: &NodeConfig) -> std::io::Result<Self> {
        if let Some(dir) = &config.web_dir
            && !dir.join("index.html").is_file()
        {
            tracing::warn!(dir = %dir.display(), "no index.html in the web app directory; build it with `make web`");
        }
        Ok(Self { listener: TcpListener::bind(config.listen).await?, state: AppState::new(config) })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state)).with_graceful_shutdown(shutdown).await
    }
}
