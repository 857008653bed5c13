//! Runs every case of the shared `testvectors/*.json` against the Rust implementation.
//! The TypeScript suites run the same files (Node and Chromium).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::age::secrecy::SecretString;
use p2pos_core::age::x25519;
use p2pos_core::{BlobId, Identity, IdentityId, SignedRecord, agefile};
use serde_json::Value;

fn cases(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 3, "{name}.json has too few cases");
    assert!(cases.iter().any(|c| c["valid"] == true), "{name}.json has no valid case");
    cases
}

fn str_of<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or_else(|| panic!("{}: no string field {field}", case["name"]))
}

/// Checks one case's outcome: valid cases must succeed, invalid ones fail with the stated kind.
fn expect(case: &Value, outcome: Result<(), String>) {
    let name = str_of(case, "name");
    match (case["valid"].as_bool().unwrap(), outcome) {
        (true, Ok(())) => {}
        (true, Err(kind)) => panic!("{name}: expected success, failed with {kind}"),
        (false, Ok(())) => panic!("{name}: expected error {}, but it succeeded", case["error"]),
        (false, Err(kind)) => assert_eq!(kind, str_of(case, "error"), "{name}: wrong error kind"),
    }
}

#[test]
fn ids() {
    let mut invalid = 0;
    for case in cases("ids") {
        let outcome = str_of(&case, "input").parse::<IdentityId>().map_err(|e| e.kind().to_string()).map(|id| {
            assert_eq!(id.to_string(), str_of(&case, "id"), "{}", case["name"]);
            let key: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(key, str_of(&case, "public_key"), "{}", case["name"]);
        });
        invalid += usize::from(outcome.is_err());
        expect(&case, outcome);
    }
    assert!(invalid >= 8, "the vectors must exercise every error kind");
}

#[test]
fn records() {
    for case in cases("records") {
        let record: Result<SignedRecord, _> = serde_json::from_value(case["record"].clone());
        let outcome = record.map_err(|_| "malformed".to_string()).and_then(|r| {
            let verified = r.verify().map_err(|e| e.kind().to_string())?;
            assert_eq!(verified.signer.to_string(), str_of(&case, "signer"));
            assert_eq!(verified.parse::<Value>().unwrap(), case["body"]);
            Ok(())
        });
        expect(&case, outcome);
    }
}

#[test]
fn age_files() {
    for case in cases("age") {
        let identities: Vec<x25519::Identity> =
            case["identities"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().parse().unwrap()).collect();
        let file = B64.decode(str_of(&case, "file")).unwrap();
        let mut plain = Vec::new();
        let outcome =
            agefile::decrypt_to(&identities, &file[..], &mut plain).map_err(|e| e.kind().to_string()).map(|_| {
                assert_eq!(plain, B64.decode(str_of(&case, "plaintext")).unwrap(), "{}", case["name"]);
            });
        expect(&case, outcome);
    }
}

#[test]
fn backups() {
    for case in cases("backups") {
        let pass = SecretString::from(str_of(&case, "passphrase").to_string());
        let outcome = Identity::from_protected_file(str_of(&case, "file").as_bytes(), &pass)
            .map_err(|e| e.kind().to_string())
            .map(|me| {
                assert_eq!(me.id().to_string(), str_of(&case, "id"));
                assert_eq!(me.recipient().to_string(), str_of(&case, "recipient"));
                assert_eq!(me.to_file_text().as_str(), str_of(&case, "plaintext"));
            });
        expect(&case, outcome);
    }
}

#[test]
fn blobs() {
    for case in cases("blobs") {
        let data = B64.decode(str_of(&case, "data")).unwrap();
        assert_eq!(BlobId::of(&data).to_string(), str_of(&case, "blob_id"), "{}", case["name"]);
    }
}

#[test]
fn drop() {
    use data_encoding::HEXLOWER;
    use p2pos_core::drop::{DropSecret, EphemeralKey, Opener, Role, parse_public};
    let unhex = |s: &str| -> [u8; 32] { HEXLOWER.decode(s.as_bytes()).unwrap().try_into().unwrap() };
    for case in cases("drop") {
        let secret = DropSecret::parse(str_of(&case, "secret")).unwrap();
        let (sender, receiver) = (
            EphemeralKey::from_bytes(unhex(str_of(&case, "sender_private"))),
            EphemeralKey::from_bytes(unhex(str_of(&case, "receiver_private"))),
        );
        let (ps, pr, name) =
            (str_of(&case, "sender_pub"), str_of(&case, "receiver_pub"), str_of(&case, "receiver_name"));
        let outcome = (|| {
            assert_eq!(HEXLOWER.encode(&*secret.auth_key()), str_of(&case, "auth_key"));
            if !secret.verify_hello(Role::Receiver, pr, name, None, str_of(&case, "receiver_mac"))
                || !secret.verify_hello(Role::Sender, ps, "", Some(pr), str_of(&case, "sender_mac"))
            {
                return Err("bad_mac".to_string());
            }
            let key = sender.session_key(&parse_public(pr).unwrap(), &secret, ps, pr).unwrap();
            let again = receiver.session_key(&parse_public(ps).unwrap(), &secret, ps, pr).unwrap();
            assert_eq!(*key, *again);
            assert_eq!(HEXLOWER.encode(&*key), str_of(&case, "key"));
            let mut opener = Opener::new(&key);
            for frame in case["frames"].as_array().unwrap() {
                let bytes = B64.decode(str_of(frame, "frame")).unwrap();
                let kind = frame["kind"].as_u64().unwrap() as u8;
                assert_eq!(bytes[0], kind);
                let plain = opener.open(kind, &bytes[1..]).map_err(|_| "open".to_string())?;
                assert_eq!(B64.encode(plain), str_of(frame, "plaintext"));
            }
            Ok(())
        })();
        expect(&case, outcome);
    }
}

/// The runner itself must be able to fail: a valid case with one byte changed is refused.
#[test]
fn a_tampered_valid_vector_fails() {
    let case = cases("records").into_iter().find(|c| c["valid"] == true).unwrap();
    let mut record: SignedRecord = serde_json::from_value(case["record"].clone()).unwrap();
    let mut body = B64.decode(&record.body).unwrap();
    body[2] ^= 0x20;
    record.body = B64.encode(body);
    assert_eq!(record.verify().unwrap_err().kind(), "signature");
}
