//! The shared `BlobStore` suite, on both implementations, plus filesystem-only crash rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use p2pos_core::BlobId;
use p2pos_storage::{BlobStore, FsBlobStore, MemoryBlobStore, conformance};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(&MemoryBlobStore::new()).await;
}

#[tokio::test]
async fn filesystem_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&FsBlobStore::open(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn blobs_live_under_two_hex_shards_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    let bytes = b"ciphertext".to_vec();
    let id = BlobId::of(&bytes);
    store.put(id, &mut &bytes[..], 1 << 20).await.unwrap();
    let hex = id.to_string();
    assert!(dir.path().join("blobs").join(&hex[..2]).join(&hex).is_file());
    drop(store);
    let reopened = FsBlobStore::open(dir.path()).await.unwrap();
    assert_eq!(reopened.has(&id).await.unwrap(), Some(bytes.len() as u64));
}

#[tokio::test]
async fn leftovers_of_a_crashed_upload_are_invisible_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    drop(store);
    // What a crash mid-upload leaves: a temp file, never a file under blobs/.
    std::fs::write(dir.path().join("tmp").join("0123abcd"), b"half an upload").unwrap();
    std::fs::create_dir_all(dir.path().join("blobs/zz")).unwrap();
    std::fs::write(dir.path().join("blobs/zz/not-a-blob-name"), b"?").unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "temp files are removed at open");
}

#[tokio::test]
async fn a_failed_upload_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    let bytes = vec![1u8; 300_000];
    assert!(store.put(BlobId::of(b"other"), &mut &bytes[..], u64::MAX).await.is_err());
    assert!(store.put(BlobId::of(&bytes), &mut &bytes[..], 1_000).await.is_err());
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}
