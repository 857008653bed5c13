//! The vault API on one node: claiming it, signing in, records, blobs, and who may read what.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::{BlobId, Identity};
use p2pos_node::login_message;
use serde_json::json;

use crate::common;

use common::{META, Node, ORIGIN, member};

/// The album every test here uses.
const ALBUM: &str = common::SUMMER;

#[tokio::test]
async fn a_fresh_node_is_claimed_once_with_its_setup_code() {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    let records = vec![node.record(&ada, json!({"type": "family"})), node.record(&ada, member(&ada, "admin"))];
    let wrong = node.post("/v1/setup", None, json!({"code": "WRONG-CODE0", "records": records})).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cookie = node.founded(&ada).await;
    let me = node.get("/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["role"], "admin");
    assert_eq!(node.state.setup_code(), None, "the code is used up");
    let again = node.post("/v1/setup", None, json!({"code": "ANY", "records": []})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn login_is_bound_to_the_origin_and_each_challenge_works_once() {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    node.founded(&ada).await;
    let challenge = node.post("/v1/auth/challenge", None, json!({"identity": ada.id()})).await.json();
    let nonce = challenge["nonce"].as_str().unwrap();
    let expires = challenge["expires_ms"].as_u64().unwrap();
    // Signed for another site: refused.
    let elsewhere = B64.encode(ada.sign(login_message("https://evil.example", nonce, expires).as_bytes()).to_bytes());
    let reply =
        node.post("/v1/auth/verify", None, json!({"identity": ada.id(), "nonce": nonce, "sig": elsewhere})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let right = B64.encode(ada.sign(login_message(ORIGIN, nonce, expires).as_bytes()).to_bytes());
    let answer = json!({"identity": ada.id(), "nonce": nonce, "sig": right});
    assert_eq!(node.post("/v1/auth/verify", None, answer.clone()).await.status, StatusCode::OK);
    let replay = node.post("/v1/auth/verify", None, answer).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a challenge is single-use");
    // Another identity cannot use Ada's challenge.
    let bob = Identity::generate().unwrap();
    let fresh = node.post("/v1/auth/challenge", None, json!({"identity": ada.id()})).await.json();
    let nonce = fresh["nonce"].as_str().unwrap();
    let msg = login_message(ORIGIN, nonce, fresh["expires_ms"].as_u64().unwrap());
    let sig = B64.encode(bob.sign(msg.as_bytes()).to_bytes());
    let reply = node.post("/v1/auth/verify", None, json!({"identity": bob.id(), "nonce": nonce, "sig": sig})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(node.get("/v1/auth/me", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(node.get("/v1/auth/me", Some("p2pos_session=forged")).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn members_read_shared_photos_and_strangers_get_403() {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    let bea = Identity::generate().unwrap();
    let carl = Identity::generate().unwrap();
    let ada_c = node.founded(&ada).await;
    for body in [
        member(&bea, "member"),
        json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false}),
        json!({"type": "grant", "album": ALBUM, "member": ada.id(), "epoch": 1, "key": META, "revoked": false}),
        json!({"type": "grant", "album": ALBUM, "member": bea.id(), "epoch": 1, "key": META, "revoked": false}),
    ] {
        let record = node.record(&ada, body);
        let reply = node.post("/v1/records", Some(&ada_c), record).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    }
    let bea_c = node.login(&bea).await;
    // Carl proves his key but is not a member: no session, and a clear reason.
    let refused = node.try_login(&carl).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));
    assert!(!refused.headers.contains_key(header::SET_COOKIE));

    let photo: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let id = BlobId::of(&photo);
    assert_eq!(
        node.put_blob(&bea_c, &id, photo.clone(), "image/jpeg").await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(node.put_blob(&bea_c, &id, photo.clone(), "application/octet-stream").await.status, StatusCode::CREATED);
    assert_eq!(node.put_blob(&bea_c, &id, photo.clone(), "application/octet-stream").await.status, StatusCode::OK);
    let photo_record = node.record(
        &bea,
        json!({"type": "photo", "photo": "photoaaaaaaaaaaaaaaaaaaaaa", "album": ALBUM, "epoch": 1, "blob": id,
               "size": photo.len(), "thumb": null, "thumb_size": null, "meta": META, "deleted": false}),
    );
    assert_eq!(node.post("/v1/records", Some(&bea_c), photo_record).await.status, StatusCode::OK);

    let full = node.get(&format!("/v1/blobs/{id}"), Some(&bea_c)).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, photo);
    let req =
        Request::get(format!("/v1/blobs/{id}")).header(header::COOKIE, &ada_c).header(header::RANGE, "bytes=100-199");
    let part = node.call(req.body(Body::empty()).unwrap()).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers[header::CONTENT_RANGE], "bytes 100-199/300000");
    assert_eq!(part.body, photo[100..200]);

    // Without a session: 401 on the blob, the album, the records.
    assert_eq!(node.get(&format!("/v1/blobs/{id}"), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(node.get(&format!("/v1/albums/{ALBUM}"), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(node.get("/v1/records", None).await.status, StatusCode::UNAUTHORIZED);

    let album = node.get(&format!("/v1/albums/{ALBUM}"), Some(&bea_c)).await.json();
    assert_eq!((album["photos"].as_u64(), album["bytes"].as_u64()), (Some(1), Some(photo.len() as u64)));
    assert_eq!(album["keys"][0]["epoch"], 1);
    let page = node.get(&format!("/v1/albums/{ALBUM}/photos"), Some(&bea_c)).await.json();
    assert_eq!(page["photos"][0]["blob"], id.to_string());
    let log = node.get("/v1/records?since=0", Some(&bea_c)).await.json();
    assert_eq!(log.as_array().unwrap().len(), 7);
    // Without photo records: the other six, the photo's left out.
    let keys_only = node.get("/v1/records?since=0&photos=false", Some(&bea_c)).await.json();
    assert_eq!(keys_only.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn bad_uploads_and_forged_records_change_nothing() {
    let mut node = Node::new(|c| c.max_upload_bytes = 1_000).await;
    let ada = Identity::generate().unwrap();
    let ada_c = node.founded(&ada).await;
    let big = vec![7u8; 1_001];
    let reply = node.put_blob(&ada_c, &BlobId::of(&big), big.clone(), "application/octet-stream").await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"], "payload_too_large");
    let small = vec![1u8; 10];
    let reply = node.put_blob(&ada_c, &BlobId::of(b"other"), small, "application/octet-stream").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "bytes that do not hash to the id");

    let before = node.get("/v1/records", Some(&ada_c)).await.body;
    let mut forged = node.record(&ada, json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false}));
    let body = B64.decode(forged["body"].as_str().unwrap()).unwrap();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    forged["body"] = json!(B64.encode(tampered));
    assert_eq!(node.post("/v1/records", Some(&ada_c), forged).await.status, StatusCode::BAD_REQUEST);
    let malformed = node
        .call(
            Request::post("/v1/records")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ORIGIN, ORIGIN)
                .header(header::COOKIE, &ada_c)
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(node.get("/v1/records", Some(&ada_c)).await.body, before, "nothing stored changed");

    let record = node.record(&ada, json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false}));
    let first = node.post("/v1/records", Some(&ada_c), record.clone()).await.json();
    let replay = node.post("/v1/records", Some(&ada_c), record).await.json();
    assert_eq!(first["seq"], replay["seq"], "a replayed record is stored once");
}

#[tokio::test]
async fn state_changes_from_another_origin_are_refused() {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    let ada_c = node.founded(&ada).await;
    let record = node.record(&ada, json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false}));
    let req = Request::post("/v1/records")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &ada_c)
        .body(Body::from(record.to_string()))
        .unwrap();
    assert_eq!(node.call(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn old_sessions_rotate_and_logout_ends_them() {
    let mut node = Node::new(|c| c.session_rotate_after = Duration::ZERO).await;
    let ada = Identity::generate().unwrap();
    let first = node.founded(&ada).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reply = node.get("/v1/auth/me", Some(&first)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let rotated = reply.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_ne!(rotated, first);
    assert_eq!(node.get("/v1/auth/me", Some(&first)).await.status, StatusCode::UNAUTHORIZED, "the old token is gone");
    assert_eq!(node.post("/v1/auth/logout", Some(&rotated), json!({})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(node.get("/v1/auth/me", Some(&rotated)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_sessions_are_refused() {
    let mut node = Node::new(|c| c.session_ttl = Duration::from_millis(1)).await;
    let ada = Identity::generate().unwrap();
    let cookie = node.founded(&ada).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(node.get("/v1/auth/me", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_count_without_naming_anyone() {
    let mut node = Node::new(|c| c.metrics_token = Some("operator-token".into())).await;
    let ada = Identity::generate().unwrap();
    let cookie = node.founded(&ada).await;
    let bytes = vec![3u8; 1234];
    node.put_blob(&cookie, &BlobId::of(&bytes), bytes, "application/octet-stream").await;
    assert_eq!(node.get("/metrics", None).await.status, StatusCode::UNAUTHORIZED, "the operator's token only");
    let req = Request::get("/metrics").header(header::AUTHORIZATION, "Bearer operator-token");
    let text = String::from_utf8(node.call(req.body(Body::empty()).unwrap()).await.body).unwrap();
    assert!(text.contains("p2pos_node_records 2"), "{text}");
    assert!(text.contains("p2pos_node_blob_bytes 1234"));
    assert!(text.contains("p2pos_node_logins_total 1"));
    assert!(!text.contains(&ada.id().to_string()));
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let node = Node::new(|_| {}).await;
    let preflight = |origin: &str| {
        Request::options("/v1/auth/me")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap()
    };
    let reply = node.call(preflight("https://app.example")).await;
    assert!(reply.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let allowed = Node::new(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let reply = allowed.call(preflight("https://app.example")).await;
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let other = allowed.call(preflight("https://evil.example")).await;
    assert!(other.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn malformed_requests_get_json_errors_and_change_nothing() {
    let mut node = Node::new(|_| {}).await;
    let ada = Identity::generate().unwrap();
    let cookie = node.founded(&ada).await;
    let before = node.get("/v1/records", Some(&cookie)).await.body;
    let send = |body: &str, ctype: &str| {
        Request::post("/v1/records")
            .header(header::CONTENT_TYPE, ctype)
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookie)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let cases: [(&str, &str, StatusCode, &str); 5] = [
        ("{not json", "application/json", StatusCode::BAD_REQUEST, "bad_request"),
        (
            r#"{"body":"e30=","signer":"x","sig":"","extra":1}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (r#"{"body":"e30="}"#, "application/json", StatusCode::BAD_REQUEST, "bad_request"),
        (
            r#"{"body":"e30=","signer":"x","sig":""}"#,
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            &format!(r#"{{"body":"{}","signer":"x","sig":""}}"#, "A".repeat(300_000)),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, ctype, status, code) in cases {
        let reply = node.call(send(body, ctype)).await;
        assert_eq!(reply.status, status, "{}", &body[..body.len().min(60)]);
        assert_eq!(reply.json()["error"], code, "the error is JSON with a code");
    }
    let reply = node.get("/v1/records?since=abc", Some(&cookie)).await;
    assert_eq!((reply.status, reply.json()["error"].clone()), (StatusCode::BAD_REQUEST, json!("bad_request")));
    assert_eq!(node.get("/v1/records", Some(&cookie)).await.body, before, "nothing stored changed");
}
