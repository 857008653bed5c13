//! Shared helpers for tests that run real `p2pos node` processes: start one, speak HTTP/1.1 to it
//! over a raw socket, claim it and sign in.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // not every test uses every helper

pub mod chatter;
pub mod family;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::{Identity, SignedRecord};
use serde_json::{Value, json};

pub const ORIGIN: &str = "http://127.0.0.1";

pub struct Node {
    pub child: Child,
    pub addr: String,
    pub setup_code: Option<String>,
}

pub fn start(data: &Path) -> Node {
    start_with(data, &["--listen", "127.0.0.1:0"])
}

/// A node with extra flags (`--listen` among them).
// The child is handed to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
pub fn start_with(data: &Path, args: &[&str]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["node", "--web-dir", "/nonexistent", "--data-dir"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", std::env::var("P2POS_TEST_LOG").unwrap_or_else(|_| "error".into()))
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("P2POS_TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut setup_code = None;
    loop {
        let line = lines.next().expect("the node exited before listening").unwrap();
        if let Some(code) = line.split("Setup code: ").nth(1) {
            setup_code = Some(code.trim().to_string());
        }
        if let Some(url) = line.split("listening on http://").nth(1) {
            // Keep draining stdout so the node never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Node { child, addr: url.trim().to_string(), setup_code };
        }
    }
}

/// A free TCP port on loopback (for a node whose public URL must be known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Hub {
    pub child: Child,
    /// `ws://127.0.0.1:port/v1/ws`
    pub url: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hub (`p2pos signal`) on a free loopback port.
pub fn start_hub() -> Hub {
    start_hub_with(&[])
}

/// A hub started with more `p2pos signal` options.
// The child is owned by `Hub`, whose drop kills and waits for it.
#[allow(clippy::zombie_processes)]
pub fn start_hub_with(args: &[&str]) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["signal", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the hub exited before listening").unwrap();
        if let Some(rest) = line.split("native: ").nth(1) {
            let url = rest.split(',').next().unwrap().trim().to_string();
            std::thread::spawn(move || for _ in lines {});
            return Hub { child, url };
        }
    }
}

/// Sign in to a node whose family already has `me` (no setup).
pub fn login(addr: &str, me: &Identity) -> String {
    let (_, _, c) = json_post(addr, "/v1/auth/challenge", None, json!({"identity": me.id()}));
    let nonce = c["nonce"].as_str().unwrap();
    let message = p2pos_node::login_message(ORIGIN, nonce, c["expires_ms"].as_u64().unwrap());
    let sig = B64.encode(me.sign(message.as_bytes()).to_bytes());
    let (status, cookie, body) =
        json_post(addr, "/v1/auth/verify", None, json!({"identity": me.id(), "nonce": nonce, "sig": sig}));
    assert_eq!(status, 200, "login: {body}");
    cookie.unwrap()
}

pub fn get_json(addr: &str, path: &str, cookie: Option<&str>) -> (u16, Value) {
    let (status, _, raw) = http(addr, "GET", path, cookie, "application/json", b"").unwrap();
    (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

/// One HTTP/1.1 request on a fresh connection: status, Set-Cookie, body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {ORIGIN}\r\n{cookie}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let set_cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .map(|c| c.split(';').next().unwrap_or_default().to_string());
    Ok((status, set_cookie, raw[split + 4..].to_vec()))
}

pub fn json_post(addr: &str, path: &str, cookie: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
    let (status, set_cookie, raw) =
        http(addr, "POST", path, cookie, "application/json", body.to_string().as_bytes()).unwrap();
    (status, set_cookie, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

/// The wall clock in ms: records are stamped with it (a node refuses clients' records stamped more
/// than a minute ahead of, or ten minutes behind, its own clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn claim_and_login(node: &Node, me: &Identity) -> String {
    let start = now_ms() - 60_000;
    let record = |n: u64, mut body: Value| {
        body["v"] = json!(1);
        body["family"] = json!("crashfamilyaaaaaaaaaaaaaaa");
        body["hlc"] = json!({"wall_ms": start + n, "counter": 0});
        serde_json::to_value(SignedRecord::sign(me, &body).unwrap()).unwrap()
    };
    let member = json!({"type": "member", "member": me.id(), "role": "admin", "recipient": me.recipient().to_string(), "removed": false});
    let setup = json!({"code": node.setup_code.clone().unwrap(), "records": [record(1, json!({"type": "family"})), record(2, member)]});
    assert_eq!(json_post(&node.addr, "/v1/setup", None, setup).0, 201);
    let (_, _, c) = json_post(&node.addr, "/v1/auth/challenge", None, json!({"identity": me.id()}));
    let nonce = c["nonce"].as_str().unwrap();
    let message = p2pos_node::login_message(ORIGIN, nonce, c["expires_ms"].as_u64().unwrap());
    let sig = B64.encode(me.sign(message.as_bytes()).to_bytes());
    let (status, cookie, _) =
        json_post(&node.addr, "/v1/auth/verify", None, json!({"identity": me.id(), "nonce": nonce, "sig": sig}));
    assert_eq!(status, 200);
    cookie.unwrap()
}
