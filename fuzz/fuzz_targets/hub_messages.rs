//! Arbitrary text frames from two native peers and two PeerJS peers: the hub must never panic,
//! and must only ever answer connections that exist.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use p2pos_signal::{Hub, HubConfig, Output, Protocol};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let start = Instant::now();
    let mut hub = Hub::new(HubConfig::default(), start, 1_800_000_000, [3; 32]);
    let ip = "192.0.2.1".parse().expect("literal ip");
    let peerjs = |id: &str| Protocol::PeerJs { key: "peerjs".into(), id: id.into(), token: "t".into() };
    let conns = [
        hub.connect(ip, Protocol::Native, start),
        hub.connect(ip, Protocol::Native, start),
        hub.connect(ip, peerjs("a"), start),
        hub.connect(ip, peerjs("b"), start),
    ];
    let conns: Vec<_> = conns.into_iter().flatten().collect();
    for conn in &conns[..2] {
        hub.receive(*conn, r#"{"type":"hello","v":1}"#, start);
    }
    // Each line goes to the connection chosen by its first byte, a millisecond apart.
    for (i, line) in text.lines().enumerate() {
        let conn = conns[line.bytes().next().unwrap_or(0) as usize % conns.len()];
        let now = start + Duration::from_millis(i as u64);
        hub.receive(conn, line, now);
        hub.handle_timeout(now);
        while let Some(out) = hub.poll_output() {
            let target = match out {
                Output::Send { conn, .. } | Output::Ping { conn } | Output::Close { conn, .. } => conn,
            };
            assert!(conns.contains(&target), "output for an unknown connection");
        }
    }
    for conn in conns {
        hub.disconnected(conn, start);
    }
    assert_eq!(hub.connection_count(), 0);
});
