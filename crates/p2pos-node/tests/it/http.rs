//! The node's router, driven in-process with `oneshot` on a real data dir (SQLite file, blob files).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use p2pos_node::{AppState, NodeConfig, router};
use tower::ServiceExt;

async fn app(web_dir: Option<&std::path::Path>) -> (axum::Router, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
    config.web_dir = web_dir.map(Into::into);
    (router(AppState::open(config).await.unwrap()), data)
}

async fn get(app: axum::Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn health_reports_ok_and_version() {
    let (app, _data) = app(None).await;
    let (status, _, body) = get(app, "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["claimed"], false, "a fresh node waits for its setup code");
    assert_eq!(json["joining"], false, "a fresh node is not started to join a family");
    assert!(json["node_id"].as_str().unwrap().parse::<p2pos_core::NodeId>().is_ok());
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let (app, _data) = app(None).await;
    let (status, _, body) = get(app, "/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "not_found");
}

#[tokio::test]
async fn web_app_is_served_with_a_spa_fallback_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>P2POS</title>").unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
    let (app, _data) = app(Some(dir.path())).await;

    let (status, headers, body) = get(app.clone(), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("P2POS"));
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let (status, headers, _) = get(app.clone(), "/assets/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().contains("javascript"));

    let (status, _, body) = get(app, "/albums/some-client-route").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("P2POS"), "client routes fall back to index.html");
}
