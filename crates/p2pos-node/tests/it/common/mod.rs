//! What the node's integration tests share: one node on a real data dir driven with `oneshot`,
//! signing in as a member, and records signed with a clock that moves forward.
//!
//! Each test file uses part of it, so the rest is dead code there.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::BodyExt;
use p2pos_core::{Identity, SignedRecord};
use p2pos_node::{AppState, NodeConfig, login_message, router};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The web app's origin in every test.
pub const ORIGIN: &str = "http://127.0.0.1:7700";
pub const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
pub const SUMMER: &str = "summeraaaaaaaaaaaaaaaaaaaa";
pub const WINTER: &str = "winteraaaaaaaaaaaaaaaaaaaa";
/// An armored age file's shape (the node never decrypts it).
pub const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The status and the error code of the JSON body.
    pub fn error(&self) -> (StatusCode, String) {
        (self.status, self.json()["error"].as_str().unwrap_or_default().to_string())
    }

    /// The `Cookie` header value of the session the response set, if it set one.
    pub fn cookie(&self) -> Option<String> {
        self.headers.get(header::SET_COOKIE).map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
    }
}

/// Runs `request` through the node's router.
pub async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}

/// A JSON request from the web app's origin, as it arrives from `from` over TCP (the node's
/// server adds the peer address; `None` is a test's `oneshot`).
pub fn request(
    method: &str,
    path: &str,
    cookie: Option<&str>,
    from: Option<SocketAddr>,
) -> axum::http::request::Builder {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(addr) = from {
        req = req.extension(ConnectInfo(addr));
    }
    req
}

/// A login with a valid signature from `from`, whatever the node answers.
pub async fn try_login_from(state: &AppState, who: &Identity, from: Option<SocketAddr>) -> Reply {
    let challenge = json!({"identity": who.id()}).to_string();
    let c = send(state, request("POST", "/v1/auth/challenge", None, from).body(Body::from(challenge)).unwrap()).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.json());
    let c = c.json();
    let nonce = c["nonce"].as_str().unwrap();
    let message = login_message(ORIGIN, nonce, c["expires_ms"].as_u64().unwrap());
    let sig = B64.encode(who.sign(message.as_bytes()).to_bytes());
    let verify = json!({"identity": who.id(), "nonce": nonce, "sig": sig}).to_string();
    send(state, request("POST", "/v1/auth/verify", None, from).body(Body::from(verify)).unwrap()).await
}

/// A login with a valid signature, whatever the node answers.
pub async fn try_login(state: &AppState, who: &Identity) -> Reply {
    try_login_from(state, who, None).await
}

/// Signs in `who` (who must be a member) and returns the `Cookie` header value.
pub async fn login(state: &AppState, who: &Identity) -> String {
    let reply = try_login(state, who).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    reply.cookie().unwrap()
}

/// Signs records of the test family with a clock that moves forward from where it starts.
pub struct Clock(pub u64);

impl Clock {
    pub fn record(&mut self, who: &Identity, mut body: Value) -> Value {
        self.0 += 1;
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": self.0, "counter": 0});
        serde_json::to_value(SignedRecord::sign(who, &body).unwrap()).unwrap()
    }
}

/// A current member's record.
pub fn member(who: &Identity, role: &str) -> Value {
    member_record(who, role, false)
}

pub fn member_record(who: &Identity, role: &str, removed: bool) -> Value {
    json!({"type": "member", "member": who.id(), "role": role, "recipient": who.recipient().to_string(), "removed": removed})
}

/// One node on a fresh data dir, with a clock to sign records by.
pub struct Node {
    pub state: AppState,
    pub data: tempfile::TempDir,
    pub clock: Clock,
}

impl Node {
    /// A node with the default configuration, as `tweak` changes it; records are signed from now.
    pub async fn new(tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
        tweak(&mut config);
        Self { state: AppState::open(config).await.unwrap(), data, clock: Clock(now_ms()) }
    }

    pub async fn call(&self, request: Request<Body>) -> Reply {
        send(&self.state, request).await
    }

    pub async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> Reply {
        self.call(request("POST", path, cookie, None).body(Body::from(body.to_string())).unwrap()).await
    }

    /// A plain GET (no origin, no content type), as a browser's image or link load sends it.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    pub async fn put_blob(&self, cookie: &str, id: &p2pos_core::BlobId, bytes: Vec<u8>, content_type: &str) -> Reply {
        let req = Request::put(format!("/v1/blobs/{id}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie)
            .body(Body::from(bytes))
            .unwrap();
        self.call(req).await
    }

    pub async fn try_login(&self, who: &Identity) -> Reply {
        try_login(&self.state, who).await
    }

    pub async fn login(&self, who: &Identity) -> String {
        login(&self.state, who).await
    }

    pub fn record(&mut self, who: &Identity, body: Value) -> Value {
        self.clock.record(who, body)
    }

    /// Founds the family with `admin` through the setup code, and signs it in.
    pub async fn founded(&mut self, admin: &Identity) -> String {
        let code = self.state.setup_code().expect("a fresh node has a setup code");
        let records = vec![self.record(admin, json!({"type": "family"})), self.record(admin, member(admin, "admin"))];
        let reply = self.post("/v1/setup", None, json!({"code": code, "records": records})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        self.login(admin).await
    }
}
