//! The upstream C2SP age test kit (`testvectors/age-testkit/`) against our `agefile` helpers:
//! every case must succeed with the right plaintext or fail with the matching error kind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use p2pos_core::age::secrecy::SecretString;
use p2pos_core::age::x25519;
use p2pos_core::agefile;
use sha2::{Digest, Sha256};

/// Cases where the `age` crate (rage), which our helpers wrap, knowingly differs from the kit.
/// Each entry says what we observe instead; the test fails if that ever changes, so the list
/// stays true.
const KNOWN_DEVIATIONS: &[(&str, &str)] = &[
    // rage still accepts legacy stanzas without an explicit short final line.
    ("stanza_missing_body", "success"),
    ("stanza_missing_final_line", "success"),
    // rage detects armor by its first bytes, so leading whitespace hides the armor.
    ("armor_whitespace_outside", "corrupt"),
    // `Scrypt` is not a scrypt stanza, so the file has no passphrase stanza at all: we say the file
    // is not passphrase-encrypted rather than "wrong passphrase" (the web client does the same).
    ("scrypt_uppercase", "corrupt"),
];

struct Case {
    name: String,
    expect: String,
    payload_sha256: Option<String>,
    identities: Vec<String>,
    passphrase: Option<String>,
    file: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors/age-testkit");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "README.md" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let split = bytes.windows(2).position(|w| w == b"\n\n").expect("a blank line after the header");
        let header = std::str::from_utf8(&bytes[..split]).unwrap();
        let mut case = Case {
            name,
            expect: String::new(),
            payload_sha256: None,
            identities: Vec::new(),
            passphrase: None,
            file: bytes[split + 2..].to_vec(),
        };
        if header.lines().any(|l| l == "compressed: zlib") {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&case.file[..]), &mut plain).unwrap();
            case.file = plain;
        }
        for line in header.lines() {
            let (key, value) = line.split_once(": ").unwrap_or((line, ""));
            match key {
                "expect" => case.expect = value.to_string(),
                "payload" => case.payload_sha256 = Some(value.to_string()),
                "identity" => case.identities.push(value.to_string()),
                "passphrase" => case.passphrase = Some(value.to_string()),
                _ => {}
            }
        }
        out.push(case);
    }
    assert!(out.len() > 100, "the kit is incomplete: {} cases", out.len());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What our helpers make of a case: "success", or the error kind.
fn outcome(case: &Case) -> (String, Vec<u8>) {
    let mut plain = Vec::new();
    let result = match &case.passphrase {
        Some(pass) => agefile::decrypt_with_passphrase(&case.file, &SecretString::from(pass.clone())).map(|p| {
            plain = p.to_vec();
        }),
        None => {
            let ids: Vec<x25519::Identity> = case.identities.iter().filter_map(|i| i.parse().ok()).collect();
            agefile::decrypt_to(&ids, &case.file[..], &mut plain).map(|_| ())
        }
    };
    match result {
        Ok(()) => ("success".into(), plain),
        Err(e) => (e.kind().to_string(), plain),
    }
}

/// The kit's expectation in our error vocabulary.
fn expected_kind(case: &Case) -> &'static str {
    match case.expect.as_str() {
        "success" => "success",
        "no match" if case.passphrase.is_some() => "passphrase",
        "no match" => "no-identity",
        "HMAC failure" | "header failure" | "armor failure" | "payload failure" => "corrupt",
        other => panic!("{}: unknown expectation {other}", case.name),
    }
}

#[test]
fn every_case_of_the_c2sp_age_test_kit() {
    let mut checked = 0;
    for case in cases() {
        let (got, plain) = outcome(&case);
        if let Some((_, observed)) = KNOWN_DEVIATIONS.iter().find(|(name, _)| *name == case.name) {
            assert_eq!(&got, observed, "{}: the known deviation changed; update KNOWN_DEVIATIONS", case.name);
            continue;
        }
        assert_eq!(got, expected_kind(&case), "{} (expect: {})", case.name, case.expect);
        // On success the plaintext matches; on a payload failure, only authenticated chunks were
        // released, which is exactly the kit's partial payload.
        if matches!(case.expect.as_str(), "success" | "payload failure") {
            assert_eq!(Some(hex(&Sha256::digest(&plain))), case.payload_sha256, "{}: payload", case.name);
        }
        checked += 1;
    }
    assert!(checked >= 100);
}
