//! Writes `testvectors/*.json`, the cases both the Rust and the TypeScript implementations run.
//!
//! `cargo run -p p2pos-core --example testvectors [-- OUT_DIR]` (default: `testvectors/` at the
//! workspace root). Keys come from fixed seeds; age files are randomised by the format itself, so
//! their bytes change on every run while their meaning does not.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::age::secrecy::SecretString;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::id::encode_readable;
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors"));
    std::fs::create_dir_all(&out)?;
    for (name, cases) in [
        ("ids", ids()?),
        ("records", records()?),
        ("age", age_files()?),
        ("backups", backups()?),
        ("blobs", blobs()),
        ("drop", drop()?),
    ] {
        let doc = json!({
            "generated_by": "cargo run -p p2pos-core --example testvectors",
            "spec": "docs/FORMATS.md",
            "cases": cases,
        });
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Drop (docs/PROTOCOL.md, "Drop"): the hello MACs, the session key and sealed frames for fixed
/// keys; a key swapped by the hub fails the MAC; a frame opened out of order fails.
fn drop() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    use p2pos_core::drop::{DropSecret, EphemeralKey, FRAME_CHUNK, FRAME_META, Role, Sealer};
    let mut cases = Vec::new();
    let mut valid = Vec::new();
    for (label, name) in [("drop/one", "Ben"), ("drop/two", "Zoë Ünïcode")] {
        let secret_bytes: [u8; 16] = bytes(&format!("{label}/secret"), 16).try_into().map_err(|_| "16 bytes")?;
        let secret = DropSecret::from_bytes(secret_bytes);
        let (s_priv, r_priv) = (seed(&format!("{label}/sender")), seed(&format!("{label}/receiver")));
        let (sender, receiver) = (EphemeralKey::from_bytes(s_priv), EphemeralKey::from_bytes(r_priv));
        let (ps, pr) = (sender.public_b64(), receiver.public_b64());
        let key = sender.session_key(&receiver.public_bytes(), &secret, &ps, &pr)?;
        let mut sealer = Sealer::new(&key);
        let meta =
            serde_json::to_vec(&json!({"name": "a.jpg", "type": "image/jpeg", "size": 5, "seconds": 10, "chunks": 1}))?;
        let chunk = bytes(&format!("{label}/chunk"), 5);
        let frames = vec![
            json!({"kind": FRAME_META, "plaintext": B64.encode(&meta), "frame": B64.encode(sealer.seal(FRAME_META, &meta)?)}),
            json!({"kind": FRAME_CHUNK, "plaintext": B64.encode(&chunk), "frame": B64.encode(sealer.seal(FRAME_CHUNK, &chunk)?)}),
        ];
        let case = json!({
            "name": format!("{label}: a drop to {name}"),
            "valid": true,
            "secret": secret.encode(),
            "sender_private": hex(&s_priv),
            "receiver_private": hex(&r_priv),
            "receiver_name": name,
            "auth_key": hex(&*secret.auth_key()),
            "sender_pub": ps,
            "receiver_pub": pr,
            "receiver_mac": secret.hello_mac(Role::Receiver, &pr, name, None),
            "sender_mac": secret.hello_mac(Role::Sender, &ps, "", Some(&pr)),
            "key": hex(&*key),
            "frames": frames,
        });
        valid.push(case.clone());
        cases.push(case);
    }
    // The hub swaps the receiver's key for its own: the receiver's MAC no longer matches it.
    let mut swapped = valid[0].clone();
    swapped["name"] = json!("drop/one: the receiver's key swapped in transit");
    swapped["valid"] = json!(false);
    swapped["error"] = json!("bad_mac");
    swapped["receiver_pub"] = json!(EphemeralKey::from_bytes(seed("drop/mallory")).public_b64());
    cases.push(swapped);
    // The chunk delivered before the meta frame: it does not open (counters are in order).
    let mut reordered = valid[1].clone();
    reordered["name"] = json!("drop/two: frames out of order");
    reordered["valid"] = json!(false);
    reordered["error"] = json!("open");
    if let Some(frames) = reordered["frames"].as_array_mut() {
        frames.reverse();
    }
    cases.push(reordered);
    Ok(cases)
}

/// Deterministic bytes for a label.
fn seed(label: &str) -> [u8; 32] {
    blake3::derive_key("p2pos testvectors v1", label.as_bytes())
}

fn bytes(label: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new_derive_key("p2pos testvectors v1 data").update(label.as_bytes()).finalize_xof().fill(&mut out);
    out
}

fn person(label: &str) -> Result<Identity, p2pos_core::IdentityError> {
    Identity::from_seeds(seed(&format!("{label}/ed25519")), seed(&format!("{label}/x25519")))
}

fn ids() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let mut cases = Vec::new();
    for who in ["alice", "bob", "oak", "pine"] {
        let id = person(who)?.id();
        let canonical = id.to_string();
        let key = hex(id.as_bytes());
        let mut valid = |name: String, input: String| {
            cases.push(json!({"name": name, "valid": true, "public_key": key, "input": input, "id": canonical}));
        };
        valid(format!("{who}: canonical"), canonical.clone());
        if who == "alice" {
            valid("alice: lower case".into(), canonical.to_lowercase());
            valid("alice: no dashes".into(), canonical.replace('-', ""));
            valid("alice: spaces and surrounding blanks".into(), format!("  {}\n", canonical.replace('-', " ")));
            let aloud = canonical.replace('O', "0").replace('I', "1").replace('B', "8");
            valid("alice: 0/1/8 typed for O/I/B".into(), aloud);
        }
    }
    let alice = person("alice")?.id().to_string();
    let compact = alice.replace('-', "");
    let invalid =
        |name: &str, input: String, error: &str| json!({"name": name, "valid": false, "input": input, "error": error});
    cases.push(invalid("one letter short", compact[..55].to_string(), "length"));
    cases.push(invalid("one letter too many", format!("{compact}A"), "length"));
    cases.push(invalid("empty", String::new(), "length"));
    cases.push(invalid(
        "a character outside the alphabet",
        format!("{}9{}", &compact[..10], &compact[11..]),
        "character",
    ));
    cases.push(invalid("punctuation", format!("{}!{}", &compact[..30], &compact[31..]), "character"));
    for quarter in 0..4 {
        let at = quarter * 14 + 5;
        let mut chars: Vec<char> = compact.chars().collect();
        chars[at] = if chars[at] == 'Q' { 'R' } else { 'Q' };
        let typo: String = chars.into_iter().collect();
        cases.push(invalid(&format!("typo in quarter {}", quarter + 1), typo, "check"));
    }
    let mut swapped: Vec<char> = compact.chars().collect();
    let (i, j) = (16, 17);
    if swapped[i] != swapped[j] {
        swapped.swap(i, j);
        cases.push(invalid("two neighbours swapped", swapped.into_iter().collect(), "check"));
    }
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    cases.push(invalid("small-order key (the identity point)", encode_readable(&identity_point), "key"));
    let mut order_two = [0xffu8; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    cases.push(invalid("small-order key (order 2)", encode_readable(&order_two), "key"));
    cases.push(invalid("not a point on the curve", encode_readable(&off_curve()), "key"));
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xee; // y = p + 1 ≡ 1: the identity point, encoded non-canonically
    non_canonical[31] = 0x7f;
    cases.push(invalid("non-canonical encoding (y ≥ p)", encode_readable(&non_canonical), "key"));
    Ok(cases)
}

fn off_curve() -> [u8; 32] {
    (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
        .unwrap_or([0u8; 32])
}

fn records() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let alice = person("alice")?;
    let bob = person("bob")?;
    let mut cases = Vec::new();
    let valid = |name: &str, record: &SignedRecord, body: Value| -> Result<Value, Box<dyn std::error::Error>> {
        Ok(json!({"name": name, "valid": true, "record": record, "signer": record.verify()?.signer, "body": body}))
    };
    let album = json!({"type": "album", "id": "01JC6Z1X2W3V4U5T6S7R8Q9P0N", "hlc": {"wall_ms": 1_763_769_600_000u64, "counter": 0},
                       "title": "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBleGFtcGxl"});
    let signed = SignedRecord::sign(&alice, &album)?;
    cases.push(valid("album record", &signed, album.clone())?);
    // Bytes that no serialiser would produce: verifiers must use them as they are.
    let odd = "{ \"z\" : 1,\n  \"a\": [1, 2.50, \"é🌳\"], \"nested\": {\"k\": null} }";
    let odd_record = SignedRecord::sign_bytes(&bob, odd.as_bytes())?;
    cases.push(valid(
        "unusual but valid JSON bytes (spacing, key order, unicode)",
        &odd_record,
        serde_json::from_str(odd)?,
    )?);

    let invalid = |name: &str, record: Value, error: &str| json!({"name": name, "valid": false, "record": record, "error": error});
    let as_value = |r: &SignedRecord| serde_json::to_value(r);

    let mut tampered = signed.clone();
    tampered.body = B64.encode(serde_json::to_vec(&json!({"type": "album", "id": "01JC6Z1X2W3V4U5T6S7R8Q9P0N", "hlc": {"wall_ms": 1_763_769_600_000u64, "counter": 1}, "title": album["title"]}))?);
    cases.push(invalid("tampered body", as_value(&tampered)?, "signature"));
    let mut other_signer = signed.clone();
    other_signer.signer = bob.id().to_string();
    cases.push(invalid("signed by alice, claims bob", as_value(&other_signer)?, "signature"));
    let mut sig = B64.decode(&signed.sig)?;
    add_group_order(&mut sig[32..]);
    let mut non_canonical = signed.clone();
    non_canonical.sig = B64.encode(&sig);
    cases.push(invalid("non-canonical signature (S + L)", as_value(&non_canonical)?, "signature"));
    let mut forged = [0u8; 64];
    forged[0] = 1; // R = identity point, S = 0: "verifies" for any message under a small-order key
    let mut weak_key = [0u8; 32];
    weak_key[0] = 1;
    cases.push(invalid(
        "forgery under a small-order signer key",
        json!({"body": signed.body, "signer": encode_readable(&weak_key), "sig": B64.encode(forged)}),
        "signer",
    ));
    cases.push(invalid(
        "signer is not an id",
        json!({"body": signed.body, "signer": "alice", "sig": signed.sig}),
        "signer",
    ));
    cases.push(invalid(
        "signature of 63 bytes",
        json!({"body": signed.body, "signer": signed.signer, "sig": B64.encode(&B64.decode(&signed.sig)?[..63])}),
        "malformed",
    ));
    cases.push(invalid(
        "body is not base64",
        json!({"body": "{\"type\":\"album\"}", "signer": signed.signer, "sig": signed.sig}),
        "malformed",
    ));
    cases.push(invalid(
        "body base64 without padding",
        json!({"body": signed.body.trim_end_matches('='), "signer": signed.signer, "sig": signed.sig}),
        "malformed",
    ));
    // Correctly signed, but the body is not a JSON object: refused after the signature check.
    let array_body = b"[\"album\"]";
    let sig = alice.sign(array_body);
    cases.push(invalid(
        "signed body that is a JSON array",
        json!({"body": B64.encode(array_body), "signer": alice.id(), "sig": B64.encode(sig.to_bytes())}),
        "malformed",
    ));
    let not_json = b"album: summer";
    let sig = alice.sign(not_json);
    cases.push(invalid(
        "signed body that is not JSON",
        json!({"body": B64.encode(not_json), "signer": alice.id(), "sig": B64.encode(sig.to_bytes())}),
        "malformed",
    ));
    Ok(cases)
}

/// Adds the Ed25519 group order L to a little-endian 32-byte scalar (S < L, so S + L < 2^256).
fn add_group_order(scalar: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in scalar.iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
}

fn age_files() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let x1 = person("alice")?.age_identity().clone();
    let x2 = person("bob")?.age_identity().clone();
    let secret = |i: &p2pos_core::age::x25519::Identity| {
        use p2pos_core::age::secrecy::ExposeSecret;
        i.to_string().expose_secret().to_string()
    };
    let mut cases = Vec::new();
    let mut valid = |name: &str, ids: &[&p2pos_core::age::x25519::Identity], file: &[u8], plain: &[u8]| {
        cases
            .push(json!({"name": name, "valid": true, "identities": ids.iter().map(|i| secret(i)).collect::<Vec<_>>(),
                          "file": B64.encode(file), "plaintext": B64.encode(plain)}));
    };
    let short = b"a photo's worth of bytes";
    let one = agefile::encrypt_to(&[x1.to_public()], Armor::No, &short[..], Vec::new())?;
    valid("one recipient, short", &[&x1], &one, short);
    let two = agefile::encrypt_to(&[x1.to_public(), x2.to_public()], Armor::No, &short[..], Vec::new())?;
    valid("two recipients, opened by the second", &[&x2], &two, short);
    let big = bytes("three chunks", 150_000);
    let armored = agefile::encrypt_to(&[x1.to_public()], Armor::Yes, &big[..], Vec::new())?;
    valid("armored, 150000 bytes (three chunks)", &[&x1], &armored, &big);
    let boundary = bytes("chunk boundary", 65_536);
    let exact = agefile::encrypt_to(&[x2.to_public()], Armor::No, &boundary[..], Vec::new())?;
    valid("exactly one full chunk", &[&x1, &x2], &exact, &boundary);
    let empty = agefile::encrypt_to(&[x1.to_public()], Armor::No, &b""[..], Vec::new())?;
    valid("empty plaintext", &[&x1], &empty, b"");
    let multi = agefile::encrypt_to(&[x1.to_public()], Armor::No, &big[..], Vec::new())?;
    valid("binary, 150000 bytes (three chunks)", &[&x1], &multi, &big);

    let invalid = |name: &str, ids: &[&p2pos_core::age::x25519::Identity], file: &[u8], error: &str| {
        json!({"name": name, "valid": false, "identities": ids.iter().map(|i| secret(i)).collect::<Vec<_>>(),
               "file": B64.encode(file), "error": error})
    };
    cases.push(invalid("nobody's identity matches", &[&x2], &one, "no-identity"));
    let mut header = one.clone();
    let mac_at = find(&header, b"\n--- ").ok_or("no mac line")? + 6;
    header[mac_at] = if header[mac_at] == b'A' { b'B' } else { b'A' };
    cases.push(invalid("header MAC altered", &[&x1], &header, "corrupt"));
    let mut payload = multi.clone();
    let mid = payload.len() - 1000;
    payload[mid] ^= 0x01;
    cases.push(invalid("one payload bit flipped", &[&x1], &payload, "corrupt"));
    let payload_start = find(&multi, b"\n--- ").ok_or("no mac line")?;
    let payload_start =
        payload_start + 1 + multi[payload_start + 1..].iter().position(|&b| b == b'\n').ok_or("eol")? + 1;
    let two_chunks = payload_start + 16 + 2 * (65_536 + 16);
    cases.push(invalid("truncated at a chunk boundary", &[&x1], &multi[..two_chunks], "corrupt"));
    cases.push(invalid("truncated inside a chunk", &[&x1], &multi[..multi.len() - 100], "corrupt"));
    cases.push(invalid("not an age file", &[&x1], b"GIF89a not encrypted at all", "corrupt"));
    Ok(cases)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn backups() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    const WORK_FACTOR: u8 = 10; // vectors only: real backups use agefile::DEFAULT_SCRYPT_WORK_FACTOR
    let mut cases = Vec::new();
    for (who, pass) in [("alice", "correct horse battery staple"), ("bob", "Fámília 🌳 Oak & Pine")] {
        let me = person(who)?;
        let file = me.to_protected_file(&SecretString::from(pass.to_string()), WORK_FACTOR)?;
        cases.push(json!({"name": format!("{who}'s backup"), "valid": true, "passphrase": pass, "file": file,
                          "id": me.id(), "recipient": me.recipient().to_string(), "plaintext": me.to_file_text().as_str()}));
    }
    let alice = person("alice")?;
    let pass = "correct horse battery staple";
    let file = alice.to_protected_file(&SecretString::from(pass.to_string()), WORK_FACTOR)?;
    cases.push(json!({"name": "wrong passphrase", "valid": false, "passphrase": "correct horse battery stapler", "file": file, "error": "passphrase"}));
    let mut lines: Vec<String> = file.lines().map(str::to_string).collect();
    let target = lines.len() - 3; // a payload line of the armor, not the header
    let mut chars: Vec<char> = lines[target].chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    lines[target] = chars.into_iter().collect();
    cases.push(json!({"name": "payload damaged", "valid": false, "passphrase": pass, "file": lines.join("\n") + "\n", "error": "corrupt"}));
    let not_identity = agefile::encrypt_with_passphrase(
        b"just a note, not keys\n",
        &SecretString::from(pass.to_string()),
        WORK_FACTOR,
    )?;
    cases.push(json!({"name": "decrypts, but is not an identity file", "valid": false, "passphrase": pass, "file": not_identity, "error": "identity"}));
    let wrong_id = alice.to_file_text().replace(&alice.id().to_string(), &person("bob")?.id().to_string());
    let mismatched =
        agefile::encrypt_with_passphrase(wrong_id.as_bytes(), &SecretString::from(pass.to_string()), WORK_FACTOR)?;
    cases.push(json!({"name": "identity file whose id line does not match its key", "valid": false, "passphrase": pass, "file": mismatched, "error": "identity"}));
    Ok(cases)
}

fn blobs() -> Vec<Value> {
    [("empty", Vec::new()), ("abc", b"abc".to_vec()), ("100 KiB", bytes("blob", 102_400))]
        .into_iter()
        .map(|(name, data)| json!({"name": name, "valid": true, "data": B64.encode(&data), "blob_id": BlobId::of(&data)}))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
