//! Every route × {no session, expired session, another identity, member, admin}: the status each
//! cell must get. A member holds a grant to the album; "another identity" signed in but is not in
//! the family.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::BodyExt;
use p2pos_core::{BlobId, Identity, SignedRecord};
use p2pos_node::{AppState, NodeConfig, login_message, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const ORIGIN: &str = "http://127.0.0.1:7700";
const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const ALBUM: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

/// A request: method, path, body, content type.
type Call<'a> = (Method, String, Vec<u8>, &'a str);

async fn call(
    state: &AppState,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Body,
    ctype: &str,
) -> (StatusCode, Vec<u8>, Option<String>) {
    let mut req =
        Request::builder().method(method).uri(path).header(header::ORIGIN, ORIGIN).header(header::CONTENT_TYPE, ctype);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let response = router(state.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let cookie =
        response.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec(), cookie)
}

async fn login(state: &AppState, who: &Identity) -> String {
    let (_, body, _) = call(
        state,
        Method::POST,
        "/v1/auth/challenge",
        None,
        Body::from(json!({"identity": who.id()}).to_string()),
        "application/json",
    )
    .await;
    let c: Value = serde_json::from_slice(&body).unwrap();
    let nonce = c["nonce"].as_str().unwrap();
    let sig =
        B64.encode(who.sign(login_message(ORIGIN, nonce, c["expires_ms"].as_u64().unwrap()).as_bytes()).to_bytes());
    let verify = json!({"identity": who.id(), "nonce": nonce, "sig": sig});
    let (status, _, cookie) =
        call(state, Method::POST, "/v1/auth/verify", None, Body::from(verify.to_string()), "application/json").await;
    assert_eq!(status, StatusCode::OK);
    cookie.unwrap()
}

fn record(who: &Identity, n: u64, mut body: Value) -> Value {
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    body["hlc"] = json!({"wall_ms": 1_000 + n, "counter": 0});
    serde_json::to_value(SignedRecord::sign(who, &body).unwrap()).unwrap()
}

fn member(who: &Identity) -> Value {
    json!({"type": "member", "member": who.id(), "role": "member", "recipient": who.recipient().to_string(), "removed": false})
}

#[tokio::test]
async fn every_route_for_every_kind_of_caller() {
    let data = tempfile::tempdir().unwrap();
    let config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
    let state = AppState::open(config.clone()).await.unwrap();
    let (admin, mem, other, expired) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );

    // The family: admin founds it, adds `mem` (granted the album) and `expired`.
    let setup = json!({"code": state.setup_code().unwrap(), "records": [record(&admin, 1, json!({"type": "family"})),
        record(&admin, 2, json!({"type": "member", "member": admin.id(), "role": "admin", "recipient": admin.recipient().to_string(), "removed": false}))]});
    assert_eq!(
        call(&state, Method::POST, "/v1/setup", None, Body::from(setup.to_string()), "application/json").await.0,
        StatusCode::CREATED
    );
    let admin_c = login(&state, &admin).await;
    let blob_bytes = b"a ciphertext".to_vec();
    let blob = BlobId::of(&blob_bytes);
    for (n, body) in [
        member(&mem),
        member(&expired),
        json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": admin.recipient().to_string(), "meta": META, "deleted": false}),
        json!({"type": "grant", "album": ALBUM, "member": mem.id(), "epoch": 1, "key": META, "revoked": false}),
        json!({"type": "grant", "album": ALBUM, "member": admin.id(), "epoch": 1, "key": META, "revoked": false}),
        json!({"type": "grant", "album": ALBUM, "member": expired.id(), "epoch": 1, "key": META, "revoked": false}),
        json!({"type": "photo", "photo": "photoaaaaaaaaaaaaaaaaaaaaa", "album": ALBUM, "epoch": 1, "blob": blob, "size": 12,
               "thumb": null, "thumb_size": null, "meta": META, "deleted": false}),
    ]
    .into_iter()
    .enumerate()
    {
        let r = record(&admin, 10 + n as u64, body);
        assert_eq!(call(&state, Method::POST, "/v1/records", Some(&admin_c), Body::from(r.to_string()), "application/json").await.0, StatusCode::OK);
    }
    call(
        &state,
        Method::PUT,
        &format!("/v1/blobs/{blob}"),
        Some(&admin_c),
        Body::from(blob_bytes.clone()),
        "application/octet-stream",
    )
    .await;

    // An expired session: made by a second handle on the same data dir whose sessions last 1 ms.
    let short = AppState::open(NodeConfig { session_ttl: Duration::from_millis(1), ..config }).await.unwrap();
    let expired_c = login(&short, &expired).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mem_c = login(&state, &mem).await;
    let other_c = login(&state, &other).await;

    use StatusCode as S;
    let callers: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("expired", Some(&expired_c)),
        ("other", Some(&other_c)),
        ("member", Some(&mem_c)),
        ("admin", Some(&admin_c)),
    ];
    // Per route: the request, then the expected status for none, expired, other, member, admin.
    let mut n = 100;
    let mut new_record = |who: &Identity| {
        n += 1;
        record(
            who,
            n,
            json!({"type": "album", "album": "otheralbumaaaaaaaaaaaaaaaa", "epoch": 1, "recipient": admin.recipient().to_string(), "meta": META, "deleted": false}),
        )
    };
    let get = |path: &str| (Method::GET, path.to_string(), Vec::new(), "application/json");
    let cases: Vec<(Call, [S; 5])> = vec![
        (get("/v1/health"), [S::OK, S::OK, S::OK, S::OK, S::OK]),
        (
            (
                Method::POST,
                "/v1/setup".into(),
                json!({"code": "X", "records": []}).to_string().into_bytes(),
                "application/json",
            ),
            [S::CONFLICT; 5],
        ),
        (get("/v1/auth/me"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::OK, S::OK, S::OK]),
        (get("/v1/records"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (get("/v1/members"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (get("/v1/albums"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (get(&format!("/v1/albums/{ALBUM}")), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (get(&format!("/v1/blobs/{blob}")), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (
            (Method::PUT, format!("/v1/blobs/{blob}"), blob_bytes.clone(), "application/octet-stream"),
            [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK],
        ),
        (get("/v1/replication/status"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        (get("/v1/nodes"), [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK]),
        // Admins only; this node has no hub, so even the admin gets 409 with the reason.
        (
            (Method::POST, "/v1/enroll".into(), Vec::new(), "application/json"),
            [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::CONFLICT],
        ),
        (
            (
                Method::POST,
                "/v1/nodes/peers".into(),
                json!({"token": "P2POS-ENROLL-AAAA"}).to_string().into_bytes(),
                "application/json",
            ),
            [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::BAD_REQUEST],
        ),
        (
            (Method::DELETE, format!("/v1/nodes/peers/{}", admin.id()), Vec::new(), "application/json"),
            [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::NOT_FOUND],
        ),
        // Node-to-node routes take no session: an unsigned body is malformed for everyone.
        (
            (Method::POST, "/v1/peer/rpc".into(), b"{}".to_vec(), "application/json"),
            [S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST],
        ),
        (
            (Method::POST, "/v1/peer/blob".into(), b"{}".to_vec(), "application/json"),
            [S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST, S::BAD_REQUEST],
        ),
    ];
    for ((method, path, body, ctype), expected) in cases {
        for ((who, cookie), want) in callers.iter().zip(expected) {
            let (got, body, _) = call(&state, method.clone(), &path, *cookie, Body::from(body.clone()), ctype).await;
            assert_eq!(got, want, "{method} {path} as {who}: {}", String::from_utf8_lossy(&body));
        }
    }
    // Writing a record: each caller submits one signed by themselves; only the admin may create albums.
    let signer_for = [&other, &expired, &other, &mem, &admin];
    let expected = [S::UNAUTHORIZED, S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::OK];
    for (((who, cookie), signer), want) in callers.iter().zip(signer_for).zip(expected) {
        let r = new_record(signer);
        let (got, body, _) =
            call(&state, Method::POST, "/v1/records", *cookie, Body::from(r.to_string()), "application/json").await;
        assert_eq!(got, want, "POST /v1/records as {who}: {}", String::from_utf8_lossy(&body));
    }
    // A record signed by someone else than the session's identity is refused even for the admin.
    let r = new_record(&mem);
    assert_eq!(
        call(&state, Method::POST, "/v1/records", Some(&admin_c), Body::from(r.to_string()), "application/json")
            .await
            .0,
        S::FORBIDDEN
    );
}
