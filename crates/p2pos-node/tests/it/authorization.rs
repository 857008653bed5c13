//! The authorization matrix: every route, and every kind of record, for every kind of caller.
//!
//! The River family on one node: Ann (admin) founded it. Summer is Ann's album, at epoch 1 after
//! a key rotation. Its holders are Ann, Alma (the author of photo P) and Otto (another member with
//! a grant). Nils is a member with no Summer grant; he holds Winter only. Rhea's Summer key was
//! revoked, and Remy was removed from the family after he had signed in. Nodes send signed peer
//! requests and never hold a session. A stranger cannot sign in at all. `docs/SECURITY.md` has
//! one row per line here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use p2pos_core::{BlobId, Identity, NodeId};
use p2pos_net::PeerRequest;
use p2pos_net::auth::sign_request;
use p2pos_node::enroll::{DataDir, pin};
use p2pos_node::replication::PeerInfo;
use p2pos_node::{AppState, NodeConfig};
use serde_json::{Value, json};

use crate::common;

use common::{Clock, META, ORIGIN, Reply, SUMMER, WINTER, login, member_record as member, now_ms, send, try_login};

const PHOTO: &str = "photopaaaaaaaaaaaaaaaaaaaa";

async fn call(state: &AppState, method: Method, path: &str, cookie: Option<&str>, body: Vec<u8>, ctype: &str) -> Reply {
    let mut req =
        Request::builder().method(method).uri(path).header(header::ORIGIN, ORIGIN).header(header::CONTENT_TYPE, ctype);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(state, req.body(Body::from(body)).unwrap()).await
}

fn album(id: &str, epoch: u32, recipient: &str) -> Value {
    json!({"type": "album", "album": id, "epoch": epoch, "recipient": recipient, "meta": META, "deleted": false})
}

fn grant(album: &str, to: &Identity, epoch: u32, revoked: bool) -> Value {
    json!({"type": "grant", "album": album, "member": to.id(), "epoch": epoch, "key": if revoked { "" } else { META }, "revoked": revoked})
}

fn family_meta(epoch: u32, recipient: &str) -> Value {
    json!({"type": "family_meta", "epoch": epoch, "recipient": recipient, "meta": META})
}

fn family_grant(to: &Identity, epoch: u32) -> Value {
    json!({"type": "family_grant", "member": to.id(), "epoch": epoch, "key": META, "revoked": false})
}

fn profile(of: &Identity, epoch: u32) -> Value {
    json!({"type": "profile", "member": of.id(), "epoch": epoch, "meta": META})
}

fn photo(id: &str, album: &str, epoch: u32, blob: BlobId, size: usize, meta: &str, deleted: bool) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": epoch, "blob": blob, "size": size,
           "thumb": null, "thumb_size": null, "meta": meta, "deleted": deleted})
}

/// A valid object id, different for each caller.
fn oid(prefix: &str, c: &Caller) -> String {
    let letter = (b'a' + c.index) as char;
    format!("{prefix}{}", letter.to_string().repeat(26 - prefix.len()))
}

/// Who calls: a name, the session cookie, and the identity that signs their records.
struct Caller {
    index: u8,
    name: &'static str,
    cookie: Option<String>,
    signer: Identity,
}

#[tokio::test]
async fn every_route_and_record_for_every_kind_of_caller() {
    let data = tempfile::tempdir().unwrap();
    let config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
    let state = AppState::open(config.clone()).await.unwrap();
    let [ann, alma, otto, nils, rhea, remy, stranger, old] = std::array::from_fn(|_| Identity::generate().unwrap());
    let mut clock = Clock(now_ms() - 60_000);

    let setup = json!({"code": state.setup_code().unwrap(), "records": [clock.record(&ann, json!({"type": "family"})),
        clock.record(&ann, member(&ann, "admin", false))]});
    let claimed =
        call(&state, Method::POST, "/v1/setup", None, setup.to_string().into_bytes(), "application/json").await;
    assert_eq!(claimed.status, StatusCode::CREATED);
    let ann_c = login(&state, &ann).await;
    let post = |state: &AppState, cookie: Option<&str>, record: Value| {
        let (state, cookie) = (state.clone(), cookie.map(str::to_string));
        async move {
            call(
                &state,
                Method::POST,
                "/v1/records",
                cookie.as_deref(),
                record.to_string().into_bytes(),
                "application/json",
            )
            .await
        }
    };
    let (summer0, summer1, winter) = (
        Identity::generate().unwrap().recipient().to_string(),
        Identity::generate().unwrap().recipient().to_string(),
        Identity::generate().unwrap().recipient().to_string(),
    );
    // The family key: epoch 0 until Remy's removal, epoch 1 after.
    let (family0, family1) =
        (Identity::generate().unwrap().recipient().to_string(), Identity::generate().unwrap().recipient().to_string());
    let mut family = vec![family_meta(0, &family0)];
    for who in [&alma, &otto, &nils, &rhea, &remy, &old] {
        family.push(member(who, "member", false));
    }
    family.push(album(SUMMER, 0, &summer0));
    family.push(album(WINTER, 0, &winter));
    for who in [&ann, &alma, &otto, &rhea, &remy, &old] {
        family.push(grant(SUMMER, who, 0, false));
    }
    family.push(grant(WINTER, &ann, 0, false));
    family.push(grant(WINTER, &nils, 0, false));
    for body in family {
        let r = clock.record(&ann, body);
        assert_eq!(post(&state, Some(&ann_c), r).await.status, StatusCode::OK);
    }
    // Remy signs in before he is removed; `old`'s session expires (a handle whose sessions last 1 ms).
    let remy_c = login(&state, &remy).await;
    let short = AppState::open(NodeConfig { session_ttl: Duration::from_millis(1), ..config.clone() }).await.unwrap();
    let old_c = login(&short, &old).await;
    for body in [
        grant(SUMMER, &rhea, 0, true),
        member(&remy, "member", true),
        album(SUMMER, 1, &summer1),
        family_meta(1, &family1),
    ] {
        let r = clock.record(&ann, body);
        assert_eq!(post(&state, Some(&ann_c), r).await.status, StatusCode::OK);
    }
    for who in [&ann, &alma, &otto] {
        let r = clock.record(&ann, grant(SUMMER, who, 1, false));
        assert_eq!(post(&state, Some(&ann_c), r).await.status, StatusCode::OK);
    }
    let (alma_c, otto_c, nils_c, rhea_c) = (
        login(&state, &alma).await,
        login(&state, &otto).await,
        login(&state, &nils).await,
        login(&state, &rhea).await,
    );
    let blob_bytes = b"alma's ciphertext".to_vec();
    let blob = BlobId::of(&blob_bytes);
    let path = format!("/v1/blobs/{blob}");
    let put = call(&state, Method::PUT, &path, Some(&alma_c), blob_bytes.clone(), "application/octet-stream").await;
    assert_eq!(put.status, StatusCode::CREATED);
    let p = clock.record(&alma, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, false));
    assert_eq!(post(&state, Some(&alma_c), p).await.status, StatusCode::OK);

    // A stranger proves their key, and is told they are not a member: no session.
    let refused = try_login(&state, &stranger).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));
    assert!(refused.cookie().is_none());

    // An enrolled node (Pine), pinned on this data dir; nodes sign requests and hold no session.
    let pine = SigningKey::from_bytes(&[7; 32]);
    let pine_id = NodeId::from_verifying_key(&pine.verifying_key());
    pin(
        &DataDir::open(data.path()).unwrap().db,
        &PeerInfo { node: pine_id, name: "Pine".into(), base_url: None, added_ms: 1 },
    )
    .unwrap();
    let state = AppState::open(config.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    let callers = [
        Caller { index: 0, name: "none", cookie: None, signer: stranger.clone() },
        Caller { index: 1, name: "expired", cookie: Some(old_c), signer: old.clone() },
        Caller { index: 2, name: "author", cookie: Some(alma_c), signer: alma.clone() },
        Caller { index: 3, name: "other with grant", cookie: Some(otto_c), signer: otto.clone() },
        Caller { index: 4, name: "member without grant", cookie: Some(nils_c), signer: nils.clone() },
        Caller { index: 5, name: "revoked", cookie: Some(rhea_c), signer: rhea.clone() },
        Caller { index: 6, name: "removed", cookie: Some(remy_c), signer: remy.clone() },
        Caller { index: 7, name: "admin", cookie: Some(ann_c), signer: ann.clone() },
    ];

    use StatusCode as S;
    const U: S = S::UNAUTHORIZED;
    const F: S = S::FORBIDDEN;
    const OK: S = S::OK;
    let get = |path: &str| (Method::GET, path.to_string(), Vec::new(), "application/json");
    // Per route: the request, then the status for none, expired, author, other, no grant,
    // revoked, removed, admin.
    type Route<'a> = (Method, String, Vec<u8>, &'a str);
    let routes: Vec<(Route, [S; 8])> = vec![
        (get("/v1/health"), [OK; 8]),
        (
            (
                Method::POST,
                "/v1/setup".into(),
                json!({"code": "X", "records": []}).to_string().into_bytes(),
                "application/json",
            ),
            [S::CONFLICT; 8],
        ),
        (get("/v1/auth/me"), [U, U, OK, OK, OK, OK, OK, OK]),
        (get("/v1/records"), [U, U, OK, OK, OK, OK, F, OK]),
        (get("/v1/members"), [U, U, OK, OK, OK, OK, F, OK]),
        (get("/v1/albums"), [U, U, OK, OK, OK, OK, F, OK]),
        (get(&format!("/v1/albums/{SUMMER}")), [U, U, OK, OK, F, F, F, OK]),
        // The trash lists only what each caller may see (checked below); removed members get nothing.
        (get("/v1/trash"), [U, U, OK, OK, OK, OK, F, OK]),
        (get(&format!("/v1/albums/{SUMMER}/photos")), [U, U, OK, OK, F, F, F, OK]),
        (get("/v1/photos"), [U, U, OK, OK, OK, OK, F, OK]),
        (get(&format!("/v1/blobs/{blob}")), [U, U, OK, OK, F, F, F, OK]),
        (
            (Method::PUT, format!("/v1/blobs/{blob}"), blob_bytes.clone(), "application/octet-stream"),
            [U, U, OK, OK, OK, OK, F, OK],
        ),
        (get("/v1/replication/status"), [U, U, OK, OK, OK, OK, F, OK]),
        (get("/v1/replication/changes"), [U, U, OK, OK, OK, OK, F, OK]),
        (get(&format!("/v1/replication/changes?album={SUMMER}")), [U, U, OK, OK, F, F, F, OK]),
        (get("/v1/nodes"), [U, U, OK, OK, OK, OK, F, OK]),
        // Invitations: admins open, list and cancel them; anyone with the link may ask to join
        // (the stranger's identity in the body: a session changes nothing).
        (
            (
                Method::POST,
                "/v1/invites".into(),
                json!({"id": "aW52aXRlLWZvci10aGUtbWF0cml4"}).to_string().into_bytes(),
                "application/json",
            ),
            [U, U, F, F, F, F, F, S::CREATED],
        ),
        (get("/v1/invites"), [U, U, F, F, F, F, F, OK]),
        (
            (
                Method::POST,
                "/v1/invites/aW52aXRlLWZvci10aGUtbWF0cml4/join".into(),
                json!({"identity": stranger.id(), "recipient": stranger.recipient().to_string(),
                       "sealed": B64.encode([0u8; 40]), "mac": B64.encode([0u8; 32])})
                .to_string()
                .into_bytes(),
                "application/json",
            ),
            [S::ACCEPTED; 8],
        ),
        (
            (Method::DELETE, "/v1/invites/aW52aXRlLWZvci10aGUtbWF0cml4".into(), Vec::new(), "application/json"),
            [U, U, F, F, F, F, F, S::NO_CONTENT],
        ),
        // Admins only; this node has no hub, so even the admin gets 409 with the reason.
        ((Method::POST, "/v1/enroll".into(), Vec::new(), "application/json"), [U, U, F, F, F, F, F, S::CONFLICT]),
        (
            (
                Method::POST,
                "/v1/nodes/peers".into(),
                json!({"token": "P2POS-ENROLL-AAAA"}).to_string().into_bytes(),
                "application/json",
            ),
            [U, U, F, F, F, F, F, S::BAD_REQUEST],
        ),
        (
            (Method::DELETE, format!("/v1/nodes/peers/{}", ann.id()), Vec::new(), "application/json"),
            [U, U, F, F, F, F, F, S::NOT_FOUND],
        ),
        // Node-to-node routes take no session: an unsigned body is malformed for everyone.
        ((Method::POST, "/v1/peer/rpc".into(), b"{}".to_vec(), "application/json"), [S::BAD_REQUEST; 8]),
        ((Method::POST, "/v1/peer/blob".into(), b"{}".to_vec(), "application/json"), [S::BAD_REQUEST; 8]),
        // Metrics: loopback clients or the operator's token; a oneshot request has no address.
        (get("/metrics"), [F; 8]),
    ];
    for ((method, path, body, ctype), expected) in routes {
        for (caller, want) in callers.iter().zip(expected) {
            let got = call(&state, method.clone(), &path, caller.cookie.as_deref(), body.clone(), ctype).await;
            assert_eq!(got.status, want, "{method} {path} as {}: {}", caller.name, got.json());
        }
    }

    // The enrolled node: its signed requests are answered; with no session it reads nothing else.
    let rpc = sign_request(&pine, state.node_id(), now_ms(), &PeerRequest::Records { since: 0, limit: 1000 });
    let got =
        call(&state, Method::POST, "/v1/peer/rpc", None, serde_json::to_vec(&rpc).unwrap(), "application/json").await;
    assert_eq!(got.status, OK);
    assert!(got.json()["records"].as_array().unwrap().len() > 20, "nodes replicate every record");
    for path in [format!("/v1/albums/{SUMMER}"), format!("/v1/albums/{SUMMER}/photos"), "/v1/photos".into()] {
        let got = call(&state, Method::GET, &path, None, Vec::new(), "application/json").await;
        assert_eq!(got.status, U, "{path} as the node");
    }

    // Read scope: Nils (Winter only) gets the family's and members' records and Winter's, none of Summer's.
    let nils_log = call(&state, Method::GET, "/v1/records", callers[4].cookie.as_deref(), Vec::new(), "").await.json();
    let albums_seen: std::collections::BTreeSet<String> = nils_log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let body: Value =
                serde_json::from_slice(&B64.decode(e["record"]["body"].as_str().unwrap()).unwrap()).unwrap();
            body["album"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(albums_seen.into_iter().collect::<Vec<_>>(), vec![WINTER.to_string()]);
    // The same scope in the timeline: photo P (Summer) is on no page of Nils', and on Otto's.
    let timeline = |cookie: Option<String>| {
        let state = state.clone();
        async move { call(&state, Method::GET, "/v1/photos", cookie.as_deref(), Vec::new(), "").await.json() }
    };
    assert_eq!(timeline(callers[4].cookie.clone()).await["photos"], json!([]));
    assert_eq!(timeline(callers[3].cookie.clone()).await["photos"][0]["id"], PHOTO);

    // Records: each caller signs their own. Per kind: the status for none, expired, author,
    // other, no grant, revoked, removed, admin; and the error code of each 403.
    let other_blob = |c: &Caller| BlobId::of(c.name.as_bytes());
    let edited_meta = META.replace("YWdl", "ZWRpdA==");
    type Make<'a> = Box<dyn Fn(&Caller) -> Value + 'a>;
    type Expected = [(S, &'static str); 8];
    let kinds: Vec<(&str, Make, Expected)> = vec![
        (
            "a new photo in Summer",
            Box::new(|c: &Caller| photo(&oid("newphoto", c), SUMMER, 1, other_blob(c), 8, META, false)),
            [
                (U, ""),
                (U, ""),
                (OK, ""),
                (OK, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "new metadata for photo P",
            Box::new(|_: &Caller| photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), &edited_meta, false)),
            [
                (U, ""),
                (U, ""),
                (OK, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "photo P moved to Winter",
            Box::new(|_: &Caller| photo(PHOTO, WINTER, 0, blob, blob_bytes.len(), META, false)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (F, "record_refused"),
            ],
        ),
        (
            "photo P with another blob",
            Box::new(|c: &Caller| photo(PHOTO, SUMMER, 1, other_blob(c), 8, META, false)),
            [
                (U, ""),
                (U, ""),
                (OK, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "a new album",
            Box::new(|c: &Caller| album(&oid("newalbum", c), 0, &c.signer.recipient().to_string())),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "a Summer grant for themselves",
            Box::new(|c: &Caller| grant(SUMMER, &c.signer, 1, false)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "making themselves admin",
            Box::new(|c: &Caller| member(&c.signer, "admin", false)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "a second family record",
            Box::new(|_: &Caller| json!({"type": "family"})),
            [
                (U, ""),
                (U, ""),
                (F, "forbidden"),
                (F, "forbidden"),
                (F, "forbidden"),
                (F, "forbidden"),
                (F, "not_a_member"),
                (F, "forbidden"),
            ],
        ),
        (
            "their own name (profile)",
            Box::new(|c: &Caller| profile(&c.signer, 1)),
            [(U, ""), (U, ""), (OK, ""), (OK, ""), (OK, ""), (OK, ""), (F, "not_a_member"), (OK, "")],
        ),
        (
            "Otto's name (only Otto may sign it)",
            Box::new(|_: &Caller| profile(&otto, 1)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (OK, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (F, "record_refused"),
            ],
        ),
        (
            "renaming the family",
            Box::new(|_: &Caller| family_meta(1, &family1)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "a family key grant for themselves",
            Box::new(|c: &Caller| family_grant(&c.signer, 1)),
            [
                (U, ""),
                (U, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
        (
            "deleting photo P",
            Box::new(|_: &Caller| photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, true)),
            [
                (U, ""),
                (U, ""),
                (OK, ""),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "record_refused"),
                (F, "not_a_member"),
                (OK, ""),
            ],
        ),
    ];
    for (kind, make, expected) in kinds {
        // The author's "another blob" edit must not stop the others' checks: start from P each time.
        for (caller, (want, code)) in callers.iter().zip(expected) {
            let restore = clock.record(&alma, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, false));
            let _ = post(&state, callers[2].cookie.as_deref(), restore).await;
            let record = clock.record(&caller.signer, make(caller));
            let got = post(&state, caller.cookie.as_deref(), record).await;
            assert_eq!(got.status, want, "{kind} by {}: {}", caller.name, got.json());
            if want == F {
                assert_eq!(got.json()["error"], code, "{kind} by {}: {}", caller.name, got.json());
            }
        }
    }

    // Organising (issue 15). Restoring photo P from the trash: the same rule as deleting it.
    let deleted = clock.record(&alma, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, true));
    assert_eq!(post(&state, callers[2].cookie.as_deref(), deleted).await.status, OK);
    let trash_of = |c: &Caller| {
        let (state, cookie) = (state.clone(), c.cookie.clone());
        async move {
            let got = call(&state, Method::GET, "/v1/trash", cookie.as_deref(), Vec::new(), "").await;
            got.json()["photos"].as_array().map(|a| a.iter().map(|p| p["id"].to_string()).collect::<Vec<_>>())
        }
    };
    // In the trash of those who may open Summer, not of Nils (Winter only) or Rhea (revoked).
    let seen: Vec<usize> = {
        let mut seen = Vec::new();
        for c in &callers[2..6] {
            seen.push(trash_of(c).await.unwrap().len());
        }
        seen
    };
    assert_eq!(seen, vec![1, 1, 0, 0], "author, other with grant, no grant, revoked");
    assert_eq!(trash_of(&callers[7]).await.unwrap().len(), 1, "admin");
    let restoring: Expected = [
        (U, ""),
        (U, ""),
        (OK, ""),
        (F, "record_refused"),
        (F, "record_refused"),
        (F, "record_refused"),
        (F, "not_a_member"),
        (OK, ""),
    ];
    for (caller, (want, code)) in callers.iter().zip(restoring) {
        let delete = clock.record(&alma, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, true));
        let _ = post(&state, callers[2].cookie.as_deref(), delete).await;
        let record = clock.record(&caller.signer, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, false));
        let got = post(&state, caller.cookie.as_deref(), record).await;
        assert_eq!(got.status, want, "restoring photo P by {}: {}", caller.name, got.json());
        if want == F {
            assert_eq!(got.json()["error"], code, "restoring photo P by {}: {}", caller.name, got.json());
        }
    }
    // Renaming, deleting and restoring Summer: admins only (the album keeps its epoch and key).
    let renamed = META.replace("YWdl", "bmV3");
    let album_at = |meta: &str, deleted: bool| json!({"type": "album", "album": SUMMER, "epoch": 1, "recipient": summer1, "meta": meta, "deleted": deleted});
    let admins_only: Expected = [
        (U, ""),
        (U, ""),
        (F, "record_refused"),
        (F, "record_refused"),
        (F, "record_refused"),
        (F, "record_refused"),
        (F, "not_a_member"),
        (OK, ""),
    ];
    for (kind, body) in [
        ("renaming Summer", album_at(&renamed, false)),
        ("deleting Summer", album_at(&renamed, true)),
        ("restoring Summer", album_at(&renamed, false)),
    ] {
        for (caller, (want, code)) in callers.iter().zip(admins_only) {
            let record = clock.record(&caller.signer, body.clone());
            let got = post(&state, caller.cookie.as_deref(), record).await;
            assert_eq!(got.status, want, "{kind} by {}: {}", caller.name, got.json());
            if want == F {
                assert_eq!(got.json()["error"], code, "{kind} by {}: {}", caller.name, got.json());
            }
        }
    }

    // A record signed by someone else than the session's identity is refused, even for the admin.
    let by_otto = clock.record(&otto, photo(PHOTO, SUMMER, 1, blob, blob_bytes.len(), META, false));
    assert_eq!(post(&state, callers[7].cookie.as_deref(), by_otto).await.status, F);

    // Read scope of names: every member, with or without album grants, reads the family key's
    // record, its grants and every profile; a removed member reads none.
    let kinds_seen = |cookie: Option<String>| {
        let state = state.clone();
        async move {
            let log = call(&state, Method::GET, "/v1/records", cookie.as_deref(), Vec::new(), "").await.json();
            let kinds: std::collections::BTreeSet<String> = log
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|e| {
                            let body: Value =
                                serde_json::from_slice(&B64.decode(e["record"]["body"].as_str()?).ok()?).ok()?;
                            body["type"].as_str().map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            kinds
        }
    };
    let nils_kinds = kinds_seen(callers[4].cookie.clone()).await;
    for kind in ["family_meta", "family_grant", "profile"] {
        assert!(nils_kinds.contains(kind), "a member without grants reads {kind} records: {nils_kinds:?}");
    }
    assert!(kinds_seen(callers[6].cookie.clone()).await.is_empty(), "a removed member reads no names");
}
