//! Photos a page at a time (`/v1/albums/{id}/photos`, `/v1/photos`) and what changed since a
//! cursor (`/v1/replication/changes`). Who may call them is in `authorization.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use p2pos_core::{BlobId, Identity};
use serde_json::{Value, json};

use crate::common;

use common::{META, Node, SUMMER, WINTER, member};

fn photo_id(i: usize) -> String {
    // 26 characters of a-z: "p" then the index in base 26.
    let mut s = String::from("p");
    let mut n = i;
    for _ in 0..25 {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}

fn photo(id: &str, album: &str, deleted: bool) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": 0, "blob": BlobId::of(id.as_bytes()),
           "size": id.len(), "thumb": null, "thumb_size": null, "meta": META, "deleted": deleted})
}

/// Ada's family with Summer and Winter; Bea holds a grant on Winter only.
async fn family() -> (Node, Identity, String, String) {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    let bea = Identity::generate().unwrap();
    let ada_c = node.founded(&ada).await;
    let mut bodies = vec![member(&bea, "member")];
    for album in [SUMMER, WINTER] {
        bodies.push(json!({"type": "album", "album": album, "epoch": 0, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false}));
        bodies.push(
            json!({"type": "grant", "album": album, "member": ada.id(), "epoch": 0, "key": META, "revoked": false}),
        );
    }
    bodies
        .push(json!({"type": "grant", "album": WINTER, "member": bea.id(), "epoch": 0, "key": META, "revoked": false}));
    for body in bodies {
        let record = node.record(&ada, body);
        assert_eq!(node.post("/v1/records", Some(&ada_c), record).await.status, StatusCode::OK);
    }
    let bea_c = node.login(&bea).await;
    (node, ada, ada_c, bea_c)
}

async fn post_photo(node: &mut Node, who: &Identity, cookie: &str, id: &str, album: &str, deleted: bool) {
    let record = node.record(who, photo(id, album, deleted));
    let reply = node.post("/v1/records", Some(cookie), record).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
}

fn ids(page: &Value) -> Vec<String> {
    page["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn pages_run_newest_first_and_a_cursor_survives_deletes_and_new_photos() {
    let (mut node, ada, ada_c, _) = family().await;
    // 25 photos, uploaded in order: photo 24 is the newest.
    for i in 0..25 {
        post_photo(&mut node, &ada, &ada_c, &photo_id(i), SUMMER, false).await;
    }
    let newest_first: Vec<String> = (0..25).rev().map(photo_id).collect();
    let url = |cursor: Option<&str>, limit: usize| match cursor {
        Some(c) => format!("/v1/albums/{SUMMER}/photos?limit={limit}&cursor={c}"),
        None => format!("/v1/albums/{SUMMER}/photos?limit={limit}"),
    };

    // Every page in order, no photo twice, none missing; the last page has no `next`.
    let mut all = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = node.get(&url(cursor.as_deref(), 10), Some(&ada_c)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json());
        let page = page.json();
        all.extend(ids(&page));
        pages += 1;
        // Each photo's position is the cursor of the photos after it.
        let last = page["photos"].as_array().unwrap().last().unwrap()["cursor"].clone();
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), last.as_str());
                cursor = Some(next.to_string());
            }
            None => break,
        }
    }
    assert_eq!((pages, &all), (3, &newest_first));
    let first = node.get(&url(None, 10), Some(&ada_c)).await.json();
    let positions: Vec<&str> =
        first["photos"].as_array().unwrap().iter().map(|p| p["cursor"].as_str().unwrap()).collect();
    let mut sorted = positions.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(positions, sorted, "positions compare as strings in page order");
    assert_eq!(first["photos"][0]["nodes"][0]["node"], node.state.node_id().to_string(), "this node first");
    assert_eq!(first["photos"][0]["nodes"][0]["state"], "pending", "no blob here");

    // After page one: delete a photo on it and one on page two, add a newer one. Page two starts
    // right after page one's last photo, less the deleted one.
    let next = first["next"].as_str().unwrap().to_string();
    post_photo(&mut node, &ada, &ada_c, &newest_first[3], SUMMER, true).await;
    post_photo(&mut node, &ada, &ada_c, &newest_first[12], SUMMER, true).await;
    post_photo(&mut node, &ada, &ada_c, &photo_id(99), SUMMER, false).await;
    let second = node.get(&url(Some(&next), 10), Some(&ada_c)).await.json();
    let want: Vec<String> = newest_first[10..21].iter().filter(|id| **id != newest_first[12]).cloned().collect();
    assert_eq!(ids(&second), want);
    let fresh = node.get(&url(None, 3), Some(&ada_c)).await.json();
    assert_eq!(ids(&fresh), vec![photo_id(99), newest_first[0].clone(), newest_first[1].clone()]);

    // Limits: default 100, 1 to 500; a cursor that is not one, an unknown parameter: 400.
    assert_eq!(ids(&node.get(&format!("/v1/albums/{SUMMER}/photos"), Some(&ada_c)).await.json()).len(), 24);
    for bad in ["limit=0", "limit=501", "cursor=abc", "cursor=", "sort=oldest"] {
        let reply = node.get(&format!("/v1/albums/{SUMMER}/photos?{bad}"), Some(&ada_c)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", reply.json());
        assert_eq!(reply.json()["error"], "bad_request");
    }
    assert_eq!(node.get(&url(None, 500), Some(&ada_c)).await.status, StatusCode::OK);
    let unknown = "/v1/albums/nosuchalbumaaaaaaaaaaaaaaa/photos";
    assert_eq!(node.get(unknown, Some(&ada_c)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(node.get("/v1/albums/NOT-AN-ID/photos", Some(&ada_c)).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_timeline_merges_the_albums_shared_with_the_caller() {
    let (mut node, ada, ada_c, bea_c) = family().await;
    for i in 0..6 {
        let album = if i % 2 == 0 { SUMMER } else { WINTER };
        post_photo(&mut node, &ada, &ada_c, &photo_id(i), album, false).await;
    }
    let mine = node.get("/v1/photos?limit=4", Some(&ada_c)).await.json();
    assert_eq!(ids(&mine), (2..6).rev().map(photo_id).collect::<Vec<_>>());
    let rest = node.get(&format!("/v1/photos?cursor={}", mine["next"].as_str().unwrap()), Some(&ada_c)).await.json();
    assert_eq!(ids(&rest), vec![photo_id(1), photo_id(0)]);
    assert!(rest["next"].is_null());
    // Bea holds Winter only: the odd photos, and nothing of Summer on any page.
    let hers = node.get("/v1/photos", Some(&bea_c)).await.json();
    assert_eq!(ids(&hers), vec![photo_id(5), photo_id(3), photo_id(1)]);
    let albums: BTreeSet<&str> =
        hers["photos"].as_array().unwrap().iter().map(|p| p["album"].as_str().unwrap()).collect();
    assert_eq!(albums.into_iter().collect::<Vec<_>>(), vec![WINTER]);
    // And her cursor cannot reach into Summer: past Winter's last photo there is nothing.
    let past = format!("/v1/photos?cursor={}", hers["photos"][2]["cursor"].as_str().unwrap());
    assert!(ids(&node.get(&past, Some(&bea_c)).await.json()).is_empty());
}

async fn changes(node: &Node, cookie: &str, query: &str) -> Value {
    let reply = node.get(&format!("/v1/replication/changes?{query}"), Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.json());
    reply.json()
}

/// The journal is compared with the vault at most once a second.
async fn next_refresh() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

#[tokio::test]
async fn changes_since_a_cursor_carry_only_what_changed() {
    let (mut node, ada, ada_c, bea_c) = family().await;
    for i in 0..3 {
        post_photo(&mut node, &ada, &ada_c, &photo_id(i), SUMMER, false).await;
    }
    let summer = format!("album={SUMMER}");
    // No cursor: only the cursor to start from.
    let start = changes(&node, &ada_c, &summer).await;
    assert_eq!(start["node"]["node"], node.state.node_id().to_string());
    assert!(start["added"].as_array().unwrap().is_empty() && !start["reset"].as_bool().unwrap());
    let cursor = start["cursor"].as_str().unwrap().to_string();
    let bea_cursor = changes(&node, &bea_c, "").await["cursor"].as_str().unwrap().to_string();

    // Idle: nothing, and the same cursor.
    next_refresh().await;
    let idle = changes(&node, &ada_c, &format!("{summer}&since={cursor}")).await;
    assert_eq!(idle["cursor"], cursor.as_str());
    for list in ["added", "changed", "removed"] {
        assert!(idle[list].as_array().unwrap().is_empty(), "{list}: {idle}");
    }

    // A photo arrives, one is deleted, and one's blob reaches this node.
    post_photo(&mut node, &ada, &ada_c, &photo_id(7), SUMMER, false).await;
    post_photo(&mut node, &ada, &ada_c, &photo_id(0), SUMMER, true).await;
    let bytes = photo_id(1).into_bytes();
    let put = node.put_blob(&ada_c, &BlobId::of(&bytes), bytes, "application/octet-stream").await;
    assert_eq!(put.status, StatusCode::CREATED);
    next_refresh().await;
    let moved = changes(&node, &ada_c, &format!("{summer}&since={cursor}")).await;
    assert_eq!(ids(&json!({"photos": moved["added"]})), vec![photo_id(7)]);
    assert_eq!(moved["added"][0]["nodes"][0]["state"], "pending");
    assert_eq!(moved["removed"], json!([photo_id(0)]));
    assert_eq!(moved["changed"].as_array().unwrap().len(), 1, "{moved}");
    assert_eq!(moved["changed"][0]["photo"], photo_id(1));
    assert_eq!(moved["changed"][0]["nodes"][0]["state"], "ok");
    let cursor = moved["cursor"].as_str().unwrap().to_string();

    // Bea (Winter only) sees none of Summer's changes, and may not ask for Summer at all.
    let hers = changes(&node, &bea_c, &format!("since={bea_cursor}")).await;
    for list in ["added", "changed", "removed"] {
        assert!(hers[list].as_array().unwrap().is_empty(), "{list}: {hers}");
    }
    let refused = node.get(&format!("/v1/replication/changes?{summer}"), Some(&bea_c)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A placement changes: a photo whose blob this node now holds.
    let data = b"summer ciphertext".to_vec();
    let blob = BlobId::of(&data);
    assert_eq!(
        node.put_blob(&ada_c, &blob, data.clone(), "application/octet-stream").await.status,
        StatusCode::CREATED
    );
    let record = node.record(
        &ada,
        json!({"type": "photo", "photo": photo_id(8), "album": SUMMER, "epoch": 0, "blob": blob, "size": data.len(),
               "thumb": null, "thumb_size": null, "meta": META, "deleted": false}),
    );
    assert_eq!(node.post("/v1/records", Some(&ada_c), record).await.status, StatusCode::OK);
    next_refresh().await;
    let arrived = changes(&node, &ada_c, &format!("{summer}&since={cursor}")).await;
    assert_eq!(arrived["added"][0]["nodes"][0]["state"], "ok");
    let cursor = arrived["cursor"].as_str().unwrap().to_string();

    // `through`: changes past the last loaded position are left to their pages.
    let page = node.get(&format!("/v1/albums/{SUMMER}/photos?limit=1"), Some(&ada_c)).await.json();
    assert_eq!(ids(&page), vec![photo_id(8)]);
    post_photo(&mut node, &ada, &ada_c, &photo_id(2), SUMMER, true).await;
    next_refresh().await;
    let through = page["next"].as_str().unwrap();
    let narrow = changes(&node, &ada_c, &format!("{summer}&since={cursor}&through={through}")).await;
    assert!(narrow["removed"].as_array().unwrap().is_empty(), "photo 2 lies past the loaded page: {narrow}");
    let wide = changes(&node, &ada_c, &format!("{summer}&since={cursor}")).await;
    assert_eq!(wide["removed"], json!([photo_id(2)]));

    // A cursor of another start: reset (load again); garbage: 400.
    let stale = changes(&node, &ada_c, &format!("{summer}&since=00000000000000ff.1")).await;
    assert_eq!(stale["reset"], true);
    let bad = node.get(&format!("/v1/replication/changes?{summer}&since=nonsense"), Some(&ada_c)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// A page asking where to start is answered from the journal as it is (no pass over every photo
/// first): a photo that arrived after the journal's last pass is then in the first page and comes
/// again as added at the next poll, never lost between the two.
#[tokio::test]
async fn a_start_cursor_from_a_lagging_journal_loses_nothing() {
    let (mut node, ada, ada_c, _bea_c) = family().await;
    post_photo(&mut node, &ada, &ada_c, &photo_id(0), SUMMER, false).await;
    let summer = format!("album={SUMMER}");
    // The journal's first pass happens with the first start cursor (a node that runs makes it at
    // its start).
    changes(&node, &ada_c, &summer).await;
    next_refresh().await;

    post_photo(&mut node, &ada, &ada_c, &photo_id(1), SUMMER, false).await;
    let start = changes(&node, &ada_c, &summer).await;
    let cursor = start["cursor"].as_str().unwrap().to_string();
    let page = node.get(&format!("/v1/albums/{SUMMER}/photos?limit=10"), Some(&ada_c)).await.json();
    assert_eq!(ids(&page), vec![photo_id(1), photo_id(0)]);

    next_refresh().await;
    let poll = changes(&node, &ada_c, &format!("{summer}&since={cursor}")).await;
    assert_eq!(ids(&json!({"photos": poll["added"]})), vec![photo_id(1)], "{poll}");
}
