//! Invitations (`/v1/invites`): an admin opens one, the invitee's browser asks to join with it,
//! the admin approves by signing a member record. One request per invitation, expiring, and join
//! attempts are rate limited. The authorization rows are in `authorization.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use p2pos_core::Identity;
use serde_json::{Value, json};

use crate::common::{self, Node, member};

const INVITE: &str = "aW52aXRhdGlvbi1mb3ItYmVu";

fn join_body(who: &Identity) -> Value {
    json!({"identity": who.id(), "recipient": who.recipient().to_string(),
           "sealed": B64.encode([1u8; 40]), "mac": B64.encode([2u8; 32])})
}

async fn delete(node: &Node, path: &str, cookie: &str) -> common::Reply {
    node.call(
        common::request(Method::DELETE.as_str(), path, Some(cookie), None).body(axum::body::Body::empty()).unwrap(),
    )
    .await
}

#[tokio::test]
async fn ann_invites_ben_who_asks_once_and_is_a_member_once_ann_signs() {
    let mut node = Node::new(|_| {}).await;
    let ann = Identity::generate().unwrap();
    let ann_c = node.founded(&ann).await;
    let (ben, eve) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let opened = node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE, "ttl_secs": 3600})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.json());
    assert_eq!(opened.json()["by"], json!(ann.id().to_string()));
    let again = node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE})).await;
    assert_eq!(again.error(), (StatusCode::CONFLICT, "conflict".into()), "an id is opened once");

    // Ben asks; his request waits for Ann. He is not a member yet: he cannot sign in.
    let asked = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&ben)).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    assert_eq!(node.try_login(&ben).await.error(), (StatusCode::FORBIDDEN, "not_a_member".into()));
    // A retry of the same request is answered alike; anyone else finds the invitation used.
    let retry = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&ben)).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    let late = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&eve)).await;
    assert_eq!(late.error(), (StatusCode::CONFLICT, "conflict".into()), "one request per invitation");

    let listed = node.get("/v1/invites", Some(&ann_c)).await.json();
    let request = &listed[0]["request"];
    assert_eq!(request["identity"], json!(ben.id().to_string()));
    assert_eq!(request["recipient"], json!(ben.recipient().to_string()));
    assert_eq!(request["mac"], json!(B64.encode([2u8; 32])));

    // Ann approves: she signs Ben's member record, then closes the invitation.
    let record = node.record(&ann, member(&ben, "member"));
    assert_eq!(node.post("/v1/records", Some(&ann_c), record).await.status, StatusCode::OK);
    assert_eq!(delete(&node, &format!("/v1/invites/{INVITE}"), &ann_c).await.status, StatusCode::NO_CONTENT);
    assert_eq!(node.try_login(&ben).await.status, StatusCode::OK);
    assert_eq!(node.get("/v1/invites", Some(&ann_c)).await.json(), json!([]));
    let gone = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&eve)).await;
    assert_eq!(gone.error(), (StatusCode::NOT_FOUND, "not_found".into()), "a closed invitation is gone");
    // A member needs no invitation.
    let opened = node.post("/v1/invites", Some(&ann_c), json!({"id": "c2Vjb25kLWludml0YXRpb24t"})).await;
    assert_eq!(opened.status, StatusCode::CREATED);
    let member_asks = node.post("/v1/invites/c2Vjb25kLWludml0YXRpb24t/join", None, join_body(&ben)).await;
    assert_eq!(member_asks.error(), (StatusCode::CONFLICT, "conflict".into()));
}

#[tokio::test]
async fn an_invitation_expires() {
    let mut node = Node::new(|_| {}).await;
    let ann = Identity::generate().unwrap();
    let ann_c = node.founded(&ann).await;
    let opened = node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE, "ttl_secs": 1})).await;
    assert_eq!(opened.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let late = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&Identity::generate().unwrap())).await;
    assert_eq!(late.error(), (StatusCode::NOT_FOUND, "not_found".into()));
    assert_eq!(node.get("/v1/invites", Some(&ann_c)).await.json(), json!([]));
}

#[tokio::test]
async fn bad_join_requests_are_refused_and_change_nothing() {
    let mut node = Node::new(|_| {}).await;
    let ann = Identity::generate().unwrap();
    let ann_c = node.founded(&ann).await;
    node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE})).await;
    let ben = Identity::generate().unwrap();
    let path = format!("/v1/invites/{INVITE}/join");
    let bad = |field: &str, value: Value| {
        let mut body = join_body(&ben);
        body[field] = value;
        body
    };
    for (what, body) in [
        ("a recipient that is not age", bad("recipient", json!("ssh-ed25519 AAAA"))),
        ("a mac of 31 bytes", bad("mac", json!(B64.encode([0u8; 31])))),
        ("a sealed name that is not base64", bad("sealed", json!("not base64!"))),
        ("a sealed name too long", bad("sealed", json!(B64.encode(vec![0u8; 4096])))),
        ("an identity that is not one", bad("identity", json!("ANN"))),
        ("an unknown field", bad("name", json!("Ben"))),
    ] {
        let got = node.post(&path, None, body).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{what}: {}", got.json());
    }
    let listed = node.get("/v1/invites", Some(&ann_c)).await.json();
    assert_eq!(listed[0]["request"], Value::Null, "nothing bad was kept");
    for (id, ttl) in [("short", 3600), (INVITE, 0), (INVITE, 8 * 24 * 3600)] {
        let got = node.post("/v1/invites", Some(&ann_c), json!({"id": id, "ttl_secs": ttl})).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "id {id}, ttl {ttl}: {}", got.json());
    }
    let unknown = node.post("/v1/invites/bm8tc3VjaC1pbnZpdGF0aW9u/join", None, join_body(&ben)).await;
    assert_eq!(unknown.error(), (StatusCode::NOT_FOUND, "not_found".into()));
}

#[tokio::test]
async fn join_attempts_are_rate_limited_for_the_whole_node() {
    let mut node = Node::new(|_| {}).await;
    let ann = Identity::generate().unwrap();
    let ann_c = node.founded(&ann).await;
    node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE})).await;
    let stranger = Identity::generate().unwrap();
    // Guessing ids: every miss counts.
    let mut limited = 0;
    for i in 0..40 {
        let guess = B64URL.encode([i as u8; 16]);
        let got = node.post(&format!("/v1/invites/{guess}/join"), None, join_body(&stranger)).await;
        if got.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(got.json()["error"], "too_many_requests");
            limited += 1;
        } else {
            assert_eq!(got.status, StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(limited, 10, "30 attempts a minute are answered, the rest refused");
    // Misses are what count: the real invitee, with an open, unused invitation, still gets in.
    let ben = Identity::generate().unwrap();
    let asked = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&ben)).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    let retry = node.post(&format!("/v1/invites/{INVITE}/join"), None, join_body(&ben)).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "a retry of the same request too");
    // A malformed id is a miss as well.
    let bad = node.post("/v1/invites/short/join", None, join_body(&stranger)).await;
    assert_eq!(bad.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_unknown_invitation_says_nothing_about_who_is_a_member() {
    let mut node = Node::new(|_| {}).await;
    let ann = Identity::generate().unwrap();
    let ann_c = node.founded(&ann).await;
    node.post("/v1/invites", Some(&ann_c), json!({"id": INVITE})).await;
    // Without the link, a member's id and a stranger's get the same answer.
    let unknown = "bm8tc3VjaC1pbnZpdGF0aW9u";
    let member = node.post(&format!("/v1/invites/{unknown}/join"), None, join_body(&ann)).await;
    let stranger =
        node.post(&format!("/v1/invites/{unknown}/join"), None, join_body(&Identity::generate().unwrap())).await;
    assert_eq!(member.status, StatusCode::NOT_FOUND, "{}", member.json());
    assert_eq!(member.json(), stranger.json());
}
