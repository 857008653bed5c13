//! Crash/soak: three nodes, hundreds of photos uploaded across them while a random node is SIGKILLed and
//! restarted every few seconds. At the end every node has every record and every blob, every blob
//! verifies, and nothing any node acknowledged was lost.
//!
//! `P2POS_SOAK_SECS` sets how long the killing goes on: 40 s by default, which `make test` runs
//! (about 11 kills, 110 photos); `make soak` runs it for 180 s (about 50 kills, 495 photos).
//! Uploads are paced at 2.75 photos a second, 500 at most.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::family::*;
use common::*;
use p2pos_core::BlobId;

/// How long the killing goes on unless `P2POS_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 40;
/// The most photos a run uploads; a shorter run uploads fewer, at the same pace.
const MAX_PHOTOS: usize = 500;

/// Every blob file in a data dir, checked against its name.
fn blobs_on_disk(data: &std::path::Path) -> Vec<BlobId> {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(data.join("blobs")).unwrap().flatten() {
        if !shard.file_type().unwrap().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().to_string();
            if name.len() != 64 {
                continue; // temp files of interrupted writes are never visible as blobs
            }
            let bytes = std::fs::read(file.path()).unwrap();
            assert_eq!(BlobId::of(&bytes).to_string(), name, "a stored blob does not match its name");
            found.push(BlobId::of(&bytes));
        }
    }
    found
}

#[test]
fn three_nodes_under_random_sigkill_end_with_everything() {
    let secs = std::env::var("P2POS_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SECS);
    let soak = Duration::from_secs(secs);
    let photos = (secs as usize * 11 / 4).clamp(50, MAX_PHOTOS);
    let hub = start_hub();
    let fast = ["--webrtc-timeout-secs", "3"];
    let nodes: Vec<Member> = ["Ash", "Birch", "Cedar"].iter().map(|name| Member::start(name, &hub, &fast)).collect();
    let (mut family, cookie_a) = Family::found(&nodes[0]);
    enroll(&nodes[0], &nodes[1]);
    enroll(&nodes[0], &nodes[2]);
    // A node gives sessions to members only: sign in where the family has arrived.
    wait_for("Birch and the third node to get the family", Duration::from_secs(60), || {
        nodes[1].metric("p2pos_node_records") >= 4 && nodes[2].metric("p2pos_node_records") >= 4
    });
    enroll(&nodes[1], &nodes[2]);
    let cookies = [cookie_a, login(&nodes[1].node.addr, &family.me), login(&nodes[2].node.addr, &family.me)];
    // Sessions live in each node's database, so they survive the kills.
    let addrs: Vec<String> = nodes.iter().map(|m| m.node.addr.clone()).collect();
    let nodes = Arc::new(Mutex::new(nodes));

    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (nodes, done) = (nodes.clone(), done.clone());
        std::thread::spawn(move || {
            let mut kills = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2000 + rand::random::<u64>() % 2000));
                let victim = (rand::random::<u32>() % 3) as usize;
                nodes.lock().unwrap()[victim].kill();
                kills += 1;
                std::thread::sleep(Duration::from_millis(300 + rand::random::<u64>() % 1000));
                nodes.lock().unwrap()[victim].restart();
            }
            kills
        })
    };

    let started = Instant::now();
    let pace = soak / photos as u32;
    let mut acknowledged = Vec::new();
    let mut failures = 0;
    for n in 0..photos {
        let mut target = n % 3;
        loop {
            match family.try_upload(
                &addrs[target],
                &cookies[target],
                n,
                2_000 + (rand::random::<u32>() % 30_000) as usize,
            ) {
                Ok(blob) => {
                    acknowledged.push(blob);
                    break;
                }
                Err(_) => {
                    // That node is down (or went down mid-request): try the next one.
                    failures += 1;
                    target = (target + 1) % 3;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        let due = pace * (n as u32 + 1);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    done.store(true, Ordering::Relaxed);
    let kills = killer.join().unwrap();
    eprintln!(
        "soak: {} photos acknowledged in {:?}, {kills} SIGKILLs, {failures} uploads retried elsewhere",
        acknowledged.len(),
        started.elapsed()
    );
    // A kill comes every 2.3 to 5 s.
    let expected = secs / 5;
    assert!(kills >= expected, "the soak must kill nodes often ({kills} kills, expected {expected})");

    let nodes = nodes.lock().unwrap();
    let converged = Instant::now();
    wait_for("every node to hold every blob and record", Duration::from_secs(240), || {
        let blobs: Vec<u64> = nodes.iter().map(|m| m.metric("p2pos_node_blobs")).collect();
        let records: Vec<u64> = nodes.iter().map(|m| m.metric("p2pos_node_records")).collect();
        blobs.iter().all(|b| *b as usize >= photos) && records.iter().all(|r| *r == records[0])
    });
    eprintln!("soak: converged {:?} after the last upload", converged.elapsed());
    for member in nodes.iter() {
        let on_disk: std::collections::HashSet<BlobId> = blobs_on_disk(member.dir.path()).into_iter().collect();
        let missing = acknowledged.iter().filter(|b| !on_disk.contains(b)).count();
        assert_eq!(missing, 0, "every acknowledged blob is on every node (and verifies)");
        // A blob whose photo record never got acknowledged (its node died in between) stays
        // where it was uploaded: nothing references it, so nothing replicates it.
        eprintln!("soak: {} holds {} blobs ({} unreferenced)", member.node.addr, on_disk.len(), on_disk.len() - photos);
    }
    // Family, member, album, grant, then one record per photo (more where a record was stored
    // but its acknowledgement was lost, and the client submitted the photo again elsewhere).
    let records = nodes[0].metric("p2pos_node_records");
    assert!(records as usize >= 4 + photos, "{records} records");
}
