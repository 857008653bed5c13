//! Replication benchmarks (ignored by `cargo test`; `bench/replication.sh` runs them in release):
//! - throughput of 1 GiB in 4 MiB blobs between two node processes over WebRTC and over HTTP,
//!   on loopback;
//! - catch-up of a node that was offline while 100 records changed, in vaults of 10,000 and
//!   100,000 photos: time, requests and bytes on the wire (HTTP bodies, from the nodes' metrics).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::family::*;
use common::*;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

#[test]
#[ignore = "benchmark: run bench/replication.sh"]
fn bench_replication_throughput() {
    let mib: usize = std::env::var("P2POS_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let blobs = mib / 4;
    println!("replication throughput: {blobs} blobs of 4 MiB ({mib} MiB), loopback, two node processes");
    for (label, flags) in [("WebRTC", "--no-http"), ("HTTP", "--no-webrtc")] {
        let hub = start_hub();
        let oak = Member::start("Oak", &hub, &[flags]);
        let pine = Member::start("Pine", &hub, &[flags]);
        let (mut family, cookie) = Family::found(&oak);
        let mut bytes = 0u64;
        for n in 0..blobs {
            family.upload(&oak, &cookie, n, 4 * 1024 * 1024 - 4096);
            bytes += 4 * 1024 * 1024;
        }
        enroll(&oak, &pine);
        let start = Instant::now();
        wait_for("Pine to hold every blob", Duration::from_secs(1800), || {
            pine.metric("p2pos_node_blobs") as usize == blobs
        });
        let elapsed = start.elapsed();
        let pine_cookie = login(&pine.node.addr, &family.me);
        let (_, status) = get_json(&pine.node.addr, "/v1/replication/status", Some(&pine_cookie));
        println!(
            "  {label:6} {:6.1} s  {:7.1} MB/s  (path: {})",
            elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64(),
            status["peers"][0]["path"]
        );
    }
}

fn armored(recipient: &p2pos_core::age::x25519::Recipient, plain: &[u8]) -> String {
    String::from_utf8(agefile::encrypt_to(std::slice::from_ref(recipient), Armor::Yes, plain, Vec::new()).unwrap())
        .unwrap()
}

/// Signed records of a family with `photos` photos, each with its own encrypted meta (as real
/// photos have), the photos' (tiny) blobs, and the album's recipient.
type BigVault = (Vec<SignedRecord>, Vec<(BlobId, Vec<u8>)>, p2pos_core::age::x25519::Recipient);

fn big_vault(me: &Identity, photos: usize) -> BigVault {
    let album_key = p2pos_core::age::x25519::Identity::generate();
    let recipient = album_key.to_public();
    let armored = |plain: &[u8]| armored(&recipient, plain);
    let meta = armored(br#"{"name":"IMG_0001.jpg","type":"image/jpeg"}"#);
    let mut hlc = 1000;
    let mut sign = |mut body: Value| {
        hlc += 1;
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": hlc, "counter": 0});
        SignedRecord::sign(me, &body).unwrap()
    };
    let mut records = vec![
        sign(json!({"type": "family"})),
        sign(
            json!({"type": "member", "member": me.id(), "role": "admin", "recipient": me.recipient().to_string(), "removed": false}),
        ),
        sign(
            json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": recipient.to_string(), "meta": meta, "deleted": false}),
        ),
        sign(json!({"type": "grant", "album": ALBUM, "member": me.id(), "epoch": 1, "key": meta, "revoked": false})),
    ];
    let mut blobs = Vec::with_capacity(photos);
    for n in 0..photos {
        let bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
        let blob = BlobId::of(&bytes);
        let meta = armored(format!(r#"{{"name":"IMG_{n:05}.jpg","type":"image/jpeg"}}"#).as_bytes());
        records.push(sign(json!({"type": "photo", "photo": photo_id(n), "album": ALBUM, "epoch": 1, "blob": blob,
            "size": 64, "thumb": null, "thumb_size": null, "meta": meta, "deleted": false})));
        blobs.push((blob, bytes));
    }
    (records, blobs, recipient)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status =
        std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status().unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "benchmark: run bench/replication.sh"]
fn bench_catch_up_after_offline() {
    const CHANGES: usize = 100;
    println!("catch-up after offline: {CHANGES} changed photo records, HTTP, loopback");
    for photos in [10_000, 100_000] {
        let me = Identity::generate().unwrap();
        let (records, blobs, recipient) = big_vault(&me, photos);
        let oak_dir = tempfile::tempdir().unwrap();
        let pine_dir = tempfile::tempdir().unwrap();
        p2pos_node::bulk::import(oak_dir.path(), &records, &blobs).unwrap();
        // Pine starts as an exact copy of Oak's vault, with its own node key.
        copy_dir(oak_dir.path(), pine_dir.path());
        let _ = std::fs::remove_file(pine_dir.path().join("node.key"));
        let (oak_port, pine_port) = (free_port(), free_port());
        let head = records.len() as i64;
        {
            use p2pos_node::enroll::{DataDir, pin};
            use p2pos_node::replication::PeerInfo;
            let oak = DataDir::open(oak_dir.path()).unwrap();
            let pine = DataDir::open(pine_dir.path()).unwrap();
            let url = |port: u16| Some(format!("http://127.0.0.1:{port}"));
            pin(
                &oak.db,
                &PeerInfo { node: pine.node_id(), name: "Pine".into(), base_url: url(pine_port), added_ms: 1 },
            )
            .unwrap();
            pin(&pine.db, &PeerInfo { node: oak.node_id(), name: "Oak".into(), base_url: url(oak_port), added_ms: 1 })
                .unwrap();
            for db in [&oak.db, &pine.db] {
                db.execute("UPDATE peers SET records_cursor = ?1, blobs_cursor = ?2", [head, photos as i64]).unwrap();
                db.execute(
                    "INSERT INTO peer_blobs (node_id, id) SELECT (SELECT node_id FROM peers), id FROM blobs",
                    [],
                )
                .unwrap();
            }
        }
        let args = |port: u16, name: &str| {
            vec![
                "--listen".to_string(),
                format!("127.0.0.1:{port}"),
                "--public-url".into(),
                format!("http://127.0.0.1:{port}"),
                "--name".into(),
                name.into(),
                "--no-webrtc".into(),
                "--sync-interval-secs".into(),
                "1".into(),
            ]
        };
        let as_strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
        let oak_args = as_strs(&args(oak_port, "Oak"));
        let mut oak = start_with(oak_dir.path(), &oak_args.iter().map(String::as_str).collect::<Vec<_>>());
        let cookie = login(&oak.addr, &me);
        // While Pine is offline, 100 photos get new captions at Oak.
        let mut hlc = common::now_ms();
        for n in 0..CHANGES {
            hlc += 1;
            let mut body = serde_json::from_slice::<Value>(
                &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &records[4 + n].body).unwrap(),
            )
            .unwrap();
            body["hlc"] = json!({"wall_ms": hlc, "counter": 0});
            let caption = format!(r#"{{"name":"IMG_{n:05}.jpg","type":"image/jpeg","caption":"Lake, day {n}"}}"#);
            body["meta"] = json!(armored(&recipient, caption.as_bytes()));
            let record = serde_json::to_value(SignedRecord::sign(&me, &body).unwrap()).unwrap();
            assert_eq!(json_post(&oak.addr, "/v1/records", Some(&cookie), record).0, 200);
        }
        let metric = |addr: &str, name: &str| -> u64 {
            let (_, _, raw) = http(addr, "GET", "/metrics", None, "text/plain", b"").unwrap();
            String::from_utf8(raw)
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.trim().parse().ok()))
                .unwrap_or(0)
        };
        let before = |n| metric(&oak.addr, n);
        let (req0, in0, out0) = (
            before("p2pos_node_peer_requests_total"),
            before("p2pos_node_peer_rpc_bytes_in_total"),
            before("p2pos_node_peer_rpc_bytes_out_total"),
        );
        let target = metric(&oak.addr, "p2pos_node_records");
        let pine_args = as_strs(&args(pine_port, "Pine"));
        let mut pine = start_with(pine_dir.path(), &pine_args.iter().map(String::as_str).collect::<Vec<_>>());
        let start = Instant::now();
        while metric(&pine.addr, "p2pos_node_records") < target {
            assert!(start.elapsed() < Duration::from_secs(120), "Pine never caught up");
            std::thread::sleep(Duration::from_millis(5));
        }
        let elapsed = start.elapsed();
        let after = |n| metric(&oak.addr, n);
        let (requests, bytes_in, bytes_out) = (
            after("p2pos_node_peer_requests_total") - req0,
            after("p2pos_node_peer_rpc_bytes_in_total") - in0,
            after("p2pos_node_peer_rpc_bytes_out_total") - out0,
        );
        println!(
            "  {photos:>7} photos: caught up in {:5.0} ms, {requests} requests, {:.1} KB sent by Oak, {:.1} KB received",
            elapsed.as_secs_f64() * 1000.0,
            bytes_out as f64 / 1000.0,
            bytes_in as f64 / 1000.0
        );
        for node in [&mut oak, &mut pine] {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}
