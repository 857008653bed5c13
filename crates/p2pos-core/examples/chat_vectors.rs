//! Writes `testvectors/chat.json`: the Chat protocol's bytes (docs/PROTOCOL.md, "Chat") for fixed
//! inputs, which the Rust core, the web app's twin (Vitest) and Chromium all check: text frames
//! and signals (accepted, with their canonical form, or refused with an error kind), binary image
//! frames, nearby tags, rendezvous names around a slot boundary, channel bindings and their
//! signatures, the shared secret of two new contacts, and `known` proofs.
//!
//! `cargo run -p p2pos-core --example chat_vectors [-- OUT_DIR]` (default: `testvectors/` at the
//! workspace root; `make vectors` runs it). Keys come from fixed seeds and Ed25519 signatures are
//! deterministic, so every run writes the same bytes.

use std::path::PathBuf;

use p2pos_core::Identity;
use p2pos_core::chat::{
    self, Binary, ContactSecret, Parsed, SLOT_MS, Signal, binding, derive_secret, known_proof, nearby_tag,
    normalize_fingerprint, parse_binary, parse_frame, rv_name, rv_names_at, sign_binding, slot_of,
};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

/// 2026-01-01T00:00:00Z: a slot boundary.
const BOUNDARY_MS: u64 = 1_767_225_600_000;
const ID16: &str = "MDEyMzQ1Njc4OWFiY2RlZg";

fn main() -> Result<(), Error> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors"));
    std::fs::create_dir_all(&out)?;
    let mut cases = Vec::new();
    cases.extend(frames()?);
    cases.extend(binaries()?);
    cases.extend(signals()?);
    cases.extend(tags());
    cases.extend(rendezvous());
    cases.extend(bindings()?);
    cases.extend(secrets()?);
    cases.extend(known()?);
    let doc = json!({
        "generated_by": "cargo run -p p2pos-core --example chat_vectors",
        "spec": "docs/PROTOCOL.md (Chat)",
        "cases": cases,
    });
    let path = out.join("chat.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Deterministic bytes for a label (the same derivation as `testvectors.rs`).
fn seed(label: &str) -> [u8; 32] {
    blake3::derive_key("p2pos testvectors v1", label.as_bytes())
}

fn person(label: &str) -> Result<Identity, p2pos_core::IdentityError> {
    Identity::from_seeds(seed(&format!("{label}/ed25519")), seed(&format!("{label}/x25519")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64u(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn fingerprint(label: &str) -> String {
    let bytes: Vec<String> = seed(label).iter().map(|b| format!("{b:02X}")).collect();
    format!("sha-256 {}", bytes.join(":"))
}

/// A text frame case: the outcome is whatever the Rust parser says (the generator never decides).
fn frame_case(name: &str, input: &str) -> Value {
    match parse_frame(input) {
        Ok(Parsed::Frame(frame)) => {
            json!({"kind": "frame", "name": name, "valid": true, "input": input, "canonical": frame.to_text()})
        }
        Ok(Parsed::Unknown { t }) => {
            json!({"kind": "frame", "name": name, "valid": true, "input": input, "unknown": t})
        }
        Err(e) => json!({"kind": "frame", "name": name, "valid": false, "input": input, "error": e.kind()}),
    }
}

fn frames() -> Result<Vec<Value>, Error> {
    let ann = person("chat/ann")?;
    let sig = b64u(&[7u8; 64]);
    let k = b64u(&seed("chat/k"));
    let known = b64u(&seed("chat/known"));
    let id = ann.id().to_string();
    let long_ok = "é".repeat(chat::MAX_TEXT);
    let too_long = "x".repeat(chat::MAX_TEXT + 1);
    let hello = |extra: &str| format!(r#"{{"t":"hello","v":1,"id":"{id}","name":"Ann","sig":"{sig}"{extra}}}"#);
    let list: Vec<(&str, String)> = vec![
        ("hello of a new contact (k)", hello(&format!(r#","k":"{k}""#))),
        ("hello of a contact (known)", hello(&format!(r#","known":"{known}""#))),
        ("hello with a lowercase id", hello("").replace(&id, &id.to_lowercase())),
        ("msg", format!(r#"{{"t":"msg","id":"{ID16}","at":1767225600123,"text":"Hello Ben 👋"}}"#)),
        ("msg fields in another order", format!(r#"{{"text":"hi","at":5,"id":"{ID16}","t":"msg"}}"#)),
        ("msg replying to another", format!(r#"{{"t":"msg","id":"{ID16}","at":5,"text":"yes","re":"{ID16}"}}"#)),
        ("msg of 4096 two-byte characters", format!(r#"{{"t":"msg","id":"{ID16}","at":5,"text":"{long_ok}"}}"#)),
        ("img", format!(r#"{{"t":"img","id":"{ID16}","at":5,"name":"cat.png","type":"image/png","size":150000}}"#)),
        ("ack delivered", format!(r#"{{"t":"ack","id":"{ID16}","k":"delivered"}}"#)),
        ("ack read", format!(r#"{{"t":"ack","id":"{ID16}","k":"read"}}"#)),
        ("typing", r#"{"t":"typing"}"#.into()),
        ("bye", r#"{"t":"bye"}"#.into()),
        ("an unknown type (ignored after hello)", r#"{"t":"reaction","id":"x","emoji":"+1"}"#.into()),
        ("not JSON", "hello".into()),
        ("a JSON array", r#"["t","msg"]"#.into()),
        ("no type", format!(r#"{{"id":"{ID16}","at":5,"text":"hi"}}"#)),
        ("a type that is not text", r#"{"t":7}"#.into()),
        ("msg with an unknown field", format!(r#"{{"t":"msg","id":"{ID16}","at":5,"text":"hi","from":"x"}}"#)),
        ("msg without text", format!(r#"{{"t":"msg","id":"{ID16}","at":5}}"#)),
        ("msg with a fractional time", format!(r#"{{"t":"msg","id":"{ID16}","at":5.5,"text":"hi"}}"#)),
        ("msg with a time past 2^53", format!(r#"{{"t":"msg","id":"{ID16}","at":9007199254740992,"text":"hi"}}"#)),
        ("msg with a negative time", format!(r#"{{"t":"msg","id":"{ID16}","at":-1,"text":"hi"}}"#)),
        ("msg with empty text", format!(r#"{{"t":"msg","id":"{ID16}","at":5,"text":""}}"#)),
        ("msg of 4097 characters", format!(r#"{{"t":"msg","id":"{ID16}","at":5,"text":"{too_long}"}}"#)),
        ("msg id of 15 bytes", r#"{"t":"msg","id":"MDEyMzQ1Njc4OWFiY2Rl","at":5,"text":"hi"}"#.into()),
        ("msg id in padded base64", format!(r#"{{"t":"msg","id":"{ID16}==","at":5,"text":"hi"}}"#)),
        ("hello of version 2", hello("").replace(r#""v":1"#, r#""v":2"#)),
        ("hello with a damaged id", hello("").replace(&id[..3], "AAA")),
        ("hello with an untrimmed name", hello("").replace(r#""name":"Ann""#, r#""name":" Ann""#)),
        ("hello with a short signature", hello("").replace(&sig, &b64u(&[7u8; 63]))),
        ("hello with a k of 31 bytes", hello(&format!(r#","k":"{}""#, b64u(&[1u8; 31])))),
        ("hello without a signature", hello("").replace(&format!(r#","sig":"{sig}""#), "")),
        (
            "img that is not an image",
            format!(r#"{{"t":"img","id":"{ID16}","at":5,"name":"a.txt","type":"text/plain","size":5}}"#),
        ),
        ("img of 0 bytes", format!(r#"{{"t":"img","id":"{ID16}","at":5,"name":"a.png","type":"image/png","size":0}}"#)),
        (
            "img over 16 MiB",
            format!(r#"{{"t":"img","id":"{ID16}","at":5,"name":"a.png","type":"image/png","size":16777217}}"#),
        ),
        ("ack of an unknown kind", format!(r#"{{"t":"ack","id":"{ID16}","k":"seen"}}"#)),
        ("typing with a field", r#"{"t":"typing","who":"me"}"#.into()),
        ("bye that is not an object body", r#"{"t":"bye","reason":null}"#.into()),
    ];
    Ok(list.into_iter().map(|(name, input)| frame_case(&format!("frame: {name}"), &input)).collect())
}

fn binaries() -> Result<Vec<Value>, Error> {
    let list: Vec<(&str, Vec<u8>)> = vec![
        ("a chunk", vec![2, 0xde, 0xad, 0xbe, 0xef]),
        ("end", vec![3]),
        ("empty", vec![]),
        ("an empty chunk", vec![2]),
        ("end with a body", vec![3, 0]),
        ("an unknown kind", vec![9, 1, 2]),
    ];
    Ok(list
        .into_iter()
        .map(|(name, input)| {
            let name = format!("binary: {name}");
            match parse_binary(&input) {
                Ok(Binary::Chunk(body)) => {
                    json!({"kind": "binary", "name": name, "valid": true, "input": hex(&input), "chunk": hex(&body)})
                }
                Ok(Binary::End) => {
                    json!({"kind": "binary", "name": name, "valid": true, "input": hex(&input), "end": true})
                }
                Err(e) => {
                    json!({"kind": "binary", "name": name, "valid": false, "input": hex(&input), "error": e.kind()})
                }
            }
        })
        .collect())
}

fn signals() -> Result<Vec<Value>, Error> {
    let rq = ID16;
    let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\n";
    let list: Vec<(&str, Value)> = vec![
        ("request", json!({"p2pos": "chat", "t": "request", "rq": rq, "name": "Ann"})),
        ("accept", json!({"p2pos": "chat", "t": "accept", "rq": rq})),
        ("decline", json!({"p2pos": "chat", "t": "decline", "rq": rq})),
        ("cancel", json!({"p2pos": "chat", "t": "cancel", "rq": rq})),
        ("call", json!({"p2pos": "chat", "t": "call", "rq": rq})),
        ("sdp offer", json!({"p2pos": "chat", "t": "sdp", "rq": rq, "sdp": {"type": "offer", "sdp": sdp}})),
        ("sdp answer", json!({"p2pos": "chat", "t": "sdp", "rq": rq, "sdp": {"type": "answer", "sdp": sdp}})),
        (
            "ice",
            json!({"p2pos": "chat", "t": "ice", "rq": rq, "c": [{"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0"}]}),
        ),
        ("another protocol's signal", json!({"p2pos": "drop", "kind": "hello"})),
        ("not an object", json!("accept")),
        ("no type", json!({"p2pos": "chat", "rq": rq})),
        ("an unknown type", json!({"p2pos": "chat", "t": "hello", "rq": rq})),
        ("no request id", json!({"p2pos": "chat", "t": "accept"})),
        ("a request id of 8 bytes", json!({"p2pos": "chat", "t": "accept", "rq": "MDEyMzQ1Njc"})),
        ("accept carrying an id", json!({"p2pos": "chat", "t": "accept", "rq": rq, "id": "ANN"})),
        ("request without a name", json!({"p2pos": "chat", "t": "request", "rq": rq})),
        (
            "request with a name of 65 characters",
            json!({"p2pos": "chat", "t": "request", "rq": rq, "name": "n".repeat(65)}),
        ),
        (
            "sdp of type pranswer",
            json!({"p2pos": "chat", "t": "sdp", "rq": rq, "sdp": {"type": "pranswer", "sdp": sdp}}),
        ),
        ("ice with a candidate that is not an object", json!({"p2pos": "chat", "t": "ice", "rq": rq, "c": ["x"]})),
    ];
    Ok(list
        .into_iter()
        .map(|(name, payload)| {
            let name = format!("signal: {name}");
            match Signal::parse(&payload) {
                Ok(Some(signal)) => json!({"kind": "signal", "name": name, "valid": true, "payload": payload, "chat": true, "canonical": signal.payload()}),
                Ok(None) => json!({"kind": "signal", "name": name, "valid": true, "payload": payload, "chat": false}),
                Err(e) => json!({"kind": "signal", "name": name, "valid": false, "payload": payload, "error": e.kind()}),
            }
        })
        .collect())
}

fn tags() -> Vec<Value> {
    (0..3)
        .map(|i| {
            let secret = ContactSecret::from_bytes(seed(&format!("chat/tag/{i}/secret")));
            let s = b64u(&seed(&format!("chat/tag/{i}/s"))[..16]);
            json!({
                "kind": "nearby_tag",
                "name": format!("nearby tag {i}"),
                "valid": true,
                "secret": hex(secret.as_bytes()),
                "s": s,
                "tag": nearby_tag(&secret, &s),
            })
        })
        .collect()
}

fn rendezvous() -> Vec<Value> {
    let secret = ContactSecret::from_bytes(seed("chat/rv/secret"));
    [
        ("the last millisecond before a slot boundary", BOUNDARY_MS - 1),
        ("a slot boundary", BOUNDARY_MS),
        ("mid-slot", BOUNDARY_MS + SLOT_MS / 2),
        ("the unix epoch", 0),
    ]
    .into_iter()
    .map(|(name, unix_ms)| {
        let slot = slot_of(unix_ms);
        json!({
            "kind": "rv_name",
            "name": format!("rendezvous: {name}"),
            "valid": true,
            "secret": hex(secret.as_bytes()),
            "unix_ms": unix_ms,
            "slot": slot,
            "rv_name": rv_name(&secret, slot),
            "names_at": rv_names_at(&secret, unix_ms),
        })
    })
    .collect()
}

fn bindings() -> Result<Vec<Value>, Error> {
    let (ann, ben) = (person("chat/ann")?, person("chat/ben")?);
    let (fp_a, fp_b) = (fingerprint("chat/fp/ann"), fingerprint("chat/fp/ben"));
    let mut cases = Vec::new();
    for (name, their, my_fp_input) in [
        ("a contact's binding", Some(ben.id()), fp_a.to_lowercase()),
        ("a new contact's binding (no id for the other)", None, fp_a.clone()),
    ] {
        let my_fp = normalize_fingerprint(&my_fp_input)?;
        let text = binding(&ann.id(), their.as_ref(), &my_fp, &fp_b);
        let case = json!({
            "kind": "binding",
            "name": format!("binding: {name}"),
            "valid": true,
            "seed": hex(&seed("chat/ann/ed25519")),
            "my_id": ann.id().to_string(),
            "their_id": their.map(|id| id.to_string()).unwrap_or_default(),
            "my_fp_input": my_fp_input,
            "my_fp": my_fp,
            "their_fp": fp_b,
            "binding": text,
            "sig": sign_binding(&ann, &text),
        });
        cases.push(case);
    }
    // Ben's signature presented as Ann's.
    let mut forged = cases[0].clone();
    forged["name"] = json!("binding: signed by another key than the id's");
    forged["valid"] = json!(false);
    forged["error"] = json!("signature");
    forged["sig"] = json!(sign_binding(&ben, str_field(&cases[0], "binding")?));
    cases.push(forged);
    Ok(cases)
}

fn secrets() -> Result<Vec<Value>, Error> {
    let (ann, ben) = (person("chat/ann")?, person("chat/ben")?);
    let (k_a, k_b) = (seed("chat/secret/k_ann"), seed("chat/secret/k_ben"));
    let secret = derive_secret((&ann.id(), &k_a), (&ben.id(), &k_b))?;
    let (lo, hi) = if ann.id().to_string() < ben.id().to_string() { ("ann", "ben") } else { ("ben", "ann") };
    let base = json!({
        "kind": "secret",
        "name": format!("secret: Ann and Ben ({lo} sorts first)"),
        "valid": true,
        "id_a": ann.id().to_string(),
        "k_a": b64u(&k_a),
        "id_b": ben.id().to_string(),
        "k_b": b64u(&k_b),
        "secret": hex(secret.as_bytes()),
    });
    let _ = hi;
    let mut same = base.clone();
    same["name"] = json!("secret: one identity on both sides");
    same["valid"] = json!(false);
    same["error"] = json!("same_identity");
    same["id_b"] = base["id_a"].clone();
    if let Some(map) = same.as_object_mut() {
        map.remove("secret");
    }
    Ok(vec![base, same])
}

fn known() -> Result<Vec<Value>, Error> {
    let (ann, ben) = (person("chat/ann")?, person("chat/ben")?);
    let secret = ContactSecret::from_bytes(seed("chat/known/secret"));
    let text = binding(&ann.id(), Some(&ben.id()), &fingerprint("chat/fp/ann"), &fingerprint("chat/fp/ben"));
    let good = json!({
        "kind": "known",
        "name": "known: Ann proves the secret she shares with Ben",
        "valid": true,
        "secret": hex(secret.as_bytes()),
        "binding": text,
        "known": known_proof(&secret, &text),
    });
    let mut other_channel = good.clone();
    other_channel["name"] = json!("known: a proof made for another channel");
    other_channel["valid"] = json!(false);
    other_channel["error"] = json!("known");
    let elsewhere = binding(&ann.id(), Some(&ben.id()), &fingerprint("chat/fp/ann"), &fingerprint("chat/fp/mallory"));
    other_channel["known"] = json!(known_proof(&secret, &elsewhere));
    let mut other_secret = good.clone();
    other_secret["name"] = json!("known: a proof with another secret");
    other_secret["valid"] = json!(false);
    other_secret["error"] = json!("known");
    other_secret["known"] = json!(known_proof(&ContactSecret::from_bytes(seed("chat/known/other")), &text));
    Ok(vec![good, other_channel, other_secret])
}

fn str_field<'a>(case: &'a Value, field: &str) -> Result<&'a str, Error> {
    case[field].as_str().ok_or_else(|| format!("no {field}").into())
}
