//! Real WebSocket clients against a real hub on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use p2pos_signal::server::{ServerConfig, SignalServer};
use p2pos_signal::{HubConfig, Limits};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn hub(limits: Limits) -> SignalServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig { hub: HubConfig { limits, ..Default::default() }, ..Default::default() };
    SignalServer::start(listener, config, axum::Router::new()).unwrap()
}

async fn connect(server: &SignalServer, path: &str) -> Ws {
    connect_async(format!("ws://{}{path}", server.local_addr())).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text message as JSON (skipping pings), or panics after 5 s.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("timed out").expect("closed").unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Reads until the close frame and returns its code and reason.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("timed out") {
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn hello(ws: &mut Ws) -> String {
    send(ws, json!({"type": "hello", "v": 1})).await;
    let welcome = recv(ws).await;
    assert_eq!(welcome["type"], "welcome");
    welcome["peer"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn two_peers_meet_in_a_namespace_and_exchange_signals() {
    let server = hub(Limits::default()).await;
    let mut a = connect(&server, "/v1/ws").await;
    let mut b = connect(&server, "/v1/ws").await;
    let a_peer = hello(&mut a).await;
    let b_peer = hello(&mut b).await;
    send(&mut a, json!({"type": "join", "ns": "family:river"})).await;
    assert_eq!(recv(&mut a).await["type"], "joined");
    send(&mut b, json!({"type": "join", "ns": "family:river"})).await;
    assert_eq!(recv(&mut b).await["peers"][0]["peer"], a_peer);
    assert_eq!(recv(&mut a).await["peer"]["peer"], b_peer);
    send(&mut a, json!({"type": "signal", "to": b_peer, "payload": {"sdp": "v=0\r\n"}})).await;
    assert_eq!(recv(&mut b).await, json!({"type": "signal", "from": a_peer, "payload": {"sdp": "v=0\r\n"}}));
    server.shutdown().await;
}

#[tokio::test]
async fn oversize_messages_close_the_socket_with_1009_and_a_reason() {
    let server = hub(Limits::default()).await;
    let mut a = connect(&server, "/v1/ws").await;
    hello(&mut a).await;
    send(&mut a, json!({"type": "ping", "pad": "x".repeat(20_000)})).await;
    let (code, reason) = close_of(&mut a).await;
    assert_eq!(code, 1009);
    assert!(reason.contains("limit 16384"), "{reason}");
    // Far beyond the limit, the WebSocket layer itself refuses to buffer it.
    let mut b = connect(&server, "/v1/ws").await;
    hello(&mut b).await;
    let _ = b.send(Message::Text("x".repeat(200_000).into())).await;
    assert_eq!(close_of(&mut b).await.0, 1009);
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_get_429_with_a_reason() {
    let server = hub(Limits { max_connections_per_ip: 2, ..Limits::default() }).await;
    let _a = connect(&server, "/v1/ws").await;
    let _b = connect(&server, "/v1/ws").await;
    let err = connect_async(format!("ws://{}/v1/ws", server.local_addr())).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = err else {
        panic!("expected an HTTP refusal, got {err}")
    };
    assert_eq!(response.status(), 429);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"], "too_many_connections");
    server.shutdown().await;
}

#[tokio::test]
async fn binary_frames_and_garbage_are_refused_without_harming_others() {
    let server = hub(Limits::default()).await;
    let mut good = connect(&server, "/v1/ws").await;
    hello(&mut good).await;
    let mut bad = connect(&server, "/v1/ws").await;
    hello(&mut bad).await;
    bad.send(Message::Text("{\"type\":".into())).await.unwrap();
    assert_eq!(recv(&mut bad).await["code"], "bad_message");
    bad.send(Message::Binary(vec![0u8; 10].into())).await.unwrap();
    assert_eq!(close_of(&mut bad).await.0, 1003);
    send(&mut good, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut good).await["type"], "pong");
    server.shutdown().await;
}

#[tokio::test]
async fn peerjs_clients_open_relay_and_collide_like_on_the_peerjs_server() {
    let server = hub(Limits::default()).await;
    let id = http_get(&server, "/peerjs/id").await;
    assert_eq!(id.0, 200);
    assert!(!id.1.is_empty());
    let mut a = connect(&server, "/peerjs?key=peerjs&id=alice&token=t1").await;
    assert_eq!(recv(&mut a).await, json!({"type": "OPEN"}));
    let mut b = connect(&server, "/peerjs?key=peerjs&id=bob&token=t2").await;
    assert_eq!(recv(&mut b).await, json!({"type": "OPEN"}));
    send(&mut a, json!({"type": "OFFER", "dst": "bob", "payload": {"sdp": "x"}})).await;
    assert_eq!(recv(&mut b).await, json!({"type": "OFFER", "src": "alice", "dst": "bob", "payload": {"sdp": "x"}}));
    let mut thief = connect(&server, "/peerjs?key=peerjs&id=alice&token=other").await;
    assert_eq!(recv(&mut thief).await, json!({"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}));
    assert_eq!(http_get(&server, "/peerjs/peers").await.0, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn health_and_metrics_report_without_contents() {
    let server = hub(Limits::default()).await;
    let mut a = connect(&server, "/v1/ws").await;
    hello(&mut a).await;
    let (status, body) = http_get(&server, "/health").await;
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["connections"], 1);
    let (status, text) = http_get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("p2pos_hub_connections 1"), "{text}");
    assert!(text.contains("p2pos_hub_refusals_total{reason=\"rate_limited\"} 0"));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_going_away_to_every_client() {
    let server = hub(Limits::default()).await;
    let mut a = connect(&server, "/v1/ws").await;
    hello(&mut a).await;
    let mut p = connect(&server, "/peerjs?key=peerjs&id=x&token=y").await;
    recv(&mut p).await;
    server.shutdown().await;
    assert_eq!(close_of(&mut a).await, (u16::from(CloseCode::Away), "hub shutting down".to_string()));
    assert_eq!(close_of(&mut p).await.0, 1001);
}

/// A minimal HTTP/1.1 GET over a raw socket: status and body.
async fn http_get(server: &SignalServer, path: &str) -> (u16, String) {
    let (status, _, body) = http_request(server, path, "localhost", &[]).await;
    (status, body)
}

/// A GET with a `Host` and more headers: status, response headers (lower-case names) and body.
async fn http_request(
    server: &SignalServer,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // Bodies here are small; hyper may still send them chunked.
    let body = if body.contains("\r\n") && !body.starts_with('{') && !body.starts_with('[') {
        body.split("\r\n").nth(1).unwrap_or_default().to_string()
    } else {
        body.to_string()
    };
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A WebSocket to `/v1/ws` from a page of `origin` (its `Origin` header).
async fn connect_page(server: &SignalServer, origin: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/v1/ws", server.local_addr()).into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    connect_async(request).await.unwrap().0
}

/// What `GET /v1/beacon` hands a page of `origin`.
async fn beacon_token(server: &SignalServer, origin: &str) -> String {
    let host = server.local_addr().to_string();
    let (status, _, body) = http_request(server, "/v1/beacon", &host, &[("Origin", origin)]).await;
    assert_eq!(status, 200, "{body}");
    let grant: Value = serde_json::from_str(&body).unwrap();
    grant["token"].as_str().unwrap().to_string()
}

async fn hub_with(config: ServerConfig) -> SignalServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    SignalServer::start(listener, config, axum::Router::new()).unwrap()
}

#[tokio::test]
async fn thousands_of_half_open_sockets_are_bounded_and_timed_out() {
    use tokio::io::AsyncReadExt;
    let config = ServerConfig { header_timeout: Duration::from_secs(1), max_pending_http: 64, ..Default::default() };
    let server = hub_with(config).await;
    let mut before = connect(&server, "/v1/ws").await;
    hello(&mut before).await;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    // An established client is unaffected while they hang around.
    send(&mut before, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut before).await["type"], "pong");
    // Every one of them is closed by the hub: at once beyond the pending cap, else at the deadline.
    for (i, mut socket) in idle.into_iter().enumerate() {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("socket {i} was never closed"));
        assert!(matches!(read, Ok(0) | Err(_)), "the hub sent data to a silent socket: {read:?}");
    }
    let mut after = connect(&server, "/v1/ws").await;
    hello(&mut after).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_is_closed_without_hurting_the_sender() {
    let limits = Limits { rate_per_sec: 0.0, ..Limits::default() };
    let server = hub(limits).await;
    // Pages of the hub, with a beacon token for the rendezvous name.
    let page = format!("http://{}", server.local_addr());
    let mut fast = connect_page(&server, &page).await;
    let mut slow = connect_page(&server, &page).await;
    hello(&mut fast).await;
    let slow_peer = hello(&mut slow).await;
    let token = beacon_token(&server, &page).await;
    send(&mut fast, json!({"type": "join", "ns": "rv:x", "beacon": token})).await;
    recv(&mut fast).await;
    send(&mut slow, json!({"type": "join", "ns": "rv:x", "beacon": token})).await;
    recv(&mut slow).await;
    recv(&mut fast).await; // presence of slow
    let payload = "y".repeat(12_000);
    // `slow` never reads: its socket buffers fill, then its queue at the hub, then the hub drops it.
    let mut unavailable = false;
    for _ in 0..20_000 {
        send(&mut fast, json!({"type": "signal", "to": slow_peer, "payload": {"pad": payload}})).await;
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_millis(0), fast.next()).await {
            let v: Value = serde_json::from_str(&t).unwrap();
            unavailable |= v["code"] == "peer_unavailable";
        }
        if unavailable {
            break;
        }
    }
    assert!(unavailable, "the slow reader should have been dropped");
    send(&mut fast, json!({"type": "ping"})).await;
    loop {
        if recv(&mut fast).await["type"] == "pong" {
            break;
        }
    }
    // When it reads again it finds what was buffered, then the end of the connection.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = slow.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    });
    assert!(ended.await.is_ok(), "the slow reader's connection was not closed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let server = hub(Limits::default()).await;
    let mut a = connect(&server, "/v1/ws").await;
    hello(&mut a).await;
    a.close(None).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), a.next()).await.expect("no reply");
    assert!(matches!(reply, Some(Ok(Message::Close(_)))), "a clean close needs the hub's close frame: {reply:?}");
    server.shutdown().await;
}

/// `hello`, then the welcome's challenge.
async fn challenge(ws: &mut Ws) -> String {
    send(ws, json!({"type": "hello", "v": 1})).await;
    let welcome = recv(ws).await;
    welcome["challenge"].as_str().unwrap().to_string()
}

async fn auth(ws: &mut Ws, who: &p2pos_core::Identity, message: &str) -> Value {
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD.encode(who.sign(message.as_bytes()).to_bytes());
    send(ws, json!({"type": "auth", "id": who.id(), "sig": sig})).await;
    recv(ws).await
}

#[tokio::test]
async fn a_login_signed_for_another_hub_is_refused() {
    let server = hub(Limits::default()).await;
    let alice = p2pos_core::Identity::generate().unwrap();
    let mut ws = connect(&server, "/v1/ws").await;
    let challenge = challenge(&mut ws).await;
    // A rogue hub passes this hub's challenge on to Alice: she signs it for the hub she talks to.
    let relayed = auth(&mut ws, &alice, &format!("p2pos-hub-auth-v2|https://rogue.example|{challenge}")).await;
    assert_eq!((relayed["type"].as_str(), relayed["code"].as_str()), (Some("error"), Some("auth_failed")));
    // A signature that names no hub at all (the old message) would serve any hub: refused.
    let unbound = auth(&mut ws, &alice, &format!("p2pos-hub-auth-v1|{challenge}")).await;
    assert_eq!((unbound["type"].as_str(), unbound["code"].as_str()), (Some("error"), Some("auth_failed")));
    // Signed for the hub Alice really reached (the origin of ws://127.0.0.1:<port>): accepted.
    let origin = format!("http://{}", server.local_addr());
    let good = auth(&mut ws, &alice, &format!("p2pos-hub-auth-v2|{origin}|{challenge}")).await;
    assert_eq!(good["type"], "authed", "{good}");
    server.shutdown().await;
}

#[tokio::test]
async fn with_a_public_url_a_login_must_name_it_whatever_the_host_header_says() {
    let config = ServerConfig { public_urls: vec!["wss://hub.example.org/v1/ws".into()], ..Default::default() };
    let server = hub_with(config).await;
    let alice = p2pos_core::Identity::generate().unwrap();
    let mut ws = connect(&server, "/v1/ws").await;
    let challenge = challenge(&mut ws).await;
    // The Host header says 127.0.0.1:<port>, which anyone connecting can write: not enough here.
    let by_host = auth(&mut ws, &alice, &format!("p2pos-hub-auth-v2|http://{}|{challenge}", server.local_addr())).await;
    assert_eq!(by_host["code"], "auth_failed", "{by_host}");
    let good = auth(&mut ws, &alice, &format!("p2pos-hub-auth-v2|https://hub.example.org|{challenge}")).await;
    assert_eq!(good["type"], "authed", "{good}");
    server.shutdown().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = ServerConfig { public_urls: vec!["hub.example.org".into()], ..Default::default() };
    assert!(SignalServer::start(listener, bad, axum::Router::new()).is_err(), "a public URL needs a scheme");
}

#[tokio::test]
async fn pages_of_the_hub_get_beacon_tokens_that_other_origins_can_neither_read_nor_use() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let alt = format!("http://[::1]:{port}");
    let hub = HubConfig { alt_origins: vec![format!("ws://[::1]:{port}/v1/ws")], ..Default::default() };
    let server =
        SignalServer::start(listener, ServerConfig { hub, ..Default::default() }, axum::Router::new()).unwrap();
    let host = server.local_addr().to_string();
    let page = format!("http://{host}");
    let spam = "https://spam.example";

    let (status, headers, body) = http_request(&server, "/v1/beacon", &host, &[("Origin", &page)]).await;
    assert_eq!(status, 200);
    let grant: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((grant["slot_secs"].as_u64(), grant["alt_origins"].clone()), (Some(600), json!([alt])), "{grant}");
    let expires = grant["expires_in_secs"].as_u64().unwrap();
    assert!((600..=1200).contains(&expires), "{expires}");
    assert_eq!(header(&headers, "access-control-allow-origin"), None, "no CORS: other origins cannot read it");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let token = grant["token"].as_str().unwrap().to_string();
    let (status, _, body) = http_request(&server, "/v1/beacon", &host, &[("Origin", spam)]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("foreign_origin"), "{body}");
    // The web app's pages send neither Origin nor Referer on this GET; they name their origin.
    let named = format!("/v1/beacon?origin={page}");
    let (status, _, body) = http_request(&server, &named, &host, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["token"], json!(token), "same slot, same origin");

    // The page's socket joins network with it; a page of another site with the same token is closed.
    let mut ws = connect_page(&server, &page).await;
    hello(&mut ws).await;
    send(&mut ws, json!({"type": "join", "ns": "network", "beacon": token})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    let mut foreign = connect_page(&server, spam).await;
    hello(&mut foreign).await;
    send(&mut foreign, json!({"type": "join", "ns": "rv:abc", "beacon": token})).await;
    assert_eq!(close_of(&mut foreign).await, (4012, "beacon token made for another origin".to_string()));
    let mut bare = connect(&server, "/v1/ws").await;
    hello(&mut bare).await;
    send(&mut bare, json!({"type": "join", "ns": "network"})).await;
    assert_eq!(close_of(&mut bare).await.0, 4012);
    let (_, _, metrics) = http_request(&server, "/metrics", &host, &[]).await;
    assert!(metrics.contains("p2pos_hub_refusals_total{reason=\"beacon\"} 2"), "{metrics}");

    // Network proofs: readable by the hub's own origins only.
    let (status, headers, body) = http_request(&server, "/v1/network-proof", &host, &[("Origin", &alt)]).await;
    assert_eq!(status, 200);
    let proof: Value = serde_json::from_str(&body).unwrap();
    assert!(proof["proof"].as_str().unwrap().starts_with("n1."), "{proof}");
    assert!(proof["proof"].as_str().unwrap().contains(".127.0.0.1."), "{proof}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(alt.as_str()));
    assert_eq!(header(&headers, "vary"), Some("Origin"));
    let (_, headers, _) = http_request(&server, "/v1/network-proof", &host, &[("Origin", spam)]).await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    server.shutdown().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = HubConfig { alt_origins: vec!["[::1]:7800".into()], ..Default::default() };
    let config = ServerConfig { hub: bad, ..Default::default() };
    assert!(SignalServer::start(listener, config, axum::Router::new()).is_err(), "an alt origin needs a scheme");
}

#[tokio::test]
async fn peerjs_id_and_peers_reflect_the_origin_like_the_peer_server() {
    let server = hub(Limits::default()).await;
    let host = server.local_addr().to_string();
    let app = "http://127.0.0.1:9";
    for path in ["/peerjs/id", "/peerjs/peers"] {
        let (_, headers, _) = http_request(&server, path, &host, &[("Origin", app)]).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), Some(app), "{path}");
        assert_eq!(header(&headers, "vary"), Some("Origin"), "{path}");
        let (_, headers, _) = http_request(&server, path, &host, &[]).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None, "{path}: no Origin, nothing to reflect");
    }
    server.shutdown().await;
}
