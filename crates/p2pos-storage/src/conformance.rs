//! The suite every [`BlobStore`] must pass. Run it from a test with a fresh store:
//! `p2pos_storage::conformance::run(&store).await`. Each check panics with a clear message.

// A test suite: panicking with a message is how it reports a failed check.
#![allow(clippy::expect_used, clippy::panic)]
use p2pos_core::BlobId;
use tokio::io::AsyncReadExt;

use crate::blob::{BlobError, BlobStore, PutOutcome};

async fn read_all(store: &dyn BlobStore, id: &BlobId, range: Option<(u64, Option<u64>)>) -> Vec<u8> {
    let mut read = store.get(id, range).await.unwrap_or_else(|e| panic!("get {id}: {e}"));
    let mut out = Vec::new();
    read.reader.read_to_end(&mut out).await.unwrap_or_else(|e| panic!("reading {id}: {e}"));
    out
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Runs every check on `store`, which must start empty.
pub async fn run(store: &dyn BlobStore) {
    assert!(store.list().await.expect("list").is_empty(), "the store must start empty");
    put_get_round_trip(store).await;
    ranges(store).await;
    wrong_hash_keeps_nothing(store).await;
    too_large_keeps_nothing(store).await;
    duplicates_are_idempotent(store).await;
    delete_and_list(store).await;
}

async fn put_get_round_trip(store: &dyn BlobStore) {
    for len in [0usize, 1, 1 << 20, (3 << 20) + 7] {
        let bytes = data(len, 1);
        let id = BlobId::of(&bytes);
        let outcome = store.put(id, &mut &bytes[..], u64::MAX).await.expect("put");
        assert_eq!(outcome, PutOutcome::Stored { size: len as u64 });
        assert_eq!(store.has(&id).await.expect("has"), Some(len as u64));
        assert_eq!(read_all(store, &id, None).await, bytes, "round trip of {len} bytes");
    }
}

async fn ranges(store: &dyn BlobStore) {
    let bytes = data(10_000, 2);
    let id = BlobId::of(&bytes);
    store.put(id, &mut &bytes[..], u64::MAX).await.expect("put");
    assert_eq!(read_all(store, &id, Some((100, Some(200)))).await, bytes[100..200]);
    assert_eq!(read_all(store, &id, Some((9_990, None))).await, bytes[9_990..]);
    let read = store.get(&id, Some((5, Some(10)))).await.expect("get range");
    assert_eq!((read.size, read.range), (10_000, 5..10));
    assert!(matches!(store.get(&id, Some((10_000, None))).await, Err(BlobError::RangeNotSatisfiable { .. })));
    assert!(matches!(store.get(&id, Some((0, Some(10_001)))).await, Err(BlobError::RangeNotSatisfiable { .. })));
    assert!(matches!(store.get(&id, Some((50, Some(40)))).await, Err(BlobError::RangeNotSatisfiable { .. })));
    let missing = BlobId::of(b"never stored");
    assert!(matches!(store.get(&missing, None).await, Err(BlobError::NotFound(_))));
}

async fn wrong_hash_keeps_nothing(store: &dyn BlobStore) {
    let bytes = data(70_000, 3);
    let claimed = BlobId::of(b"something else");
    let before = store.list().await.expect("list");
    let err = store.put(claimed, &mut &bytes[..], u64::MAX).await.expect_err("a mismatch must fail");
    assert!(matches!(err, BlobError::HashMismatch { .. }), "{err}");
    assert_eq!(store.has(&claimed).await.expect("has"), None);
    assert_eq!(store.has(&BlobId::of(&bytes)).await.expect("has"), None, "nothing kept under the real id either");
    assert_eq!(store.list().await.expect("list"), before);
}

async fn too_large_keeps_nothing(store: &dyn BlobStore) {
    let bytes = data(100_001, 4);
    let id = BlobId::of(&bytes);
    let err = store.put(id, &mut &bytes[..], 100_000).await.expect_err("over the cap must fail");
    assert!(matches!(err, BlobError::TooLarge { limit: 100_000 }), "{err}");
    assert_eq!(store.has(&id).await.expect("has"), None);
    let fits = &bytes[..100_000];
    assert!(store.put(BlobId::of(fits), &mut &fits[..], 100_000).await.is_ok(), "exactly at the cap fits");
}

async fn duplicates_are_idempotent(store: &dyn BlobStore) {
    let bytes = data(5_000, 5);
    let id = BlobId::of(&bytes);
    store.put(id, &mut &bytes[..], u64::MAX).await.expect("put");
    let again = store.put(id, &mut &bytes[..], u64::MAX).await.expect("put again");
    assert_eq!(again, PutOutcome::AlreadyPresent { size: 5_000 });
    assert_eq!(read_all(store, &id, None).await, bytes);
}

async fn delete_and_list(store: &dyn BlobStore) {
    let listed = store.list().await.expect("list");
    assert!(listed.windows(2).all(|w| w[0].0 < w[1].0), "list is in id order");
    let (victim, _) = listed[0];
    assert!(store.delete(&victim).await.expect("delete"));
    assert!(!store.delete(&victim).await.expect("delete again"), "deleting twice is not an error");
    assert_eq!(store.has(&victim).await.expect("has"), None);
    assert_eq!(store.list().await.expect("list").len(), listed.len() - 1);
}
