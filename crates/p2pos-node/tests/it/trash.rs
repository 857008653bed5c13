//! The trash on one node (issue 15): a deleted photo is listed with its deletion time and its
//! blobs stay; a restore brings it back; and the release job, run at a time passed in, deletes the
//! blobs only once every photo that needs them has been in the trash for 30 days.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use axum::http::StatusCode;
use family_vault::TRASH_RETENTION_MS;
use p2pos_core::{BlobId, Identity};
use p2pos_node::release::{release_expired, wanted};
use serde_json::{Value, json};

use crate::common;

use common::{META, Node, SUMMER, member, now_ms};

const BEACH: &str = "beachphotoaaaaaaaaaaaaaaaa";

fn photo(blob: BlobId, size: usize, deleted: bool) -> Value {
    json!({"type": "photo", "photo": BEACH, "album": SUMMER, "epoch": 0, "blob": blob, "size": size,
           "thumb": null, "thumb_size": null, "meta": META, "deleted": deleted})
}

/// Ann (admin) owns Summer; Ben holds its key and adds the beach photo.
async fn lake() -> (Node, Identity, String, BlobId, usize) {
    let mut node = Node::new(|_| {}).await;
    node.clock.0 = now_ms() - 30_000;
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ann_c = node.founded(&ann).await;
    let key = Identity::generate().unwrap().recipient().to_string();
    for body in [
        member(&ben, "member"),
        json!({"type": "album", "album": SUMMER, "epoch": 0, "recipient": key, "meta": META, "deleted": false}),
        json!({"type": "grant", "album": SUMMER, "member": ann.id(), "epoch": 0, "key": META, "revoked": false}),
        json!({"type": "grant", "album": SUMMER, "member": ben.id(), "epoch": 0, "key": META, "revoked": false}),
    ] {
        let record = node.record(&ann, body);
        assert_eq!(node.post("/v1/records", Some(&ann_c), record).await.status, StatusCode::OK);
    }
    let ben_c = node.login(&ben).await;
    let bytes = b"the beach, encrypted".to_vec();
    let blob = BlobId::of(&bytes);
    let size = bytes.len();
    assert_eq!(node.put_blob(&ben_c, &blob, bytes, "application/octet-stream").await.status, StatusCode::CREATED);
    let record = node.record(&ben, photo(blob, size, false));
    assert_eq!(node.post("/v1/records", Some(&ben_c), record).await.status, StatusCode::OK);
    (node, ben, ben_c, blob, size)
}

#[tokio::test]
async fn a_deleted_photo_waits_in_the_trash_and_its_blob_goes_after_thirty_days() {
    let (mut node, ben, ben_c, blob, size) = lake().await;
    let delete = node.record(&ben, photo(blob, size, true));
    let deleted_ms = node.clock.0;
    assert_eq!(node.post("/v1/records", Some(&ben_c), delete).await.status, StatusCode::OK);

    let trash = node.get("/v1/trash", Some(&ben_c)).await;
    assert_eq!(trash.status, StatusCode::OK);
    let listed = &trash.json()["photos"][0];
    assert_eq!(listed["id"], BEACH);
    assert_eq!(listed["deleted_ms"], deleted_ms);
    assert_eq!(listed["expires_ms"], deleted_ms + TRASH_RETENTION_MS);
    assert_eq!(listed["author"], ben.id().to_string());
    let album = node.get(&format!("/v1/albums/{SUMMER}"), Some(&ben_c)).await.json();
    assert_eq!(album["photos"], 0, "gone from the album");
    let blob_path = format!("/v1/blobs/{blob}");
    assert_eq!(node.get(&blob_path, Some(&ben_c)).await.status, StatusCode::OK, "the trash shows it");

    // Replication keeps wanting it while it can be restored: held here, so not fetched.
    assert_eq!(
        wanted(&node.state, deleted_ms + TRASH_RETENTION_MS - 1).await.unwrap(),
        vec![(blob, size as u64, true)]
    );
    // The job runs often; nothing goes a millisecond early.
    assert!(release_expired(&node.state, deleted_ms + TRASH_RETENTION_MS - 1).await.unwrap().is_empty());
    assert_eq!(node.get(&blob_path, Some(&ben_c)).await.status, StatusCode::OK);
    assert_eq!(release_expired(&node.state, deleted_ms + TRASH_RETENTION_MS).await.unwrap(), vec![blob]);
    assert_eq!(node.get(&blob_path, Some(&ben_c)).await.status, StatusCode::NOT_FOUND);
    // Replication no longer wants it: nothing fetches it back from a peer.
    assert!(wanted(&node.state, deleted_ms + TRASH_RETENTION_MS).await.unwrap().is_empty());
    // Running again (on the next tick) is harmless.
    assert!(release_expired(&node.state, deleted_ms + TRASH_RETENTION_MS + 1).await.unwrap().is_empty());
    // A crash between the two steps leaves the file without its row: the next run deletes it.
    let hex = blob.to_string();
    let file = node.data.path().join("blobs").join(&hex[..2]).join(&hex);
    std::fs::write(&file, b"the beach, encrypted").unwrap();
    assert_eq!(release_expired(&node.state, deleted_ms + TRASH_RETENTION_MS + 2).await.unwrap(), vec![blob]);
    assert!(!file.exists());
}

#[tokio::test]
async fn a_photo_restored_in_time_keeps_its_blob() {
    let (mut node, ben, ben_c, blob, size) = lake().await;
    let delete = node.record(&ben, photo(blob, size, true));
    let deleted_ms = node.clock.0;
    assert_eq!(node.post("/v1/records", Some(&ben_c), delete).await.status, StatusCode::OK);
    let restore = node.record(&ben, photo(blob, size, false));
    assert_eq!(node.post("/v1/records", Some(&ben_c), restore).await.status, StatusCode::OK);
    let trash = node.get("/v1/trash", Some(&ben_c)).await.json();
    assert_eq!(trash["photos"].as_array().unwrap().len(), 0);
    assert_eq!(node.get(&format!("/v1/albums/{SUMMER}"), Some(&ben_c)).await.json()["photos"], 1);
    assert!(release_expired(&node.state, deleted_ms + 2 * TRASH_RETENTION_MS).await.unwrap().is_empty());
    assert_eq!(
        wanted(&node.state, deleted_ms + 2 * TRASH_RETENTION_MS).await.unwrap(),
        vec![(blob, size as u64, true)]
    );
    assert_eq!(node.get(&format!("/v1/blobs/{blob}"), Some(&ben_c)).await.status, StatusCode::OK);
}
