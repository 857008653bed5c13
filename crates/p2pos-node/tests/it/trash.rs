//! The trash on one node (issue 15): a deleted photo is listed with its deletion time and its
//! blobs stay; a restore brings it back; and the release job, run at a time passed in, deletes the
//! blobs only once every photo that needs them has been in the trash for 30 days.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use axum::http::StatusCode;
use family_vault::TRASH_RETENTION_MS;
use p2pos_core::{BlobId, Identity};
use p2pos_node::ingest;
use p2pos_node::release::{release_expired, release_expired_with, wanted};
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
    // Stamped a little ahead of this node's clock (within the 60 s allowed), so the 30 days
    // count from the stamp: this node stored the deletion before it.
    node.clock.0 = now_ms() + 5_000;
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

/// Security review (issue 15, HIGH): a node trusted with time signs a delete stamped just after
/// an old photo's creation. Every node folds it at that stamp, so the vault's `deleted_ms` is
/// 40 days old; the node still counts the 30 days from when it first stored the deletion.
#[tokio::test]
async fn a_backdated_delete_does_not_release_before_thirty_days_on_this_node() {
    let mut node = Node::new(|_| {}).await;
    node.clock.0 = now_ms() - 41 * 24 * 3600 * 1000;
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let bytes = b"the beach, encrypted".to_vec();
    let (blob, size) = (BlobId::of(&bytes), bytes.len());
    let mut records = vec![
        node.record(&ann, json!({"type": "family"})),
        node.record(&ann, member(&ann, "admin")),
        node.record(&ann, member(&ben, "member")),
        node.record(
            &ann,
            json!({"type": "album", "album": SUMMER, "epoch": 0, "recipient": key, "meta": META, "deleted": false}),
        ),
        node.record(
            &ann,
            json!({"type": "grant", "album": SUMMER, "member": ben.id(), "epoch": 0, "key": META, "revoked": false}),
        ),
    ];
    // The photo, stamped T = 40 days ago.
    node.clock.0 = now_ms() - 40 * 24 * 3600 * 1000;
    records.push(node.record(&ben, photo(blob, size, false)));
    ingest(&node.state, records.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect()).await.unwrap();
    let ben_c = node.login(&ben).await;
    assert_eq!(node.put_blob(&ben_c, &blob, bytes, "application/octet-stream").await.status, StatusCode::CREATED);

    // The deletion, signed by the author but stamped T + 1 ms (the clock's next tick), arrives by
    // replication now.
    let delete = node.record(&ben, photo(blob, size, true));
    let before = now_ms();
    ingest(&node.state, vec![serde_json::from_value(delete).unwrap()]).await.unwrap();
    let after = now_ms();
    assert_eq!(node.get(&format!("/v1/albums/{SUMMER}"), Some(&ben_c)).await.json()["photos"], 0, "deleted");

    assert!(release_expired(&node.state, after).await.unwrap().is_empty(), "nothing released at once");
    assert!(release_expired(&node.state, before + TRASH_RETENTION_MS - 1).await.unwrap().is_empty());
    assert_eq!(wanted(&node.state, after).await.unwrap(), vec![(blob, size as u64, true)], "still restorable");
    // Still in the trash here, and the author may restore it through this node.
    let trash = node.get("/v1/trash", Some(&ben_c)).await.json();
    assert_eq!(trash["photos"][0]["id"], BEACH);
    assert!(trash["photos"][0]["expires_ms"].as_u64().unwrap() >= before + TRASH_RETENTION_MS);
    assert_eq!(release_expired(&node.state, after + TRASH_RETENTION_MS).await.unwrap(), vec![blob]);
}

/// A restore stamped more than 30 days after a (backdated) delete is still a restore: the fold
/// judges it by its signer's rights, so it works while any node holds the blob.
#[tokio::test]
async fn a_restore_after_a_backdated_delete_brings_the_photo_back() {
    let mut node = Node::new(|_| {}).await;
    node.clock.0 = now_ms() - 41 * 24 * 3600 * 1000;
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let bytes = b"the beach, encrypted".to_vec();
    let (blob, size) = (BlobId::of(&bytes), bytes.len());
    let records = vec![
        node.record(&ann, json!({"type": "family"})),
        node.record(&ann, member(&ann, "admin")),
        node.record(&ann, member(&ben, "member")),
        node.record(
            &ann,
            json!({"type": "album", "album": SUMMER, "epoch": 0, "recipient": key, "meta": META, "deleted": false}),
        ),
        node.record(
            &ann,
            json!({"type": "grant", "album": SUMMER, "member": ben.id(), "epoch": 0, "key": META, "revoked": false}),
        ),
        node.record(&ben, photo(blob, size, false)),
        node.record(&ben, photo(blob, size, true)),
    ];
    ingest(&node.state, records.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect()).await.unwrap();
    let ben_c = node.login(&ben).await;
    node.clock.0 = now_ms();
    let restore = node.record(&ben, photo(blob, size, false));
    let reply = node.post("/v1/records", Some(&ben_c), restore).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(node.get(&format!("/v1/albums/{SUMMER}"), Some(&ben_c)).await.json()["photos"], 1, "back");
    assert_eq!(wanted(&node.state, now_ms()).await.unwrap(), vec![(blob, size as u64, false)], "fetched from a peer");
}

/// Security review (issue 15, MEDIUM): between the release's two steps (rows gone, files not yet)
/// a restore comes in and the blob is stored again (an upload or a fetch from a peer writes the
/// file, then its presence row). The second step must not delete that file: the row would say
/// held with no file, and the blob would never be fetched again.
#[tokio::test]
async fn a_blob_stored_again_between_the_release_steps_keeps_its_file() {
    let (mut node, ben, ben_c, blob, size) = lake().await;
    node.clock.0 = now_ms() + 5_000;
    let delete = node.record(&ben, photo(blob, size, true));
    let deleted_ms = node.clock.0;
    assert_eq!(node.post("/v1/records", Some(&ben_c), delete).await.status, StatusCode::OK);
    let restore = node.record(&ben, photo(blob, size, false));
    let node = &node;
    let meanwhile = async {
        assert_eq!(node.post("/v1/records", Some(&ben_c), restore).await.status, StatusCode::OK);
        let bytes = b"the beach, encrypted".to_vec();
        assert_eq!(node.put_blob(&ben_c, &blob, bytes, "application/octet-stream").await.status, StatusCode::OK);
    };
    let released = release_expired_with(&node.state, deleted_ms + TRASH_RETENTION_MS, meanwhile).await.unwrap();
    assert!(released.is_empty(), "restored and stored again: {released:?}");
    let hex = blob.to_string();
    assert!(node.data.path().join("blobs").join(&hex[..2]).join(&hex).exists(), "the file is still there");
    let reply = node.get(&format!("/v1/blobs/{blob}"), Some(&ben_c)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, b"the beach, encrypted");
    assert_eq!(wanted(&node.state, now_ms()).await.unwrap(), vec![(blob, size as u64, true)]);
}

/// Security review (issue 15, LOW): a backup taken while something is in the trash keeps it, so
/// what can still be restored is not lost with the node; the manifest marks it.
#[tokio::test]
async fn an_export_keeps_what_the_trash_can_still_restore() {
    let (mut node, ben, ben_c, blob, size) = lake().await;
    let delete = node.record(&ben, photo(blob, size, true));
    assert_eq!(node.post("/v1/records", Some(&ben_c), delete).await.status, StatusCode::OK);
    let hex = blob.to_string();
    let stored = std::fs::read(node.data.path().join("blobs").join(&hex[..2]).join(&hex)).unwrap();

    let out = tempfile::tempdir().unwrap();
    let summary = p2pos_node::export::export(node.data.path(), &out.path().join("a")).unwrap();
    assert_eq!((summary.albums, summary.photos, summary.missing), (1, 1, 0), "{summary:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("a").join("manifest.json")).unwrap()).unwrap();
    let listed = &manifest["albums"][0]["photos"][0];
    assert_eq!(listed["id"], BEACH);
    assert_eq!(listed["present"], true);
    assert!(listed["trash"]["deleted_ms"].is_u64(), "marked as in the trash: {listed}");
    assert!(manifest["albums"][0].get("trash").is_none(), "the album is live");
    let copied = std::fs::read(out.path().join("a").join(SUMMER).join(format!("{BEACH}.age"))).unwrap();
    assert_eq!(copied, stored, "the same age file");
}

/// A deleted album is exported with its photos while it can be restored, and left out after.
#[tokio::test]
async fn an_export_keeps_a_deleted_album_until_its_thirty_days_are_over() {
    let mut node = Node::new(|_| {}).await;
    node.clock.0 = now_ms() - 60_000;
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let bytes = b"the beach, encrypted".to_vec();
    let (blob, size) = (BlobId::of(&bytes), bytes.len());
    let album = |deleted: bool| json!({"type": "album", "album": SUMMER, "epoch": 0, "recipient": key, "meta": META, "deleted": deleted});
    let records = vec![
        node.record(&ann, json!({"type": "family"})),
        node.record(&ann, member(&ann, "admin")),
        node.record(&ann, member(&ben, "member")),
        node.record(&ann, album(false)),
        node.record(
            &ann,
            json!({"type": "grant", "album": SUMMER, "member": ben.id(), "epoch": 0, "key": META, "revoked": false}),
        ),
        node.record(&ben, photo(blob, size, false)),
        node.record(&ann, album(true)),
    ];
    let deleted_ms = node.clock.0;
    ingest(&node.state, records.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect()).await.unwrap();
    let after = now_ms();
    let ben_c = node.login(&ben).await;
    assert_eq!(node.put_blob(&ben_c, &blob, bytes, "application/octet-stream").await.status, StatusCode::CREATED);

    let out = tempfile::tempdir().unwrap();
    let summary = p2pos_node::export::export_at(node.data.path(), &out.path().join("a"), after).unwrap();
    assert_eq!((summary.albums, summary.photos), (1, 1));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("a").join("manifest.json")).unwrap()).unwrap();
    let summer = &manifest["albums"][0];
    assert_eq!(summer["trash"]["deleted_ms"], deleted_ms);
    assert!(summer["trash"]["restorable_until_ms"].as_u64().unwrap() >= after - 1_000 + TRASH_RETENTION_MS);
    assert_eq!(summer["photos"][0]["trash"], summer["trash"], "in the trash with its album");
    assert_eq!(summer["keys"][0]["member"], ben.id().to_string());

    let summary =
        p2pos_node::export::export_at(node.data.path(), &out.path().join("b"), after + TRASH_RETENTION_MS).unwrap();
    assert_eq!((summary.albums, summary.photos), (0, 0), "its 30 days are over");
}
