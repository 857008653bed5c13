//! Upload throughput of a node against `dd` on the same disk.
//!
//! `cargo run --release -p p2pos-node --example upload_bench -- [DIR] [MIB]` (defaults: a temp dir
//! under the current directory, 1024 MiB). Uploads MIB of ciphertext as 4 MiB blobs over loopback
//! HTTP (one stream, then 4 in parallel), each durable before it is acknowledged, then writes the
//! same files with `dd … conv=fsync`, and prints MB/s for each and the ratio.

// A benchmark: any failure should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Instant;

use base64::Engine as _;
use p2pos_core::{BlobId, Identity, SignedRecord};
use p2pos_node::{Node, NodeConfig, login_message};
use serde_json::{Value, json};

const BLOB: usize = 4 << 20;
const ORIGIN: &str = "http://127.0.0.1";

fn http(addr: &str, method: &str, path: &str, cookie: &str, ctype: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nCookie: {cookie}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().expect("status");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().split(';').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    (status, cookie, raw[split + 4..].to_vec())
}

fn post(addr: &str, path: &str, cookie: &str, body: Value) -> (u16, String, Value) {
    let (status, cookie, raw) = http(addr, "POST", path, cookie, "application/json", body.to_string().as_bytes());
    (status, cookie, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

fn blobs(total_mib: usize) -> Vec<(BlobId, Vec<u8>)> {
    (0..total_mib / 4)
        .map(|i| {
            let mut bytes = vec![0u8; BLOB];
            blake3::Hasher::new().update(&(i as u64).to_le_bytes()).finalize_xof().fill(&mut bytes);
            (BlobId::of(&bytes), bytes)
        })
        .collect()
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let total_mib: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let work = tempfile::tempdir_in(&dir)?;
    let data = blobs(total_mib);
    let bytes = data.len() * BLOB;
    println!("{} blobs of 4 MiB ({} MiB) in {}", data.len(), bytes >> 20, work.path().display());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let node = runtime.block_on(Node::bind(NodeConfig::new("127.0.0.1:0".parse()?, work.path().join("node"))))?;
    let addr = node.local_addr()?.to_string();
    let code = node.state().setup_code().ok_or("no setup code")?;
    runtime.spawn(node.run(std::future::pending()));

    let me = Identity::generate()?;
    let sign = |n: u64, mut body: Value| {
        body["v"] = json!(1);
        body["family"] = json!("benchfamilyaaaaaaaaaaaaaaa");
        body["hlc"] = json!({"wall_ms": n, "counter": 0});
        serde_json::to_value(SignedRecord::sign(&me, &body).expect("sign")).expect("json")
    };
    let member = json!({"type": "member", "member": me.id(), "role": "admin", "recipient": me.recipient().to_string(), "removed": false});
    post(
        &addr,
        "/v1/setup",
        "",
        json!({"code": code, "records": [sign(1, json!({"type": "family"})), sign(2, member)]}),
    );
    let (_, _, c) = post(&addr, "/v1/auth/challenge", "", json!({"identity": me.id()}));
    let nonce = c["nonce"].as_str().ok_or("nonce")?;
    let msg = login_message(ORIGIN, nonce, c["expires_ms"].as_u64().ok_or("expiry")?);
    let sig = base64::engine::general_purpose::STANDARD.encode(me.sign(msg.as_bytes()).to_bytes());
    let (_, cookie, _) = post(&addr, "/v1/auth/verify", "", json!({"identity": me.id(), "nonce": nonce, "sig": sig}));

    let half = data.len() / 2;
    let t = Instant::now();
    for (id, body) in &data[..half] {
        let (status, ..) = http(&addr, "PUT", &format!("/v1/blobs/{id}"), &cookie, "application/octet-stream", body);
        assert_eq!(status, 201);
    }
    let one_stream = mb_per_s(half * BLOB, t.elapsed().as_secs_f64());
    let t = Instant::now();
    std::thread::scope(|s| {
        for chunk in data[half..].chunks(data[half..].len().div_ceil(4)) {
            let (addr, cookie) = (&addr, &cookie);
            s.spawn(move || {
                for (id, body) in chunk {
                    let (status, ..) =
                        http(addr, "PUT", &format!("/v1/blobs/{id}"), cookie, "application/octet-stream", body);
                    assert_eq!(status, 201);
                }
            });
        }
    });
    let four_streams = mb_per_s((data.len() - half) * BLOB, t.elapsed().as_secs_f64());

    // dd: the same files, each written with fsync, like the node does.
    let dd_dir = work.path().join("dd");
    std::fs::create_dir_all(&dd_dir)?;
    let source = work.path().join("source");
    std::fs::write(&source, &data[0].1)?;
    let t = Instant::now();
    for i in 0..data.len() {
        let status = std::process::Command::new("dd")
            .arg(format!("if={}", source.display()))
            .arg(format!("of={}", dd_dir.join(i.to_string()).display()))
            .args(["bs=4M", "conv=fsync", "status=none"])
            .status()?;
        assert!(status.success());
    }
    let dd = mb_per_s(bytes, t.elapsed().as_secs_f64());
    // And the most favourable case for dd: one big file, one fsync at the end.
    let t = Instant::now();
    let status = std::process::Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", dd_dir.join("big").display()))
        .arg("bs=4M")
        .arg(format!("count={}", data.len()))
        .args(["conv=fsync", "status=none"])
        .status()?;
    assert!(status.success());
    let dd_one = mb_per_s(bytes, t.elapsed().as_secs_f64());
    println!("node, 1 stream:  {one_stream:8.1} MB/s ({:.0} % of dd)", 100.0 * one_stream / dd);
    println!("node, 4 streams: {four_streams:8.1} MB/s ({:.0} % of dd)", 100.0 * four_streams / dd);
    println!("dd conv=fsync:   {dd:8.1} MB/s (the same 4 MiB files, one dd process and fsync each)");
    println!(
        "dd one file:     {dd_one:8.1} MB/s (1 file, 1 fsync: node 1 stream = {:.0} % of it)",
        100.0 * one_stream / dd_one
    );
    Ok(())
}
