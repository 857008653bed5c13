//! The embedded TURN server accepts the hub's REST credentials and refuses expired or forged ones.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p2pos_signal::embedded_turn::{EmbeddedTurn, EmbeddedTurnConfig};
use p2pos_signal::turn::password;
use tokio::net::UdpSocket;
use turn::client::{Client, ClientConfig};

const SECRET: &str = "an-embedded-turn-secret-of-32+bytes!";

async fn server() -> EmbeddedTurn {
    let config = EmbeddedTurnConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        relay_ip: "127.0.0.1".parse().unwrap(),
        min_port: 50_100,
        max_port: 50_199,
        realm: "p2pos".into(),
        allow_private_peers: true,
    };
    EmbeddedTurn::start(&config, SECRET.into()).await.unwrap()
}

async fn client(server: &EmbeddedTurn, username: &str, password: &str) -> Client {
    let conn = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().to_string();
    let client = Client::new(ClientConfig {
        stun_serv_addr: addr.clone(),
        turn_serv_addr: addr,
        username: username.into(),
        password: password.into(),
        realm: "p2pos".into(),
        software: String::new(),
        rto_in_ms: 200,
        conn: Arc::new(conn),
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    client
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn fresh_credentials_allocate_a_relay_and_stun_answers() {
    let server = server().await;
    let username = format!("{}:abc123", now() + 600);
    let c = client(&server, &username, &password(SECRET, &username)).await;
    let mapped = c.send_binding_request().await.unwrap();
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");
    let relay = tokio::time::timeout(Duration::from_secs(10), c.allocate()).await.unwrap();
    let relay = relay.expect("allocation with fresh credentials");
    let addr = webrtc_util::Conn::local_addr(&relay).unwrap();
    assert!((50_100..=50_199).contains(&addr.port()), "relay port from the configured range: {addr}");
    c.close().await.unwrap();
    server.close().await;
}

#[tokio::test]
async fn expired_or_forged_credentials_are_refused() {
    let server = server().await;
    let expired = format!("{}:abc123", now() - 60);
    let c = client(&server, &expired, &password(SECRET, &expired)).await;
    let result = tokio::time::timeout(Duration::from_secs(10), c.allocate()).await.unwrap();
    assert!(result.is_err(), "expired credentials must not allocate");
    c.close().await.unwrap();

    let fresh = format!("{}:abc123", now() + 600);
    let c = client(&server, &fresh, &password("another-secret-that-is-long-enough!!", &fresh)).await;
    let result = tokio::time::timeout(Duration::from_secs(10), c.allocate()).await.unwrap();
    assert!(result.is_err(), "credentials under another secret must not allocate");
    c.close().await.unwrap();
    server.close().await;
}
