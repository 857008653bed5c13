//! Properties over random record sets (proptest):
//! - convergence: the same records, in any arrival order, give the same vault on three nodes;
//! - read scope: whatever a member without a grant on an album submits, they never get to read
//!   one of its blobs or records.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256 each).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use family_vault::{Body, Vault};
use p2pos_core::{BlobId, Identity, SignedRecord, VerifiedRecord};
use proptest::prelude::*;
use serde_json::{Value, json};

const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const ALBUMS: [&str; 2] = ["summeraaaaaaaaaaaaaaaaaaaa", "winteraaaaaaaaaaaaaaaaaaaa"];
const PHOTOS: [&str; 3] = ["photoaaaaaaaaaaaaaaaaaaaaa", "photobbbbbbbbbbbbbbbbbbbbb", "photoccccccccccccccccccccc"];
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
const NOW: u64 = 1_000_000;

/// Ann and Bob are admins, Ben and Cleo members: four signers, made once.
fn people() -> &'static [Identity; 4] {
    static PEOPLE: std::sync::OnceLock<[Identity; 4]> = std::sync::OnceLock::new();
    PEOPLE.get_or_init(|| std::array::from_fn(|_| Identity::generate().unwrap()))
}

fn keys() -> &'static [String; 3] {
    static KEYS: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| std::array::from_fn(|_| Identity::generate().unwrap().recipient().to_string()))
}

fn sign(who: usize, wall_ms: u64, counter: u32, mut body: Value) -> VerifiedRecord {
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    body["hlc"] = json!({"wall_ms": wall_ms, "counter": counter});
    SignedRecord::sign(&people()[who], &body).unwrap().verify().unwrap()
}

/// One change someone may try; `Op::body` turns it into a record body.
#[derive(Debug, Clone)]
enum Op {
    Member { who: usize, admin: bool, removed: bool },
    Album { album: usize, epoch: u32, key: usize, deleted: bool },
    Grant { album: usize, who: usize, epoch: u32, revoked: bool },
    Photo { photo: usize, album: usize, epoch: u32, blob: u8, size: u64, deleted: bool },
}

impl Op {
    fn body(&self) -> Value {
        let p = people();
        match *self {
            Op::Member { who, admin, removed } => json!({"type": "member", "member": p[who].id(),
                "role": if admin { "admin" } else { "member" }, "recipient": p[who].recipient().to_string(), "removed": removed}),
            Op::Album { album, epoch, key, deleted } => json!({"type": "album", "album": ALBUMS[album], "epoch": epoch,
                "recipient": keys()[key], "meta": META, "deleted": deleted}),
            Op::Grant { album, who, epoch, revoked } => {
                json!({"type": "grant", "album": ALBUMS[album], "member": p[who].id(),
                "epoch": epoch, "key": if revoked { "" } else { META }, "revoked": revoked})
            }
            Op::Photo { photo, album, epoch, blob, size, deleted } => json!({"type": "photo", "photo": PHOTOS[photo],
                "album": ALBUMS[album], "epoch": epoch, "blob": BlobId::of(&[blob]), "size": size,
                "thumb": null, "thumb_size": null, "meta": META, "deleted": deleted}),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..4usize, any::<bool>(), prop::bool::weighted(0.3)).prop_map(|(who, admin, removed)| Op::Member {
            who,
            admin,
            removed
        }),
        (0..2usize, 0..3u32, 0..3usize, prop::bool::weighted(0.1)).prop_map(|(album, epoch, key, deleted)| Op::Album {
            album,
            epoch,
            key,
            deleted
        }),
        (0..2usize, 0..4usize, 0..3u32, prop::bool::weighted(0.3)).prop_map(|(album, who, epoch, revoked)| Op::Grant {
            album,
            who,
            epoch,
            revoked
        }),
        (0..3usize, 0..2usize, 0..3u32, 0..3u8, 1..4u64, prop::bool::weighted(0.2)).prop_map(
            |(photo, album, epoch, blob, size, deleted)| Op::Photo { photo, album, epoch, blob, size, deleted }
        ),
    ]
}

/// The family as it stood before the concurrent part: both albums, everyone granted epoch 0.
fn setup() -> Vec<VerifiedRecord> {
    let mut out = vec![sign(0, 1, 0, json!({"type": "family"}))];
    let mut t = 2;
    let mut push = |out: &mut Vec<VerifiedRecord>, op: Op| {
        out.push(sign(0, t, 0, op.body()));
        t += 1;
    };
    push(&mut out, Op::Member { who: 0, admin: true, removed: false });
    push(&mut out, Op::Member { who: 1, admin: true, removed: false });
    push(&mut out, Op::Member { who: 2, admin: false, removed: false });
    push(&mut out, Op::Member { who: 3, admin: false, removed: false });
    for album in 0..2 {
        push(&mut out, Op::Album { album, epoch: 0, key: album, deleted: false });
        for who in 0..4 {
            push(&mut out, Op::Grant { album, who, epoch: 0, revoked: false });
        }
    }
    out
}

/// The four races the issue names, each a pair of concurrent records (wall times 100 and 101
/// from different signers), plus the random ones.
fn race(kind: u8) -> Vec<VerifiedRecord> {
    match kind {
        // An admin removes Ben while Ben uploads.
        0 => vec![
            sign(0, 100, 0, Op::Member { who: 2, admin: false, removed: true }.body()),
            sign(2, 101, 0, Op::Photo { photo: 0, album: 0, epoch: 0, blob: 9, size: 5, deleted: false }.body()),
        ],
        // Two admins demote each other at the same instant.
        1 => vec![
            sign(0, 100, 0, Op::Member { who: 1, admin: false, removed: false }.body()),
            sign(1, 100, 0, Op::Member { who: 0, admin: false, removed: false }.body()),
        ],
        // Ben's key is revoked while Cleo uploads.
        2 => vec![
            sign(0, 100, 0, Op::Grant { album: 0, who: 2, epoch: 0, revoked: true }.body()),
            sign(3, 101, 0, Op::Photo { photo: 1, album: 0, epoch: 0, blob: 8, size: 5, deleted: false }.body()),
        ],
        // Bob removes Cleo while Ann grants her Winter's key again.
        _ => vec![
            sign(1, 100, 0, Op::Member { who: 3, admin: false, removed: true }.body()),
            sign(0, 101, 0, Op::Grant { album: 1, who: 3, epoch: 0, revoked: false }.body()),
        ],
    }
}

fn scenario() -> impl Strategy<Value = Vec<VerifiedRecord>> {
    let concurrent = prop::collection::vec((0..4usize, 90..120u64, 0..2u32, op()), 0..24);
    (0..4u8, concurrent).prop_map(|(kind, ops)| {
        let mut records = setup();
        records.extend(race(kind));
        records.extend(ops.into_iter().map(|(who, wall, counter, op)| sign(who, wall, counter, op.body())));
        // One record from far in the future: held on every node, whatever it says.
        records.push(sign(0, u64::MAX, 0, Op::Member { who: 2, admin: true, removed: false }.body()));
        records
    })
}

fn fold(records: &[VerifiedRecord]) -> Vault {
    let mut vault = Vault::new(60_000);
    for r in records {
        vault.insert(r, NOW).unwrap();
    }
    vault
}

proptest! {
    #[test]
    fn three_nodes_that_hold_the_same_records_hold_the_same_vault(
        (a, b, c) in scenario().prop_flat_map(|r| (Just(r.clone()).prop_shuffle(), Just(r.clone()).prop_shuffle(), Just(r).prop_shuffle()))
    ) {
        let (oak, pine, elm) = (fold(&a), fold(&b), fold(&c));
        prop_assert_eq!(oak.state_hash(), pine.state_hash());
        prop_assert_eq!(oak.state_hash(), elm.state_hash());
        // Invariants of any fold: an admin exists, and the far-future record changed nothing.
        prop_assert!(oak.members().any(|(_, m)| m.role == family_vault::Role::Admin));
    }

    #[test]
    fn a_member_without_a_grant_never_reads_the_album(
        attempts in prop::collection::vec((any::<bool>(), any::<bool>(), op()), 1..40)
    ) {
        // Winter (album 1) is Ann's and Cleo's only; Ben (2) never holds it. Ann uploads to it
        // between Ben's attempts; Ben tries anything a member can submit.
        let p = people();
        let mut vault = Vault::new(60_000);
        let mut t = 1;
        let mut submit = |vault: &mut Vault, who: usize, body: Value| {
            t += 1;
            vault.admit(&sign(who, t, 0, body), NOW).is_ok()
        };
        let _ = submit(&mut vault, 0, json!({"type": "family"}));
        for who in 0..4 {
            let _ = submit(&mut vault, 0, Op::Member { who, admin: who < 2, removed: false }.body());
        }
        for album in 0..2 {
            let _ = submit(&mut vault, 0, Op::Album { album, epoch: 0, key: album, deleted: false }.body());
        }
        for (album, who) in [(0, 0), (0, 2), (1, 0), (1, 3)] {
            let _ = submit(&mut vault, 0, Op::Grant { album, who, epoch: 0, revoked: false }.body());
        }
        let mut winter_blobs = Vec::new();
        for (i, (ann_uploads, steal, mut op)) in attempts.into_iter().enumerate() {
            if ann_uploads {
                // Ann's ciphertext: a blob Ben cannot know before she uploads it, so one he
                // claimed first (same id, in a test only) is his, not hers.
                let blob = 100 + (i as u8 % 3);
                let photo = Op::Photo { photo: i % 3, album: 1, epoch: 0, blob, size: 1, deleted: false };
                if submit(&mut vault, 0, photo.body()) {
                    winter_blobs.push(BlobId::of(&[blob]));
                }
            }
            // Ben's attempt, half of them aimed at Winter's blob ids (which he would have to
            // learn somehow); a grant to himself on Winter needs an admin, so it fails too.
            if let Op::Photo { blob, .. } = &mut op && steal {
                *blob += 100;
            }
            let _ = submit(&mut vault, 2, op.body());
        }
        let ben = p[2].id();
        for blob in &winter_blobs {
            prop_assert!(!vault.may_read_blob(&ben, blob), "Ben read a Winter blob");
        }
        let winter: family_vault::AlbumId = ALBUMS[1].parse().unwrap();
        prop_assert!(!vault.can_open_album(&ben, &winter));
        let winter_record: Body = serde_json::from_value({
            let mut b = Op::Photo { photo: 0, album: 1, epoch: 0, blob: 100, size: 1, deleted: false }.body();
            b["v"] = json!(1);
            b["family"] = json!(FAMILY);
            b["hlc"] = json!({"wall_ms": 1, "counter": 0});
            b
        }).unwrap();
        prop_assert!(!vault.may_read_record(&ben, &winter_record));
    }
}
