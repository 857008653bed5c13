//! The attacks of issue 12 against a node's HTTP API, each as the attacker would try it, and what
//! the node does instead. (The vault's own rules are in `crates/family-vault/tests/it/attacks.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use p2pos_core::{BlobId, Identity, NodeId, SignedRecord};
use p2pos_node::enroll::{DataDir, pin};
use p2pos_node::replication::PeerInfo;
use p2pos_node::{AppState, NodeConfig, login_message};
use serde_json::{Value, json};

use crate::common;

use common::{Clock, FAMILY, META, Node, ORIGIN, SUMMER, WINTER, member, now_ms, request, try_login_from};

/// A fresh node whose records are signed from 30 s ago.
async fn node() -> Node {
    let mut node = Node::new(|_| {}).await;
    node.clock.0 = now_ms() - 30_000;
    node
}

/// What the attacks here do with the shared node, beyond it.
trait Attacker {
    /// A record that must be accepted.
    async fn ok(&mut self, cookie: &str, who: &Identity, body: Value);
    /// A blob upload that must be stored.
    async fn stored(&self, cookie: &str, bytes: &[u8]) -> BlobId;
}

impl Attacker for Node {
    async fn ok(&mut self, cookie: &str, who: &Identity, body: Value) {
        let record = self.record(who, body);
        let reply = self.post("/v1/records", Some(cookie), record).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    }

    async fn stored(&self, cookie: &str, bytes: &[u8]) -> BlobId {
        let id = BlobId::of(bytes);
        let status = self.put_blob(cookie, &id, bytes.to_vec(), "application/octet-stream").await.status;
        assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status}");
        id
    }
}

fn photo(id: &str, album: &str, blob: BlobId, size: usize) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": 0, "blob": blob, "size": size,
           "thumb": null, "thumb_size": null, "meta": META, "deleted": false})
}

/// Ann founds the family with two albums; Ben holds Summer only.
async fn river() -> (Node, Identity, String, Identity, String) {
    let mut node = node().await;
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ann_c = node.founded(&ann).await;
    node.ok(&ann_c, &ann, member(&ben, "member")).await;
    for album in [SUMMER, WINTER] {
        let key = Identity::generate().unwrap().recipient().to_string();
        let body =
            json!({"type": "album", "album": album, "epoch": 0, "recipient": key, "meta": META, "deleted": false});
        node.ok(&ann_c, &ann, body).await;
        node.ok(
            &ann_c,
            &ann,
            json!({"type": "grant", "album": album, "member": ann.id(), "epoch": 0, "key": META, "revoked": false}),
        )
        .await;
    }
    node.ok(
        &ann_c,
        &ann,
        json!({"type": "grant", "album": SUMMER, "member": ben.id(), "epoch": 0, "key": META, "revoked": false}),
    )
    .await;
    let ben_c = node.login(&ben).await;
    (node, ann, ann_c, ben, ben_c)
}

#[tokio::test]
async fn a_stranger_cannot_claim_a_node_without_its_setup_code() {
    let mut node = node().await;
    let (mallory, owner) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    // Mallory reaches the unclaimed node first: she signs in, then posts a family and makes
    // herself its admin.
    let login = try_login_from(&node.state, &mallory, None).await;
    assert_eq!(login.error(), (StatusCode::FORBIDDEN, "not_a_member".into()), "no session for a non-member");
    assert!(!login.headers.contains_key(header::SET_COOKIE));
    let cookie =
        login.headers.get(header::SET_COOKIE).map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    for body in [json!({"type": "family"}), member(&mallory, "admin")] {
        let record = node.record(&mallory, body);
        let reply = node.post("/v1/records", cookie.as_deref(), record).await;
        assert_ne!(reply.status, StatusCode::OK, "{:?}", reply.json());
    }
    assert_eq!(node.get("/v1/health", None).await.json()["claimed"], false);
    // The owner, at the console, still claims it with the code.
    node.founded(&owner).await;
}

#[tokio::test]
async fn a_family_record_is_only_taken_by_setup() {
    let (mut node, ann, ann_c, _, _) = river().await;
    let second = node.record(&ann, json!({"type": "family"}));
    assert_eq!(
        node.post("/v1/records", Some(&ann_c), second).await.error(),
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
}

#[tokio::test]
async fn a_joining_node_cannot_be_claimed_by_anyone() {
    let data = tempfile::tempdir().unwrap();
    let oak = NodeId::from_verifying_key(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key());
    pin(
        &DataDir::open(data.path()).unwrap().db,
        &PeerInfo { node: oak, name: "Oak".into(), base_url: None, added_ms: 1 },
    )
    .unwrap();
    let mut pine = Node {
        state: AppState::open(NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf()))
            .await
            .unwrap(),
        data,
        clock: Clock(now_ms()),
    };
    assert_eq!(pine.state.setup_code(), None, "no setup code is printed");
    let mallory = Identity::generate().unwrap();
    let records =
        vec![pine.record(&mallory, json!({"type": "family"})), pine.record(&mallory, member(&mallory, "admin"))];
    for code in ["", "ABCDE-FGHJK"] {
        let reply = pine.post("/v1/setup", None, json!({"code": code, "records": records})).await;
        assert_eq!(reply.error(), (StatusCode::CONFLICT, "conflict".into()), "{:?}", reply.json());
    }
    let _ = &pine.data;
}

/// `p2pos up` starts Pine to join Oak's family before Oak is claimed: until it is enrolled, it has
/// no peer, yet it must neither print a setup code nor be claimable, and it says so in its health.
#[tokio::test]
async fn a_node_started_to_join_has_no_setup_code_and_cannot_be_claimed() {
    let mut pine = Node::new(|config| config.joining = true).await;
    assert_eq!(pine.state.setup_code(), None, "no setup code is printed");
    let health = pine.get("/v1/health", None).await.json();
    assert_eq!((health["claimed"].as_bool(), health["joining"].as_bool()), (Some(false), Some(true)));
    let mallory = Identity::generate().unwrap();
    let records =
        vec![pine.record(&mallory, json!({"type": "family"})), pine.record(&mallory, member(&mallory, "admin"))];
    for code in ["", "ABCDE-FGHJK"] {
        let reply = pine.post("/v1/setup", None, json!({"code": code, "records": records})).await;
        assert_eq!(reply.error(), (StatusCode::CONFLICT, "conflict".into()), "{:?}", reply.json());
    }
    assert_eq!(pine.get("/v1/health", None).await.json()["claimed"], false);
}

#[tokio::test]
async fn a_member_reads_not_one_byte_of_an_album_not_shared_with_him() {
    let (mut node, ann, ann_c, ben, ben_c) = river().await;
    let winter_bytes = b"ann's winter ciphertext".to_vec();
    let winter_blob = node.stored(&ann_c, &winter_bytes).await;
    node.ok(&ann_c, &ann, photo("winterphotoaaaaaaaaaaaaaaa", WINTER, winter_blob, winter_bytes.len())).await;

    // 1. Ben reads the log: Winter's records (and its blob id) are not in it.
    let log = node.get("/v1/records?since=0&limit=10000", Some(&ben_c)).await;
    assert_eq!(log.status, StatusCode::OK);
    let text = String::from_utf8(log.body.clone()).unwrap();
    let bodies: Vec<String> = log
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| String::from_utf8(B64.decode(e["record"]["body"].as_str().unwrap()).unwrap()).unwrap())
        .collect();
    assert!(bodies.iter().all(|b| !b.contains(WINTER) && !b.contains(&winter_blob.to_string())), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains(SUMMER)), "Ben does see his own album: {text}");
    // 2. He points a Summer photo at Winter's blob (had he learnt its id elsewhere)...
    let stolen = node.record(&ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, winter_blob, winter_bytes.len()));
    assert_eq!(
        node.post("/v1/records", Some(&ben_c), stolen).await.error(),
        (StatusCode::FORBIDDEN, "record_refused".into())
    );
    // 3. ...and asks for the blob: refused, as is the album.
    assert_eq!(node.get(&format!("/v1/blobs/{winter_blob}"), Some(&ben_c)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(node.get(&format!("/v1/albums/{WINTER}"), Some(&ben_c)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn records_stamped_far_from_the_nodes_clock_are_refused() {
    let (mut node, _, _, ben, ben_c) = river().await;
    let bytes = b"a summer photo".to_vec();
    let blob = node.stored(&ben_c, &bytes).await;
    let mut body = photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, blob, bytes.len());
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    for (wall_ms, code) in
        [(u64::MAX, "clock_ahead"), (now_ms() + 5 * 60_000, "clock_ahead"), (now_ms() - 3_600_000, "clock_behind")]
    {
        body["hlc"] = json!({"wall_ms": wall_ms, "counter": 0});
        let record = serde_json::to_value(SignedRecord::sign(&ben, &body).unwrap()).unwrap();
        let reply = node.post("/v1/records", Some(&ben_c), record).await;
        assert_eq!(reply.error(), (StatusCode::BAD_REQUEST, code.into()), "{:?}", reply.json());
    }
    // Nothing was kept: the same photo, stamped now, is accepted as new.
    node.ok(&ben_c, &ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, blob, bytes.len())).await;
}

#[tokio::test]
async fn a_record_that_lies_about_a_stored_blobs_size_is_refused() {
    let (mut node, _, _, ben, ben_c) = river().await;
    let bytes = vec![7u8; 5_000];
    let blob = node.stored(&ben_c, &bytes).await;
    let lie = node.record(&ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, blob, 1));
    let reply = node.post("/v1/records", Some(&ben_c), lie).await;
    assert_eq!(reply.error(), (StatusCode::FORBIDDEN, "record_refused".into()));
    assert!(reply.json()["message"].as_str().unwrap().contains("5000 bytes"), "{:?}", reply.json());
}

#[tokio::test]
async fn one_address_holding_10000_logins_does_not_delay_a_members_login_from_another() {
    let (node, ann, _, _, _) = river().await;
    // A flood of challenges, from one address and from a thousand IPv6 /64s: every one is
    // answered, and none is stored (challenges are stateless), so none can crowd out a login.
    let one: SocketAddr = "203.0.113.9:4000".parse().unwrap();
    for i in 0..10_000u32 {
        let from = if i % 2 == 0 { one } else { format!("[2001:db8:{:x}::1]:5000", i).parse().unwrap() };
        let body = json!({"identity": Identity::generate().unwrap().id()}).to_string();
        let reply =
            node.call(request("POST", "/v1/auth/challenge", None, Some(from)).body(Body::from(body)).unwrap()).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let elsewhere: SocketAddr = "198.51.100.7:6000".parse().unwrap();
    assert_eq!(try_login_from(&node.state, &ann, Some(elsewhere)).await.status, StatusCode::OK);
    assert_eq!(
        try_login_from(&node.state, &ann, Some(one)).await.status,
        StatusCode::OK,
        "even from the flooding address"
    );
}

#[tokio::test]
async fn a_challenge_works_once_for_the_identity_it_was_made_for() {
    let (node, ann, _, ben, _) = river().await;
    let c = node.post("/v1/auth/challenge", None, json!({"identity": ann.id()})).await.json();
    let nonce = c["nonce"].as_str().unwrap();
    let expires = c["expires_ms"].as_u64().unwrap();
    let answer = |who: &Identity| {
        let sig = B64.encode(who.sign(login_message(ORIGIN, nonce, expires).as_bytes()).to_bytes());
        json!({"identity": who.id(), "nonce": nonce, "sig": sig})
    };
    assert_eq!(node.post("/v1/auth/verify", None, answer(&ben)).await.status, StatusCode::UNAUTHORIZED, "made for Ann");
    assert_eq!(node.post("/v1/auth/verify", None, answer(&ann)).await.status, StatusCode::OK);
    assert_eq!(node.post("/v1/auth/verify", None, answer(&ann)).await.status, StatusCode::UNAUTHORIZED, "used");
    let mut forged = B64URL.decode(nonce).unwrap();
    forged[..8].copy_from_slice(&(expires + 3_600_000).to_be_bytes());
    let forged = B64URL.encode(forged);
    let sig = B64.encode(ann.sign(login_message(ORIGIN, &forged, expires + 3_600_000).as_bytes()).to_bytes());
    let reply = node.post("/v1/auth/verify", None, json!({"identity": ann.id(), "nonce": forged, "sig": sig})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "a nonce whose expiry was moved");
}

#[tokio::test]
async fn a_range_past_the_end_of_a_blob_is_clamped() {
    let (mut node, ann, ann_c, _, _) = river().await;
    let bytes: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let blob = node.stored(&ann_c, &bytes).await;
    node.ok(&ann_c, &ann, photo("annphotoaaaaaaaaaaaaaaaaaa", SUMMER, blob, bytes.len())).await;
    let get = |range: &str| {
        request("GET", &format!("/v1/blobs/{blob}"), Some(&ann_c), None)
            .header(header::RANGE, range)
            .body(Body::empty())
            .unwrap()
    };
    let tail = node.call(get("bytes=900-5000")).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.headers[header::CONTENT_RANGE], "bytes 900-999/1000");
    assert_eq!(tail.body, bytes[900..]);
    assert_eq!(
        node.call(get("bytes=1000-1200")).await.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a start past the end"
    );
}

#[tokio::test]
async fn metrics_answer_this_machine_or_the_operators_token_only() {
    let node = node().await;
    let metrics = |from: &str, forwarded: bool| {
        let mut req = request("GET", "/metrics", None, Some(from.parse().unwrap()));
        if forwarded {
            req = req.header("x-forwarded-for", "203.0.113.5");
        }
        req.body(Body::empty()).unwrap()
    };
    assert_eq!(node.call(metrics("127.0.0.1:50000", false)).await.status, StatusCode::OK);
    assert_eq!(node.call(metrics("[::1]:50000", false)).await.status, StatusCode::OK);
    assert_eq!(node.call(metrics("127.0.0.1:50000", true)).await.status, StatusCode::FORBIDDEN, "through a proxy");
    assert_eq!(node.call(metrics("203.0.113.5:50000", false)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_removed_members_session_reads_and_writes_nothing() {
    let (mut node, ann, ann_c, ben, ben_c) = river().await;
    let removal = json!({"type": "member", "member": ben.id(), "role": "member", "recipient": ben.recipient().to_string(), "removed": true});
    node.ok(&ann_c, &ann, removal).await;
    assert_eq!(node.get("/v1/records", Some(&ben_c)).await.error(), (StatusCode::FORBIDDEN, "not_a_member".into()));
    let bytes = b"after".to_vec();
    let late = node.record(&ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, BlobId::of(&bytes), bytes.len()));
    assert_eq!(
        node.post("/v1/records", Some(&ben_c), late).await.error(),
        (StatusCode::FORBIDDEN, "not_a_member".into())
    );
    assert_eq!(try_login_from(&node.state, &ben, None).await.error(), (StatusCode::FORBIDDEN, "not_a_member".into()));
}
