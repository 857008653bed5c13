//! Kill -9 during uploads: every upload the node acknowledged is there and verifies, no partial
//! blob is ever visible, and the node restarts cleanly, round after round.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

const ROUNDS: usize = 20;
const UPLOADS: usize = 50;
const ORIGIN: &str = "http://127.0.0.1";

struct Node {
    child: Child,
    addr: String,
    setup_code: Option<String>,
}

// The child is handed to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn start(data: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["node", "--listen", "127.0.0.1:0", "--web-dir", "/nonexistent", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
            return Node { child, addr: url.trim().to_string(), setup_code };
        }
    }
}

/// One HTTP/1.1 request on a fresh connection: status, Set-Cookie, body.
fn http(
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

fn json_post(addr: &str, path: &str, cookie: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
    let (status, set_cookie, raw) =
        http(addr, "POST", path, cookie, "application/json", body.to_string().as_bytes()).unwrap();
    (status, set_cookie, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

fn claim_and_login(node: &Node, me: &Identity) -> String {
    let record = |n: u64, mut body: Value| {
        body["v"] = json!(1);
        body["family"] = json!("crashfamilyaaaaaaaaaaaaaaa");
        body["hlc"] = json!({"wall_ms": n, "counter": 0});
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

/// Every file under blobs/ is complete: its BLAKE3 is its name.
fn every_visible_blob_verifies(data: &Path) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(data.join("blobs")).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            assert_eq!(BlobId::of(&bytes).to_string(), name, "a partial or corrupt blob is visible");
            count += 1;
        }
    }
    count
}

#[test]
fn sigkill_during_concurrent_uploads_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let me = Identity::generate().unwrap();
    let mut node = start(data.path());
    let cookie = claim_and_login(&node, &me);
    let mut acknowledged: Vec<BlobId> = Vec::new();
    for round in 0..ROUNDS {
        let addr = node.addr.clone();
        let ready = std::sync::Arc::new(std::sync::Barrier::new(UPLOADS + 1));
        let uploads: Vec<_> = (0..UPLOADS)
            .map(|i| {
                let (addr, cookie, ready) = (addr.clone(), cookie.clone(), ready.clone());
                // Sizes from 64 KiB to about 1 MiB, all different.
                let bytes: Vec<u8> =
                    (0..(64 * 1024 + i * 20_011 + round * 7)).map(|j| (j * 31 + i + round) as u8).collect();
                std::thread::spawn(move || {
                    let id = BlobId::of(&bytes);
                    ready.wait();
                    let reply = http(
                        &addr,
                        "PUT",
                        &format!("/v1/blobs/{id}"),
                        Some(&cookie),
                        "application/octet-stream",
                        &bytes,
                    );
                    matches!(reply, Ok((200 | 201, _, _))).then_some(id)
                })
            })
            .collect();
        ready.wait();
        // Kill at a different moment each round, while uploads are in flight.
        std::thread::sleep(Duration::from_millis(20 + (round as u64 * 37) % 200));
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        acknowledged.extend(uploads.into_iter().filter_map(|u| u.join().unwrap()));
        let visible = every_visible_blob_verifies(data.path());
        for id in &acknowledged {
            let hex = id.to_string();
            assert!(
                data.path().join("blobs").join(&hex[..2]).join(&hex).is_file(),
                "round {round}: acknowledged {id} is missing"
            );
        }
        assert!(visible >= acknowledged.len());
        node = start(data.path());
        let (status, _, _) = http(&node.addr, "GET", "/v1/auth/me", Some(&cookie), "application/json", b"").unwrap();
        assert_eq!(status, 200, "round {round}: the node restarted with its sessions");
    }
    assert!(!acknowledged.is_empty(), "some uploads must have completed between kills");
    node.child.kill().unwrap();
    let _ = node.child.wait();
    eprintln!("{} uploads acknowledged over {ROUNDS} rounds of SIGKILL", acknowledged.len());
}
