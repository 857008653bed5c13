//! Replays `testvectors/vault-state.json` (written by `examples/vault_state_vectors.rs`): every
//! case's records, in the order the file gives and in others, fold to the state the file gives.
//! The web app runs the same file through its own fold (`apps/web/src/lib/vaultState.ts`), in
//! Vitest and in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use family_vault::{Outcome, Vault};
use p2pos_core::{IdentityId, SignedRecord, VerifiedRecord};
use serde_json::Value;

use crate::summary;

fn cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors/vault-state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 5, "vault-state.json has too few cases");
    cases
}

struct Case {
    name: String,
    now_ms: u64,
    max_ahead_ms: u64,
    records: Vec<(SignedRecord, VerifiedRecord)>,
    entries: Vec<Value>,
    state: Value,
}

fn case(raw: &Value) -> Case {
    let name = raw["name"].as_str().unwrap().to_string();
    let entries = raw["records"].as_array().unwrap().clone();
    let records = entries
        .iter()
        .map(|e| {
            let record: SignedRecord = serde_json::from_value(e["record"].clone()).unwrap();
            let verified = record.verify().unwrap_or_else(|err| panic!("{name}: a record does not verify: {err}"));
            (record, verified)
        })
        .collect();
    Case {
        now_ms: raw["now_ms"].as_u64().unwrap(),
        max_ahead_ms: raw["max_ahead_ms"].as_u64().unwrap(),
        state: raw["state"].clone(),
        name,
        records,
        entries,
    }
}

/// What the file says the vault makes of a record: `applied`, `held` or `refused:<kind>`.
fn expected_outcome(entry: &Value) -> String {
    match entry["outcome"].as_str().unwrap() {
        "refused" => format!("refused:{}", entry["refused_by"].as_str().unwrap()),
        other => other.to_string(),
    }
}

fn outcome_of(vault: &Vault, record: &VerifiedRecord) -> String {
    match vault.outcome(record) {
        Some(Outcome::Applied) => "applied".into(),
        Some(Outcome::Held) => "held".into(),
        Some(Outcome::Refused(e)) => format!("refused:{}", e.kind()),
        None => "not kept".into(),
    }
}

/// Inserts `order` (indices into the case's records) one by one, or all at once.
fn replay(c: &Case, order: &[usize], one_by_one: bool) -> Vault {
    let mut vault = Vault::new(c.max_ahead_ms);
    if one_by_one {
        for &i in order {
            vault.insert(&c.records[i].1, c.now_ms).unwrap_or_else(|e| panic!("{}: record {i}: {e}", c.name));
        }
    } else {
        for result in vault.insert_many(order.iter().map(|&i| &c.records[i].1), c.now_ms) {
            result.unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
    }
    for (i, entry) in c.entries.iter().enumerate() {
        assert_eq!(outcome_of(&vault, &c.records[i].1), expected_outcome(entry), "{}: record {i}", c.name);
    }
    vault
}

#[test]
fn every_record_id_is_blake3_of_body_then_signature() {
    for c in cases().iter().map(case) {
        for ((record, _), entry) in c.records.iter().zip(&c.entries) {
            assert_eq!(record.id().unwrap().to_string(), entry["id"].as_str().unwrap(), "{}", c.name);
        }
    }
}

#[test]
fn every_case_folds_to_its_state_whatever_the_arrival_order() {
    for c in cases().iter().map(case) {
        let n = c.records.len();
        let arrival: Vec<usize> = (0..n).collect();
        let vault = replay(&c, &arrival, true);
        assert_eq!(summary::summary(&vault), c.state, "{}: in the file's order", c.name);
        let reversed: Vec<usize> = (0..n).rev().collect();
        let mut orders = vec![(reversed.clone(), true), (reversed, false), (arrival, false)];
        orders.extend((1..n).map(|k| ((0..n).map(|i| (i + k) % n).collect(), true)));
        for (order, one_by_one) in orders {
            let other = replay(&c, &order, one_by_one);
            assert_eq!(summary::summary(&other), c.state, "{}: in the order {order:?}", c.name);
            assert_eq!(other.state_hash(), vault.state_hash(), "{}: in the order {order:?}", c.name);
        }
    }
}

/// The bug the vectors were written for: a fold that compares readable ids as text picks the
/// other winner. The file must keep such a tie (and a tie on one signer, settled by the body).
#[test]
fn the_vectors_hold_ties_that_text_order_would_settle_the_other_way() {
    let mut text_differs = 0;
    let mut same_signer = 0;
    for c in cases().iter().map(case) {
        let grants: Vec<(Value, IdentityId)> = c
            .records
            .iter()
            .zip(&c.entries)
            .filter(|(_, e)| e["outcome"] == "applied")
            .map(|((_, v), _)| (v.parse::<Value>().unwrap(), v.signer))
            .filter(|(body, _)| body["type"] == "grant")
            .collect();
        for (i, (a, signer_a)) in grants.iter().enumerate() {
            for (b, signer_b) in &grants[i + 1..] {
                let same_subject = ["album", "member", "epoch"].iter().all(|f| a[f] == b[f]);
                if !same_subject || a["hlc"] != b["hlc"] {
                    continue;
                }
                if signer_a == signer_b {
                    same_signer += 1;
                    continue;
                }
                let (high, low) = if signer_a > signer_b { (signer_a, signer_b) } else { (signer_b, signer_a) };
                if high.to_string() < low.to_string() {
                    text_differs += 1;
                    let winner = c.state["grants"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|g| ["album", "member", "epoch"].iter().all(|f| g[f] == a[f]))
                        .unwrap();
                    assert_eq!(winner["signer"], high.to_string(), "{}: the larger key wins", c.name);
                }
            }
        }
    }
    assert!(text_differs >= 2, "ties between signers whose text and key orders differ: {text_differs}");
    assert!(same_signer >= 1, "ties on one signer: {same_signer}");
}
