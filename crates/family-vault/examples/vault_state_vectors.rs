//! Writes `testvectors/vault-state.json`: sequences of real signed vault records, in the order a
//! node receives them, with what the vault makes of each and the state they fold to.
//!
//! `cargo run -p family-vault --example vault_state_vectors [-- OUT_DIR]` (default: `testvectors/`
//! at the workspace root; `make vectors` runs it). Keys come from fixed seeds and Ed25519
//! signatures are deterministic, so every run writes the same bytes.
//!
//! The cases that matter most are ties: records of one subject with the same HLC, which the fold
//! orders by the signer's key bytes, then by BLAKE3 of the body. Two of them pair signers whose
//! readable ids sort the other way round as text, where a fold comparing the text picks the other
//! winner.

use std::path::PathBuf;

use family_vault::{Outcome, Vault};
use p2pos_core::{BlobId, Identity, SignedRecord, VerifiedRecord};
use serde_json::{Value, json};

#[path = "../tests/it/support/summary.rs"]
mod summary;

type Error = Box<dyn std::error::Error>;

/// The nodes' clock when the records are replayed (2025-11-22); records are stamped before it,
/// except those meant to be held.
const NOW: u64 = 1_763_769_600_000;
const MAX_AHEAD_MS: u64 = p2pos_core::hlc::DEFAULT_MAX_DRIFT_MS;
const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const SUMMER: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const WINTER: &str = "winteraaaaaaaaaaaaaaaaaaaa";
const PHOTO_1: &str = "photoaaaaaaaaaaaaaaaaaaaaa";
const PHOTO_2: &str = "photobbbbbbbbbbbbbbbbbbbbb";
/// Encrypted fields are opaque to the vault: any armored age file will do.
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

fn main() -> Result<(), Error> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors"));
    std::fs::create_dir_all(&out)?;
    let people = People::new()?;
    let cases = cases(&people)?.into_iter().map(|(name, records)| case(name, &records)).collect::<Result<_, _>>()?;
    let doc = json!({
        "generated_by": "cargo run -p family-vault --example vault_state_vectors",
        "spec": "crates/family-vault/src/vault.rs (the fold), testvectors/README.md (the fields)",
        "cases": Value::Array(cases),
    });
    let path = out.join("vault-state.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Deterministic key seeds, as `p2pos-core`'s vector generator makes them.
fn seed(label: &str) -> [u8; 32] {
    blake3::derive_key("p2pos testvectors v1", label.as_bytes())
}

fn person(label: &str) -> Result<Identity, Error> {
    Ok(Identity::from_seeds(seed(&format!("{label}/ed25519")), seed(&format!("{label}/x25519")))?)
}

/// Whether comparing two people's readable ids as text agrees with comparing their key bytes.
fn text_order_agrees(a: &Identity, b: &Identity) -> bool {
    a.id().cmp(&b.id()) == a.id().to_string().cmp(&b.id().to_string())
}

/// The River family. Ann founds it; Bob and Dan are admins too, Ben and Cleo members. Bob is
/// chosen so that his readable id and Ann's sort the other way round from their keys; Dan so that
/// they sort the same way.
struct People {
    ann: Identity,
    bob: Identity,
    dan: Identity,
    ben: Identity,
    cleo: Identity,
}

impl People {
    fn new() -> Result<Self, Error> {
        let ann = person("vault/ann")?;
        let first = |prefix: &str, agrees: bool| -> Result<Identity, Error> {
            for i in 0..1000 {
                let candidate = person(&format!("{prefix}-{i}"))?;
                if text_order_agrees(&ann, &candidate) == agrees {
                    return Ok(candidate);
                }
            }
            Err(format!("no seed for {prefix} in 1000 tries").into())
        };
        Ok(Self {
            bob: first("vault/bob", false)?,
            dan: first("vault/dan", true)?,
            ann,
            ben: person("vault/ben")?,
            cleo: person("vault/cleo")?,
        })
    }

    /// Ann and the other admin of a tie, as (larger key, smaller key).
    fn by_key<'a>(&'a self, other: &'a Identity) -> (&'a Identity, &'a Identity) {
        if self.ann.id() > other.id() { (&self.ann, other) } else { (other, &self.ann) }
    }
}

/// An album key's recipient, per album and epoch.
fn album_key(album: &str, epoch: u32) -> Result<String, Error> {
    Ok(person(&format!("vault/key/{album}/{epoch}"))?.recipient().to_string())
}

/// The `n`th tick of the story: a second apart, all before [`NOW`].
fn t(n: u64) -> u64 {
    NOW - 600_000 + n * 1_000
}

fn sign(who: &Identity, wall_ms: u64, mut body: Value) -> Result<SignedRecord, Error> {
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    body["hlc"] = json!({"wall_ms": wall_ms, "counter": 0});
    Ok(SignedRecord::sign(who, &body)?)
}

fn family() -> Value {
    json!({"type": "family"})
}

fn member(who: &Identity, role: &str, removed: bool) -> Value {
    json!({"type": "member", "member": who.id(), "role": role, "recipient": who.recipient().to_string(),
           "removed": removed})
}

fn album(id: &str, epoch: u32) -> Result<Value, Error> {
    Ok(json!({"type": "album", "album": id, "epoch": epoch, "recipient": album_key(id, epoch)?, "meta": META,
              "deleted": false}))
}

fn grant(album: &str, to: &Identity, epoch: u32, revoked: bool) -> Value {
    let key = if revoked { "" } else { META };
    json!({"type": "grant", "album": album, "member": to.id(), "epoch": epoch, "key": key, "revoked": revoked})
}

fn photo(id: &str, album: &str, epoch: u32, size: u64) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": epoch, "blob": BlobId::of(id.as_bytes()),
           "size": size, "thumb": null, "thumb_size": null, "meta": META, "deleted": false})
}

/// The family key's recipient, per epoch.
fn family_key(epoch: u32) -> Result<String, Error> {
    Ok(person(&format!("vault/familykey/{epoch}"))?.recipient().to_string())
}

fn family_meta(epoch: u32) -> Result<Value, Error> {
    Ok(json!({"type": "family_meta", "epoch": epoch, "recipient": family_key(epoch)?, "meta": META}))
}

fn family_grant(to: &Identity, epoch: u32) -> Value {
    json!({"type": "family_grant", "member": to.id(), "epoch": epoch, "key": META, "revoked": false})
}

/// A profile of `of` sealed to `epoch`; `tag` tells the versions apart (any base64 of an age file).
fn profile(of: &Identity, epoch: u32, tag: &str) -> Value {
    json!({"type": "profile", "member": of.id(), "epoch": epoch, "meta": META.replace("YWdl", tag)})
}

/// Ann founds the family, adds `admin` as an admin and Ben as a member, creates Summer and gives
/// Ben its key: the start of the tie stories.
fn founded_with(p: &People, admin: &Identity) -> Result<Vec<SignedRecord>, Error> {
    Ok(vec![
        sign(&p.ann, t(1), family())?,
        sign(&p.ann, t(2), member(&p.ann, "admin", false))?,
        sign(&p.ann, t(3), member(admin, "admin", false))?,
        sign(&p.ann, t(4), member(&p.ben, "member", false))?,
        sign(&p.ann, t(5), album(SUMMER, 0)?)?,
        sign(&p.ann, t(6), grant(SUMMER, &p.ben, 0, false))?,
    ])
}

/// Every case: a name and the records in arrival order.
fn cases(p: &People) -> Result<Vec<(String, Vec<SignedRecord>)>, Error> {
    let mut cases = Vec::new();

    // The plain story, in order.
    let founding = vec![
        sign(&p.ann, t(1), family())?,
        sign(&p.ann, t(2), member(&p.ann, "admin", false))?,
        sign(&p.ann, t(3), album(SUMMER, 0)?)?,
        sign(&p.ann, t(4), grant(SUMMER, &p.ann, 0, false))?,
        sign(&p.ann, t(5), member(&p.ben, "member", false))?,
        sign(&p.ann, t(6), grant(SUMMER, &p.ben, 0, false))?,
        sign(&p.ben, t(7), photo(PHOTO_1, SUMMER, 0, 1_000))?,
    ];
    cases.push(("a family founded: its admin, an album, two keys and a photo".to_string(), founding.clone()));

    // The same records arriving backwards: each is refused until what it needs arrives.
    let mut backwards = founding;
    backwards.reverse();
    cases
        .push(("out of order: the photo and the grants arrive before the family, album and members".into(), backwards));

    // Equal HLC, two admins whose readable ids sort against their keys: the larger key wins.
    let (high, low) = p.by_key(&p.bob);
    for (high_revokes, story) in [(true, "the revocation"), (false, "the grant")] {
        let mut records = founded_with(p, &p.bob)?;
        // Both admins also edit the album at that instant: the larger key's edit is current.
        records.push(sign(low, t(7), grant(SUMMER, &p.ben, 0, !high_revokes))?);
        records.push(sign(high, t(7), grant(SUMMER, &p.ben, 0, high_revokes))?);
        records.push(sign(low, t(7), album(SUMMER, 0)?)?);
        records.push(sign(high, t(7), album(SUMMER, 0)?)?);
        cases.push((
            format!(
                "equal HLC, two admins whose ids sort against their keys: {story} by the larger key wins \
                 (its readable id sorts first as text)"
            ),
            records,
        ));
    }

    // Equal HLC, two admins whose readable ids sort like their keys.
    let (high, low) = p.by_key(&p.dan);
    let mut records = founded_with(p, &p.dan)?;
    records.push(sign(high, t(7), grant(SUMMER, &p.ben, 0, true))?);
    records.push(sign(low, t(7), grant(SUMMER, &p.ben, 0, false))?);
    cases.push(("equal HLC, two admins whose ids sort like their keys: the larger key wins".into(), records));

    // Equal HLC and signer: the larger BLAKE3 of the body wins. The smaller arrives first.
    let mut records = founded_with(p, &p.dan)?;
    let mut tied =
        [sign(&p.ann, t(7), grant(SUMMER, &p.ben, 0, true))?, sign(&p.ann, t(7), grant(SUMMER, &p.ben, 0, false))?];
    tied.sort_by_key(|r| r.verify().map(|v| *blake3::hash(&v.body).as_bytes()).unwrap_or_default());
    records.extend(tied);
    cases.push(("equal HLC, one signer: the body with the larger BLAKE3 wins, though it arrived last".into(), records));

    // What the node never serves: a member's grant (refused) and a record from the future (held).
    let mut records = founded_with(p, &p.bob)?;
    records.push(sign(&p.ann, t(7), member(&p.cleo, "member", false))?);
    records.push(sign(&p.ann, t(8), grant(SUMMER, &p.cleo, 0, false))?);
    records.push(sign(&p.ben, t(9), grant(SUMMER, &p.cleo, 0, true))?);
    records.push(sign(&p.ann, NOW + 3_600_000, grant(SUMMER, &p.ben, 0, true))?);
    cases.push((
        "a member's revocation is refused and an admin's from the future is held: neither counts".into(),
        records,
    ));

    // A member leaves: the album key rotates, the old epoch's grants stay in the state, and the
    // removed member's next photo is refused. Every write arrives after the one that supersedes it.
    let records = vec![
        sign(&p.ann, t(1), family())?,
        sign(&p.ann, t(2), member(&p.ann, "admin", false))?,
        sign(&p.ann, t(3), member(&p.ben, "member", false))?,
        sign(&p.ann, t(4), member(&p.cleo, "member", false))?,
        sign(&p.ann, t(5), album(SUMMER, 0)?)?,
        sign(&p.ann, t(6), album(WINTER, 0)?)?,
        sign(&p.ann, t(12), grant(SUMMER, &p.ben, 1, false))?,
        sign(&p.ann, t(11), album(SUMMER, 1)?)?,
        sign(&p.ann, t(10), member(&p.cleo, "member", true))?,
        sign(&p.ann, t(9), grant(WINTER, &p.cleo, 0, true))?,
        sign(&p.ann, t(7), grant(SUMMER, &p.ben, 0, false))?,
        sign(&p.ann, t(8), grant(SUMMER, &p.cleo, 0, false))?,
        sign(&p.ann, t(8), grant(WINTER, &p.cleo, 0, false))?,
        sign(&p.ben, t(13), photo(PHOTO_2, SUMMER, 1, 2_000))?,
        sign(&p.cleo, t(9), photo(PHOTO_1, SUMMER, 0, 1_000))?,
        sign(&p.cleo, t(14), photo("photoccccccccccccccccccccc", SUMMER, 1, 3_000))?,
    ];
    cases.push(("a member removed: the album key rotates, grants arrive after what supersedes them".into(), records));

    // Names: Ann names the family and grants its key; each member signs their own profile. Ann's
    // profile for Ben is refused, wherever it sorts; Ben's rename wins.
    let records = vec![
        sign(&p.ann, t(1), family())?,
        sign(&p.ann, t(2), member(&p.ann, "admin", false))?,
        sign(&p.ann, t(3), family_meta(0)?)?,
        sign(&p.ann, t(4), family_grant(&p.ann, 0))?,
        sign(&p.ann, t(5), member(&p.ben, "member", false))?,
        sign(&p.ann, t(6), family_grant(&p.ben, 0))?,
        sign(&p.ann, t(7), profile(&p.ann, 0, "YW5u"))?,
        sign(&p.ben, t(8), profile(&p.ben, 0, "YmVu"))?,
        sign(&p.ann, t(9), profile(&p.ben, 0, "ZmFr"))?,
        sign(&p.ben, t(10), profile(&p.ben, 0, "YmVuMg=="))?,
        sign(&p.ben, t(11), family_meta(0)?)?,
    ];
    cases.push((
        "names: the family key granted, each member signs their own name; a forged name and a member's rename \
         of the family are refused"
            .into(),
        records,
    ));

    // A member removed: the family key must rotate before new names. Arriving backwards, each
    // record is judged again as what sorts before it arrives.
    let mut records = vec![
        sign(&p.ann, t(1), family())?,
        sign(&p.ann, t(2), member(&p.ann, "admin", false))?,
        sign(&p.ann, t(3), member(&p.ben, "member", false))?,
        sign(&p.ann, t(4), member(&p.cleo, "member", false))?,
        sign(&p.ann, t(5), family_meta(0)?)?,
        sign(&p.ann, t(6), family_grant(&p.ben, 0))?,
        sign(&p.ann, t(6), family_grant(&p.cleo, 0))?,
        sign(&p.cleo, t(7), profile(&p.cleo, 0, "Y2xl"))?,
        sign(&p.ben, t(8), profile(&p.ben, 0, "YmVu"))?,
        sign(&p.ann, t(9), member(&p.ben, "member", true))?,
        sign(&p.cleo, t(10), profile(&p.cleo, 0, "Y2xlMg=="))?,
        sign(&p.ann, t(11), family_meta(1)?)?,
        sign(&p.ann, t(12), family_grant(&p.cleo, 1))?,
        sign(&p.cleo, t(13), profile(&p.cleo, 1, "Y2xlMw=="))?,
        sign(&p.ben, t(14), profile(&p.ben, 1, "YmVuMg=="))?,
    ];
    records.reverse();
    cases.push((
        "names after a removal: the family key rotates; names sealed to the old epoch and the removed member's \
         are refused"
            .into(),
        records,
    ));

    Ok(cases)
}

/// Replays `records` in arrival order into a fresh vault and writes down what it made of them.
fn case(name: String, records: &[SignedRecord]) -> Result<Value, Error> {
    let mut vault = Vault::new(MAX_AHEAD_MS);
    let verified: Vec<VerifiedRecord> = records.iter().map(SignedRecord::verify).collect::<Result<_, _>>()?;
    for record in &verified {
        // A vector holds only records a vault keeps: nothing from another family, no second founding.
        vault.insert(record, NOW).map_err(|e| format!("{name}: {e}"))?;
    }
    let mut entries = Vec::new();
    for (record, checked) in records.iter().zip(&verified) {
        let mut entry = json!({"record": record, "id": record.id()?.to_string()});
        match vault.outcome(checked).ok_or_else(|| format!("{name}: a record was not kept"))? {
            Outcome::Applied => entry["outcome"] = json!("applied"),
            Outcome::Held => entry["outcome"] = json!("held"),
            Outcome::Refused(e) => {
                entry["outcome"] = json!("refused");
                entry["refused_by"] = json!(e.kind());
            }
        }
        entries.push(entry);
    }
    Ok(json!({
        "name": name,
        "valid": true,
        "now_ms": NOW,
        "max_ahead_ms": MAX_AHEAD_MS,
        "records": entries,
        "state": summary::summary(&vault),
    }))
}
