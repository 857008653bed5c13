//! The vault's rules under random record sequences from several signers (issue 12).
//!
//! The input is read as a list of records (no founding records: the family is founded once) (4 signers: Ann founds the family; Ben and Cleo are
//! members; Mallory never is). Each is submitted as a client would (`admit`) to one vault, and
//! kept as replication would (`insert`) in two others, in input order and in reverse. Checked:
//! - no one becomes admin except by an admin's record (Mallory and members never are, unless an
//!   admin made them so);
//! - Mallory, never granted Winter, cannot read Winter's records or blobs that Ann uploaded;
//! - the replicated vaults agree whatever the order (the state is a function of the record set);
//! - nothing panics, whatever the bodies say.
#![no_main]

use std::sync::OnceLock;

use family_vault::{Body, Role, Vault};
use libfuzzer_sys::fuzz_target;
use p2pos_core::{BlobId, Identity, SignedRecord, VerifiedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const ALBUMS: [&str; 2] = ["summeraaaaaaaaaaaaaaaaaaaa", "winteraaaaaaaaaaaaaaaaaaaa"];
const PHOTOS: [&str; 3] = ["photoaaaaaaaaaaaaaaaaaaaaa", "photobbbbbbbbbbbbbbbbbbbbb", "photoccccccccccccccccccccc"];
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
const NOW: u64 = 1_000_000;
const MALLORY: usize = 3;

fn people() -> &'static [Identity; 4] {
    static P: OnceLock<[Identity; 4]> = OnceLock::new();
    P.get_or_init(|| std::array::from_fn(|i| Identity::from_seeds([i as u8 + 1; 32], [i as u8 + 11; 32]).expect("seeds")))
}

fn recipients() -> &'static [String; 3] {
    static R: OnceLock<[String; 3]> = OnceLock::new();
    R.get_or_init(|| {
        std::array::from_fn(|i| Identity::from_seeds([i as u8 + 21; 32], [i as u8 + 31; 32]).expect("seeds").recipient().to_string())
    })
}

fn sign(who: usize, wall_ms: u64, counter: u32, mut body: Value) -> VerifiedRecord {
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    body["hlc"] = json!({"wall_ms": wall_ms, "counter": counter});
    SignedRecord::sign(&people()[who], &body).expect("sign").verify().expect("verify")
}

/// One record from 6 input bytes: signer, kind, two parameters, time.
fn decode(b: &[u8]) -> (usize, Value, u64, u32) {
    let p = people();
    let who = (b[0] % 4) as usize;
    let (x, y, z) = (b[2] as usize, b[3] as usize, b[4]);
    // No founding records: a node keeps exactly one (see the end of the target).
    let body = match b[1] % 4 {
        0 => json!({"type": "member", "member": p[x % 4].id(), "role": if y % 2 == 0 { "admin" } else { "member" },
                    "recipient": p[x % 4].recipient().to_string(), "removed": y % 5 == 1}),
        1 => json!({"type": "album", "album": ALBUMS[x % 2], "epoch": y % 3, "recipient": recipients()[(y / 3) % 3],
                    "meta": META, "deleted": z % 7 == 0}),
        2 => json!({"type": "grant", "album": ALBUMS[x % 2], "member": p[y % 4].id(), "epoch": (z % 3) as u32,
                    "key": if z % 4 == 3 { "" } else { META }, "revoked": z % 4 == 3}),
        _ => json!({"type": "photo", "photo": PHOTOS[x % 3], "album": ALBUMS[(x / 3) % 2], "epoch": (y % 3) as u32,
                    "blob": BlobId::of(&[z % 6]), "size": 1 + (y as u64 % 2), "thumb": null, "thumb_size": null,
                    "meta": META, "deleted": y % 5 == 4}),
    };
    // Mostly near now; sometimes far in the future (held), sometimes at the same instant.
    let wall = match b[5] % 16 {
        0 => u64::MAX - b[5] as u64,
        1 => NOW + 10 * 60_000,
        t => 100 + t as u64,
    };
    (who, body, wall, (b[5] / 16) as u32)
}

/// The founding, signed once: Ann's family, Ann admin, Ben and Cleo members, both albums, Ann
/// and Cleo granted Winter, everyone but Mallory granted Summer; Ann uploads one Winter photo.
fn founding() -> &'static (Vec<VerifiedRecord>, BlobId) {
    static F: OnceLock<(Vec<VerifiedRecord>, BlobId)> = OnceLock::new();
    F.get_or_init(|| {
        let mut records = vec![sign(0, 1, 0, json!({"type": "family"}))];
        let p = people();
        for (i, role) in [(0, "admin"), (1, "member"), (2, "member")] {
            records.push(sign(0, 2 + i as u64, 0, json!({"type": "member", "member": p[i].id(), "role": role,
                "recipient": p[i].recipient().to_string(), "removed": false})));
        }
        for (i, album) in ALBUMS.iter().enumerate() {
            records.push(sign(0, 10 + i as u64, 0, json!({"type": "album", "album": album, "epoch": 0,
                "recipient": recipients()[i], "meta": META, "deleted": false})));
        }
        for (t, (album, who)) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)].into_iter().enumerate() {
            records.push(sign(0, 20 + t as u64, 0, json!({"type": "grant", "album": ALBUMS[album], "member": p[who].id(),
                "epoch": 0, "key": META, "revoked": false})));
        }
        let winter_blob = BlobId::of(b"ann's winter photo");
        records.push(sign(0, 30, 0, json!({"type": "photo", "photo": "annwinteraaaaaaaaaaaaaaaaa", "album": ALBUMS[1],
            "epoch": 0, "blob": winter_blob, "size": 9, "thumb": null, "thumb_size": null, "meta": META, "deleted": false})));
        (records, winter_blob)
    })
}

fuzz_target!(|data: &[u8]| {
    let (mut records, winter_blob) = founding().clone();
    let mut client = Vault::new(60_000);
    for r in &records {
        let _ = client.admit(r, NOW);
    }
    // What admins (at the time they wrote) allowed: whom they made admin, whether they ever
    // gave Mallory Winter's key.
    let p = people();
    let mut admin_made = [true, false, false, false];
    let mut mallory_granted_winter = false;
    for chunk in data.chunks_exact(6).take(64) {
        let (who, body, wall, counter) = decode(chunk);
        if client.role(&p[who].id()) == Some(Role::Admin) {
            let names = |i: usize| body["member"] == json!(p[i].id());
            if body["type"] == "member" && body["role"] == "admin" {
                admin_made[(0..4).find(|&i| names(i)).unwrap_or(0)] = true;
            }
            if body["type"] == "grant" && body["album"] == ALBUMS[1] && names(MALLORY) {
                mallory_granted_winter = true;
            }
        }
        let record = sign(who, wall, counter, body);
        let _ = client.admit(&record, NOW);
        records.push(record);
    }

    // Nobody is admin unless an admin made them so; Mallory never reads Winter.
    for (i, person) in p.iter().enumerate() {
        if client.role(&person.id()) == Some(Role::Admin) {
            assert!(admin_made[i], "{i} became admin without an admin's record");
        }
    }
    let mallory = p[MALLORY].id();
    if !admin_made[MALLORY] && !mallory_granted_winter {
        assert!(!client.may_read_blob(&mallory, &winter_blob), "Mallory read Winter's blob");
        let winter: Body = serde_json::from_value(json!({"type": "album", "v": 1, "family": FAMILY,
            "hlc": {"wall_ms": 1, "counter": 0}, "album": ALBUMS[1], "epoch": 0, "recipient": recipients()[1],
            "meta": META, "deleted": false})).expect("body");
        assert!(!client.may_read_record(&mallory, &winter), "Mallory read a Winter record");
    }

    // Replicas converge whatever the order.
    let mut forward = Vault::new(60_000);
    let mut backward = Vault::new(60_000);
    for r in &records {
        let _ = forward.insert(r, NOW);
    }
    for r in records.iter().rev() {
        let _ = backward.insert(r, NOW);
    }
    assert_eq!(forward.state_hash(), backward.state_hash(), "two orders, two vaults");

    // A second founding record, from anyone, at any time, is never kept and changes nothing.
    let before = forward.state_hash();
    let forged = sign((data.first().copied().unwrap_or(0) % 4) as usize, 0, 0, json!({"type": "family"}));
    assert!(forward.insert(&forged, NOW).is_err(), "a second founding record was kept");
    assert_eq!(forward.state_hash(), before);
});
