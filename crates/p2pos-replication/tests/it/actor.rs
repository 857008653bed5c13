//! The replication actor against an in-memory peer: records then blobs, a broken transfer resumed
//! from the last byte received, and a blob whose bytes do not match its id refused and reported.
//! Time is paused: the waits and the retry back-off take no wall-clock time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_peer::{
    BlobBody, BlobEntry, ByteStream, LogEntry, PathKind, PeerRequest, PeerResponse, PeerTransport, TransportError,
};
use p2pos_replication::{
    Connector, Cursors, Local, LocalError, LocalErrorKind, LocalState, PlannerConfig, Replicator, SyncError,
};

fn node(n: u8) -> NodeId {
    NodeId::from_verifying_key(&ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key())
}

/// A peer holding blobs; it can cut one transfer after `cut_at` bytes, once, and serve wrong bytes
/// for a blob.
#[derive(Debug, Default)]
struct FakePeer {
    blobs: HashMap<BlobId, Vec<u8>>,
    corrupt: Option<BlobId>,
    cut_at: Option<u64>,
    cut_done: AtomicBool,
    resumed_from: Mutex<Vec<u64>>,
    bytes_served: AtomicU64,
}

#[derive(Debug)]
struct Transport(Arc<FakePeer>);

#[async_trait]
impl PeerTransport for Transport {
    fn peer(&self) -> NodeId {
        node(2)
    }

    async fn call(&self, request: PeerRequest) -> Result<PeerResponse, TransportError> {
        match request {
            PeerRequest::Records { .. } => Ok(PeerResponse::Records { records: vec![], head: 0 }),
            PeerRequest::Blobs { since, .. } => {
                let mut ids: Vec<_> = self.0.blobs.iter().map(|(id, b)| (*id, b.len() as u64)).collect();
                ids.sort();
                let blobs: Vec<BlobEntry> = ids
                    .into_iter()
                    .enumerate()
                    .map(|(i, (id, size))| BlobEntry { seq: i as u64 + 1, id, size })
                    .filter(|e| e.seq > since)
                    .collect();
                Ok(PeerResponse::Blobs { head: self.0.blobs.len() as u64, blobs })
            }
            _ => Err(TransportError::protocol(p2pos_peer::ProtocolViolation::Unexpected("unexpected"))),
        }
    }

    async fn get_blob(&self, id: BlobId, offset: u64) -> Result<BlobBody, TransportError> {
        let peer = self.0.clone();
        let mut bytes = peer
            .blobs
            .get(&id)
            .cloned()
            .ok_or(TransportError::Refused { code: "not_found".into(), message: "no such blob".into() })?;
        if peer.corrupt == Some(id) {
            bytes[0] ^= 1;
        }
        if offset > 0 {
            peer.resumed_from.lock().unwrap().push(offset);
        }
        let size = bytes.len() as u64;
        let cut = peer.cut_at.filter(|_| !peer.cut_done.swap(true, Ordering::SeqCst));
        let chunks: Vec<Result<Bytes, TransportError>> = bytes[offset as usize..]
            .chunks(16 * 1024)
            .scan(offset, |pos, chunk| {
                let start = *pos;
                *pos += chunk.len() as u64;
                Some((start, chunk))
            })
            .take_while(|(start, _)| cut.is_none_or(|c| *start < c))
            .map(|(_, chunk)| {
                peer.bytes_served.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok(Bytes::copy_from_slice(chunk))
            })
            .chain(cut.map(|_| Err(TransportError::broken("the data channel closed"))))
            .collect();
        Ok(BlobBody { size, offset, stream: Box::pin(futures_util::stream::iter(chunks)) })
    }

    fn path(&self) -> Option<PathKind> {
        Some(PathKind::Host)
    }
}

struct Fake(Arc<FakePeer>);

#[async_trait]
impl Connector for Fake {
    async fn connect(&self, _peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError> {
        Ok(Arc::new(Transport(self.0.clone())))
    }
}

/// A store that keeps only blobs whose bytes hash to their id.
#[derive(Default)]
struct Store {
    wanted: Vec<(BlobId, u64)>,
    blobs: Mutex<HashMap<BlobId, Vec<u8>>>,
}

#[async_trait]
impl Local for Store {
    async fn apply_records(&self, _from: NodeId, entries: &[LogEntry]) -> Result<usize, LocalError> {
        Ok(entries.len())
    }
    async fn peer_holds(&self, _peer: NodeId, _entries: &[BlobEntry]) -> Result<(), LocalError> {
        Ok(())
    }
    async fn save_cursors(&self, _peer: NodeId, _cursors: Cursors) -> Result<(), LocalError> {
        Ok(())
    }
    async fn wanted(&self) -> Result<Vec<(BlobId, u64, bool)>, LocalError> {
        let held = self.blobs.lock().unwrap();
        Ok(self.wanted.iter().map(|(id, size)| (*id, *size, held.contains_key(id))).collect())
    }
    async fn store_blob(&self, id: BlobId, _size: u64, mut body: ByteStream) -> Result<(), LocalError> {
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk.map_err(LocalError::Transfer)?);
        }
        if BlobId::of(&all) != id {
            return Err(LocalError::Refused("the bytes do not match the blob id; nothing kept".into()));
        }
        self.blobs.lock().unwrap().insert(id, all);
        Ok(())
    }
}

fn blob(seed: u8, len: usize) -> (BlobId, Vec<u8>) {
    let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
    (BlobId::of(&bytes), bytes)
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(start_paused = true)]
async fn a_broken_transfer_resumes_from_the_last_byte_received() {
    let (id, bytes) = blob(7, 1_000_000);
    let peer =
        Arc::new(FakePeer { blobs: HashMap::from([(id, bytes.clone())]), cut_at: Some(400_000), ..Default::default() });
    let store = Arc::new(Store { wanted: vec![(id, bytes.len() as u64)], ..Default::default() });
    let replicator = Replicator::spawn(PlannerConfig::default(), store.clone(), Arc::new(Fake(peer.clone())));
    replicator.add_peer(node(2), Cursors::default(), vec![]);
    until("the blob to arrive", || store.blobs.lock().unwrap().contains_key(&id)).await;
    assert_eq!(store.blobs.lock().unwrap()[&id], bytes);
    let resumed = peer.resumed_from.lock().unwrap().clone();
    assert_eq!(resumed, vec![400_000 + 16 * 1024 - (400_000 % (16 * 1024))], "resumed at the first byte not received");
    assert_eq!(peer.bytes_served.load(Ordering::Relaxed), bytes.len() as u64, "no byte was sent twice");
    let status = replicator.status().await.unwrap();
    assert_eq!(status.blobs[&id].local, LocalState::Ok);
    assert_eq!(status.peers[0].path, Some(PathKind::Host));
}

#[tokio::test(start_paused = true)]
async fn a_blob_whose_bytes_do_not_match_its_id_is_refused_and_reported() {
    let (good, good_bytes) = blob(3, 50_000);
    let (bad, bad_bytes) = blob(5, 50_000);
    let peer = Arc::new(FakePeer {
        blobs: HashMap::from([(good, good_bytes.clone()), (bad, bad_bytes.clone())]),
        corrupt: Some(bad),
        ..Default::default()
    });
    let store = Arc::new(Store {
        wanted: vec![(good, good_bytes.len() as u64), (bad, bad_bytes.len() as u64)],
        ..Default::default()
    });
    let config = PlannerConfig { retry_base: Duration::from_millis(10), max_attempts: 2, ..Default::default() };
    let replicator = Replicator::spawn(config, store.clone(), Arc::new(Fake(peer)));
    replicator.add_peer(node(2), Cursors::default(), vec![]);
    until("the good blob", || store.blobs.lock().unwrap().contains_key(&good)).await;
    for _ in 0..200 {
        let status = replicator.status().await.unwrap();
        if let LocalState::Failed { error, attempts } = &status.blobs[&bad].local {
            assert!(matches!(error, SyncError::Local(e) if e.kind() == LocalErrorKind::Refused), "{error}");
            assert!(error.to_string().contains("do not match"), "{error}");
            assert_eq!(*attempts, 2);
            assert!(!store.blobs.lock().unwrap().contains_key(&bad), "nothing of the bad blob is kept");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the corrupt blob never failed");
}

/// A member's record once declared a blob 1 byte long (issue 12): the fetch must not trust it.
#[tokio::test(start_paused = true)]
async fn a_record_that_lies_about_a_blobs_size_does_not_stop_it_replicating() {
    let (id, bytes) = blob(9, 200_000);
    let peer = Arc::new(FakePeer { blobs: HashMap::from([(id, bytes.clone())]), ..Default::default() });
    let store = Arc::new(Store { wanted: vec![(id, 1)], ..Default::default() });
    let replicator = Replicator::spawn(PlannerConfig::default(), store.clone(), Arc::new(Fake(peer)));
    replicator.add_peer(node(2), Cursors::default(), vec![]);
    until("the blob to arrive despite the lie", || store.blobs.lock().unwrap().contains_key(&id)).await;
    assert_eq!(store.blobs.lock().unwrap()[&id], bytes);
}
