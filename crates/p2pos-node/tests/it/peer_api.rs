//! The node-to-node HTTP endpoints refuse what they must: requests from nodes that are not
//! enrolled, replays, forgeries, requests for another node, and stale ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use ed25519_dalek::SigningKey;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::PeerRequest;
use p2pos_net::auth::sign_request;
use p2pos_node::enroll::{DataDir, pin};
use p2pos_node::replication::PeerInfo;
use p2pos_node::{AppState, NodeConfig};
use serde_json::Value;

use crate::common;

use common::{now_ms, send};

async fn post(state: &AppState, path: &str, body: String) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let reply = send(state, request).await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn peer_requests_are_signed_fresh_once_and_from_enrolled_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pine = SigningKey::from_bytes(&[7; 32]);
    let pine_id = NodeId::from_verifying_key(&pine.verifying_key());
    let stranger = SigningKey::from_bytes(&[9; 32]);
    {
        let data = DataDir::open(dir.path()).unwrap();
        pin(&data.db, &PeerInfo { node: pine_id, name: "Pine".into(), base_url: None, added_ms: 1 }).unwrap();
    }
    let state =
        AppState::open(NodeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf())).await.unwrap();
    let oak = state.node_id();
    let json = |r: &p2pos_net::auth::SignedRequest| serde_json::to_string(r).unwrap();

    let hello = sign_request(&pine, oak, now_ms(), &PeerRequest::Hello);
    let (status, body) = post(&state, "/v1/peer/rpc", json(&hello)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "hello");
    assert_eq!(body["node"], oak.to_string());

    let (status, body) = post(&state, "/v1/peer/rpc", json(&hello)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("replayed")));

    let from_stranger = sign_request(&stranger, oak, now_ms(), &PeerRequest::Hello);
    let (status, body) = post(&state, "/v1/peer/rpc", json(&from_stranger)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_enrolled")));

    let mut forged = sign_request(&stranger, oak, now_ms(), &PeerRequest::Records { since: 0, limit: 10 });
    forged.from = pine_id;
    let (status, body) = post(&state, "/v1/peer/rpc", json(&forged)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_signature")));

    let for_another =
        sign_request(&pine, NodeId::from_verifying_key(&stranger.verifying_key()), now_ms(), &PeerRequest::Hello);
    let (status, body) = post(&state, "/v1/peer/rpc", json(&for_another)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong_recipient")));

    let stale = sign_request(&pine, oak, now_ms() - 10 * 60 * 1000, &PeerRequest::Hello);
    let (status, body) = post(&state, "/v1/peer/rpc", json(&stale)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("stale_request")));

    let missing = sign_request(&pine, oak, now_ms(), &PeerRequest::GetBlob { id: BlobId::of(b"none"), offset: 0 });
    let (status, body) = post(&state, "/v1/peer/blob", json(&missing)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    let records = sign_request(&pine, oak, now_ms(), &PeerRequest::Records { since: 0, limit: 10 });
    let (status, body) = post(&state, "/v1/peer/rpc", json(&records)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"type": "records", "records": [], "head": 0}));
}
