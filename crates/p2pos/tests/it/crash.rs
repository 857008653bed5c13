//! Kill -9 during uploads: every upload the node acknowledged is there and verifies, no partial
//! blob is ever visible, and the node restarts cleanly, round after round.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{claim_and_login, http, start};
use p2pos_core::{BlobId, Identity};

const ROUNDS: usize = 20;
const UPLOADS: usize = 50;

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
        let (acked_tx, acked) = std::sync::mpsc::channel::<()>();
        let uploads: Vec<_> = (0..UPLOADS)
            .map(|i| {
                let (addr, cookie, ready, acked_tx) = (addr.clone(), cookie.clone(), ready.clone(), acked_tx.clone());
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
                    let ok = matches!(reply, Ok((200 | 201, _, _)));
                    if ok {
                        let _ = acked_tx.send(());
                    }
                    ok.then_some(id)
                })
            })
            .collect();
        ready.wait();
        // Kill at a different moment each round, while uploads are in flight. One round in four
        // first waits for an acknowledgement, so that even on a loaded machine every run checks
        // acknowledged uploads across a kill.
        if round % 4 == 3 {
            let _ = acked.recv_timeout(Duration::from_secs(30));
        }
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
