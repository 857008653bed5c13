//! Runs every case of `testvectors/chat.json` against `p2pos_core::chat`. The web app runs the
//! same file (Vitest and Chromium: `apps/web/src/vectors/`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use data_encoding::HEXLOWER;
use p2pos_core::chat::{
    Binary, ContactSecret, Parsed, Signal, binding, derive_secret, nearby_tag, normalize_fingerprint, parse_binary,
    parse_frame, rv_name, rv_names_at, slot_of, verify_binding, verify_known,
};
use p2pos_core::{Identity, IdentityId};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors/chat.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn s<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or_else(|| panic!("{}: no string field {field}", case["name"]))
}

fn secret(case: &Value) -> ContactSecret {
    ContactSecret::from_bytes(HEXLOWER.decode(s(case, "secret").as_bytes()).unwrap().try_into().unwrap())
}

fn b64u32(text: &str) -> [u8; 32] {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap().try_into().unwrap()
}

/// Checks one case: `Ok` when the implementation does what it says, else what differs.
fn check(case: &Value) -> Result<(), String> {
    let outcome: Result<(), String> = match s(case, "kind") {
        "frame" => match parse_frame(s(case, "input")) {
            Err(e) => Err(e.kind().to_string()),
            Ok(Parsed::Unknown { t }) => same("unknown type", &t, case["unknown"].as_str().unwrap_or("(not unknown)")),
            Ok(Parsed::Frame(frame)) => same("canonical", &frame.to_text(), case["canonical"].as_str().unwrap_or("")),
        },
        "binary" => match parse_binary(&HEXLOWER.decode(s(case, "input").as_bytes()).unwrap()) {
            Err(e) => Err(e.kind().to_string()),
            Ok(Binary::Chunk(body)) => same("chunk", &HEXLOWER.encode(&body), case["chunk"].as_str().unwrap_or("")),
            Ok(Binary::End) => {
                if case["end"] == true {
                    Ok(())
                } else {
                    Err("mismatch: end".into())
                }
            }
        },
        "signal" => match Signal::parse(&case["payload"]) {
            Err(e) => Err(e.kind().to_string()),
            Ok(None) => {
                if case["chat"] == false {
                    Ok(())
                } else {
                    Err("mismatch: not a chat signal".into())
                }
            }
            Ok(Some(signal)) => {
                if signal.payload() == case["canonical"] {
                    Ok(())
                } else {
                    Err("mismatch: canonical".into())
                }
            }
        },
        "nearby_tag" => same("tag", &nearby_tag(&secret(case), s(case, "s")), s(case, "tag")),
        "rv_name" => {
            let unix_ms = case["unix_ms"].as_u64().unwrap();
            let slot = slot_of(unix_ms);
            let names: Vec<Value> = rv_names_at(&secret(case), unix_ms).into_iter().map(Value::from).collect();
            (slot == case["slot"].as_u64().unwrap())
                .then_some(())
                .ok_or_else(|| "mismatch: slot".to_string())
                .and_then(|()| same("name", &rv_name(&secret(case), slot), s(case, "rv_name")))
                .and_then(|()| {
                    if Value::from(names) == case["names_at"] { Ok(()) } else { Err("mismatch: names_at".into()) }
                })
        }
        "binding" => {
            let seed: [u8; 32] = HEXLOWER.decode(s(case, "seed").as_bytes()).unwrap().try_into().unwrap();
            let me = Identity::from_seeds(seed, [1; 32]).unwrap();
            let my_id: IdentityId = s(case, "my_id").parse().unwrap();
            assert_eq!(me.id(), my_id, "{}: the seed is my_id's", case["name"]);
            let their: Option<IdentityId> = match s(case, "their_id") {
                "" => None,
                text => Some(text.parse().unwrap()),
            };
            let my_fp = normalize_fingerprint(s(case, "my_fp_input")).unwrap();
            same("normalised fingerprint", &my_fp, s(case, "my_fp"))
                .and_then(|()| {
                    same("binding", &binding(&my_id, their.as_ref(), &my_fp, s(case, "their_fp")), s(case, "binding"))
                })
                .and_then(|()| {
                    if case["valid"] == true {
                        same("sig", &p2pos_core::chat::sign_binding(&me, s(case, "binding")), s(case, "sig"))?;
                    }
                    verify_binding(&my_id, s(case, "binding"), s(case, "sig")).map_err(|_| "signature".to_string())
                })
        }
        "secret" => {
            let (a, b): (IdentityId, IdentityId) = (s(case, "id_a").parse().unwrap(), s(case, "id_b").parse().unwrap());
            let (ka, kb) = (b64u32(s(case, "k_a")), b64u32(s(case, "k_b")));
            match derive_secret((&a, &ka), (&b, &kb)) {
                Err(p2pos_core::chat::ChatError::SameIdentity) => Err("same_identity".into()),
                Err(e) => Err(e.to_string()),
                Ok(one) => {
                    let other = derive_secret((&b, &kb), (&a, &ka)).unwrap();
                    assert_eq!(one, other, "{}: the order of the sides does not matter", case["name"]);
                    same("secret", &HEXLOWER.encode(one.as_bytes()), s(case, "secret"))
                }
            }
        }
        "known" => {
            if verify_known(&secret(case), s(case, "binding"), s(case, "known")) {
                Ok(())
            } else {
                Err("known".into())
            }
        }
        other => panic!("unknown case kind {other}"),
    };
    match (case["valid"].as_bool().unwrap(), outcome) {
        (true, Ok(())) => Ok(()),
        (true, Err(why)) => Err(format!("{}: expected success, got {why}", case["name"])),
        (false, Ok(())) => Err(format!("{}: expected {}, but it succeeded", case["name"], case["error"])),
        (false, Err(kind)) if kind == s(case, "error") => Ok(()),
        (false, Err(kind)) => Err(format!("{}: expected {}, got {kind}", case["name"], case["error"])),
    }
}

fn same(what: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("mismatch: {what} is {got}, the vector says {want}")) }
}

#[test]
fn every_chat_vector_holds() {
    let cases = cases();
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    for kind in ["frame", "binary", "signal", "nearby_tag", "rv_name", "binding", "secret", "known"] {
        assert!(cases.iter().any(|c| c["kind"] == kind && c["valid"] == true), "no valid {kind} case");
        let invalid = cases.iter().any(|c| c["kind"] == kind && c["valid"] == false);
        assert!(invalid || ["nearby_tag", "rv_name"].contains(&kind), "no refused {kind} case");
    }
}

/// The runner itself must be able to fail: each valid case with one expected byte changed fails.
#[test]
fn a_changed_expected_value_fails() {
    let mut changed = 0;
    for case in cases().into_iter().filter(|c| c["valid"] == true) {
        let field = ["tag", "rv_name", "secret", "known", "sig", "canonical", "chunk"]
            .into_iter()
            .find(|f| case[*f].is_string())
            .or_else(|| (case["kind"] == "signal" && case["chat"] == true).then_some("canonical"));
        let Some(field) = field else { continue };
        let mut bad = case.clone();
        match &case[field] {
            Value::String(text) => {
                let mut chars: Vec<char> = text.chars().collect();
                let last = chars.len() - 1;
                chars[last] = if chars[last] == 'a' { 'b' } else { 'a' };
                bad[field] = Value::from(chars.into_iter().collect::<String>());
            }
            _ => bad[field]["rq"] = Value::from("BBBBBBBBBBBBBBBBBBBBBB"),
        }
        assert!(check(&bad).is_err(), "{}: changing {field} went unnoticed", case["name"]);
        changed += 1;
    }
    assert!(changed >= 20, "only {changed} cases were changed");
}
