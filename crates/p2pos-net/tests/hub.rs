#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

//! The hub client against a real hub on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use p2pos_core::NodeId;
use p2pos_net::hub::{HubClient, HubClientConfig, HubError, HubEvent, HubHandle, IceServer};
use p2pos_signal::HubConfig;
use p2pos_signal::server::{ServerConfig, SignalServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

async fn hub_on(addr: SocketAddr) -> SignalServer {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let hub = HubConfig { stun_urls: vec!["stun:127.0.0.1:3478".into()], ..Default::default() };
    SignalServer::start(listener, ServerConfig { hub, ..Default::default() }, axum::Router::new()).unwrap()
}

async fn hub() -> SignalServer {
    hub_on("127.0.0.1:0".parse().unwrap()).await
}

fn url(server: &SignalServer) -> String {
    format!("ws://{}/v1/ws", server.local_addr())
}

fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

async fn next_event(events: &mut mpsc::Receiver<HubEvent>) -> HubEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("no event").expect("client stopped")
}

async fn connected(events: &mut mpsc::Receiver<HubEvent>) {
    assert_eq!(next_event(events).await, HubEvent::Connected);
}

async fn next_signal(events: &mut mpsc::Receiver<HubEvent>) -> (String, Option<String>, Value) {
    loop {
        if let HubEvent::Signal { from, from_id, payload } = next_event(events).await {
            return (from, from_id, payload);
        }
    }
}

async fn hub_connections(server: &SignalServer) -> u64 {
    let health: Value =
        reqwest::get(format!("http://{}/health", server.local_addr())).await.unwrap().json().await.unwrap();
    health["connections"].as_u64().unwrap()
}

#[tokio::test]
async fn signals_reach_nodes_by_id_and_failures_come_back() {
    let server = hub().await;
    let oak = new_key();
    let oak_id = NodeId::from_verifying_key(&oak.verifying_key()).to_string();
    let (node, mut node_events) = HubClient::spawn(url(&server), Some(oak), json!({"name": "Oak"}));
    let (anon, mut anon_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut node_events).await;
    connected(&mut anon_events).await;
    assert!(node.is_connected() && anon.is_connected());
    assert_eq!(node.identity(), Some(oak_id.as_str()));
    let anon_peer = anon.peer_id().expect("the hub assigned a peer id");

    // Anyone may signal a node that authenticated with allow: anyone, by its node id.
    anon.signal(&oak_id, json!({"p2pos": "test", "n": 1})).await.unwrap();
    let (from, from_id, payload) = next_signal(&mut node_events).await;
    assert_eq!((from.as_str(), from_id, payload["n"].as_i64()), (anon_peer.as_str(), None, Some(1)));

    // The node may answer by hub peer id (the anonymous peer signalled it first)…
    node.signal(&anon_peer, json!({"n": 2})).await.unwrap();
    let (_, from_id, payload) = next_signal(&mut anon_events).await;
    assert_eq!((from_id.as_deref(), payload["n"].as_i64()), (Some(oak_id.as_str()), Some(2)));
    // …but a stranger may not signal an anonymous peer it shares no namespace with.
    let (stranger, mut stranger_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut stranger_events).await;
    let refused = stranger.signal(&anon_peer, json!({"n": 3})).await.unwrap_err();
    assert_eq!(refused.code(), Some("not_allowed"), "{refused:?}");

    // An absent node.
    let absent = NodeId::from_verifying_key(&new_key().verifying_key()).to_string();
    let unavailable = anon.signal(&absent, json!({})).await.unwrap_err();
    assert!(unavailable.is_peer_unavailable(), "{unavailable:?}");

    // Too large for the hub.
    let big = "x".repeat(20_000);
    assert!(matches!(anon.signal(&oak_id, json!({ "big": big })).await, Err(HubError::TooLarge { .. })));

    // ICE servers as the hub hands them out.
    let servers = node.ice_servers().await.unwrap();
    assert_eq!(servers, vec![IceServer { urls: vec!["stun:127.0.0.1:3478".into()], username: None, credential: None }]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_signals_is_paced_under_the_rate_limit() {
    let server = hub().await;
    let elm = new_key();
    let elm_id = NodeId::from_verifying_key(&elm.verifying_key()).to_string();
    let (node, mut node_events) = HubClient::spawn(url(&server), Some(elm), Value::Null);
    let (anon, mut anon_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut node_events).await;
    connected(&mut anon_events).await;
    // 35 signals at once: the hub allows a burst of 20 and 10/s; the client queues the rest.
    let sends = (0..35).map(|n| {
        let anon = anon.clone();
        let to = elm_id.clone();
        async move { anon.signal(&to, json!({ "n": n })).await }
    });
    for result in futures_util::future::join_all(sends).await {
        result.unwrap();
    }
    let mut seen = 0;
    while seen < 35 {
        next_signal(&mut node_events).await;
        seen += 1;
    }
    drop(node);
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_reconnects_when_the_hub_comes_back() {
    let server = hub().await;
    let addr = server.local_addr();
    let config = HubClientConfig {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..Default::default()
    };
    let key = new_key();
    let id = NodeId::from_verifying_key(&key.verifying_key()).to_string();
    let (node, mut events) = HubClient::spawn_with(config, url(&server), Some(key), Value::Null);
    connected(&mut events).await;
    let first_peer = node.peer_id().unwrap();

    server.shutdown().await;
    assert!(matches!(next_event(&mut events).await, HubEvent::Disconnected { .. }));
    assert!(!node.is_connected());
    assert_eq!(node.signal(&id, json!({})).await.unwrap_err(), HubError::NotConnected);

    let server = hub_on(addr).await;
    connected(&mut events).await;
    assert_ne!(node.peer_id().unwrap(), first_peer);
    // Reachable by its node id again.
    let (anon, mut anon_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut anon_events).await;
    anon.signal(&id, json!({"back": true})).await.unwrap();
    assert_eq!(next_signal(&mut events).await.2["back"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_stops_on_shutdown_or_when_every_handle_is_dropped() {
    let server = hub().await;
    let (a, mut a_events) = HubClient::spawn(url(&server), Some(new_key()), Value::Null);
    let (b, mut b_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut a_events).await;
    connected(&mut b_events).await;
    assert_eq!(hub_connections(&server).await, 2);

    a.shutdown();
    assert_eq!(a.signal("x", json!({})).await.unwrap_err(), HubError::Closed);
    // The task ends: its event channel closes.
    assert!(tokio::time::timeout(Duration::from_secs(5), a_events.recv()).await.unwrap().is_none());

    let b2: HubHandle = b.clone();
    drop(b);
    assert!(b2.is_connected(), "a clone keeps it alive");
    drop(b2);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), b_events.recv()).await.unwrap() {
            None => break,
            Some(_) => continue,
        }
    }
    for _ in 0..100 {
        if hub_connections(&server).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub_connections(&server).await, 0);
    server.shutdown().await;
}

async fn hub_with_public_url(public_url: impl Fn(SocketAddr) -> String) -> SignalServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_urls = vec![public_url(listener.local_addr().unwrap())];
    SignalServer::start(listener, ServerConfig { public_urls, ..Default::default() }, axum::Router::new()).unwrap()
}

#[tokio::test]
async fn a_node_logs_in_only_at_the_hub_its_signature_names() {
    // The hub's public URL is the one the node uses: the node logs in and is reachable by id.
    let server = hub_with_public_url(|addr| format!("ws://{addr}/v1/ws")).await;
    let oak = new_key();
    let oak_id = NodeId::from_verifying_key(&oak.verifying_key()).to_string();
    let (_node, mut node_events) = HubClient::spawn(url(&server), Some(oak.clone()), Value::Null);
    connected(&mut node_events).await;
    server.shutdown().await;

    // This hub is public as wss://hub.example.org: the node, which reached it at ws://127.0.0.1:…,
    // signs for that origin and the hub refuses it, so nobody can reach the node there by its id.
    let server = hub_with_public_url(|_| "wss://hub.example.org/v1/ws".into()).await;
    let (_node, mut node_events) = HubClient::spawn(url(&server), Some(oak), Value::Null);
    let (anon, mut anon_events) = HubClient::spawn(url(&server), None, Value::Null);
    connected(&mut anon_events).await;
    let logged_in = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Some(event) = node_events.recv().await {
            if event == HubEvent::Connected {
                return true;
            }
        }
        false
    });
    assert!(!logged_in.await.unwrap_or(false), "the node logged in with a signature for another origin");
    let refused = anon.signal(&oak_id, json!({})).await.unwrap_err();
    assert!(refused.is_peer_unavailable(), "{refused:?}");
    server.shutdown().await;
}
