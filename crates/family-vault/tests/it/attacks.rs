//! The attacks a review found against the vault's rules (issue 12), each told as a story, and the
//! rules that now hold. Every node judges a record where it stands in `(hlc, signer)` order.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use family_vault::{Applied, ObjectId, Outcome, PolicyError, Role, Vault};
use p2pos_core::{BlobId, Identity, SignedRecord, VerifiedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const SUMMER: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const WINTER: &str = "winteraaaaaaaaaaaaaaaaaaaa";
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
const NOW: u64 = 1_000_000;

/// Signs a body at a given wall time.
fn record(who: &Identity, wall_ms: u64, mut body: Value) -> VerifiedRecord {
    body["v"] = json!(1);
    body["family"] = json!(FAMILY);
    body["hlc"] = json!({"wall_ms": wall_ms, "counter": 0});
    SignedRecord::sign(who, &body).unwrap().verify().unwrap()
}

fn member(who: &Identity, role: &str, removed: bool) -> Value {
    json!({"type": "member", "member": who.id(), "role": role, "recipient": who.recipient().to_string(), "removed": removed})
}

fn album(id: &str, epoch: u32, recipient: &str) -> Value {
    json!({"type": "album", "album": id, "epoch": epoch, "recipient": recipient, "meta": META, "deleted": false})
}

fn grant(album: &str, to: &Identity, epoch: u32, revoked: bool) -> Value {
    let key = if revoked { "" } else { META };
    json!({"type": "grant", "album": album, "member": to.id(), "epoch": epoch, "key": key, "revoked": revoked})
}

fn photo(id: &str, album: &str, epoch: u32, blob: BlobId, size: u64, deleted: bool) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": epoch, "blob": blob, "size": size,
           "thumb": null, "thumb_size": null, "meta": META, "deleted": deleted})
}

fn oid(s: &str) -> ObjectId {
    s.parse().unwrap()
}

/// The River family: Ann founds it and owns both albums; Ben holds Summer; Cleo holds both.
struct River {
    vault: Vault,
    clock: u64,
    ann: Identity,
    ben: Identity,
    cleo: Identity,
    summer_key: String,
}

impl River {
    fn new() -> Self {
        let (ann, ben, cleo) =
            (Identity::generate().unwrap(), Identity::generate().unwrap(), Identity::generate().unwrap());
        let summer_key = Identity::generate().unwrap().recipient().to_string();
        let winter_key = Identity::generate().unwrap().recipient().to_string();
        let mut r = River { vault: Vault::new(60_000), clock: NOW - 100_000, ann, ben, cleo, summer_key };
        let ann = r.ann.clone();
        r.ok(&ann, json!({"type": "family"}));
        for (who, role) in [(&r.ann.clone(), "admin"), (&r.ben.clone(), "member"), (&r.cleo.clone(), "member")] {
            r.ok(&ann, member(who, role, false));
        }
        r.ok(&ann, album(SUMMER, 0, &r.summer_key.clone()));
        r.ok(&ann, album(WINTER, 0, &winter_key));
        for (a, who) in [(SUMMER, r.ann.clone()), (SUMMER, r.ben.clone()), (SUMMER, r.cleo.clone())] {
            r.ok(&ann, grant(a, &who, 0, false));
        }
        for who in [r.ann.clone(), r.cleo.clone()] {
            r.ok(&ann, grant(WINTER, &who, 0, false));
        }
        r
    }

    fn submit(&mut self, who: &Identity, body: Value) -> Result<Applied, PolicyError> {
        self.clock += 10;
        let rec = record(who, self.clock, body);
        self.vault.admit(&rec, NOW)
    }

    fn ok(&mut self, who: &Identity, body: Value) {
        self.submit(who, body.clone()).unwrap_or_else(|e| panic!("{body} refused: {e}"));
    }
}

#[test]
fn a_grant_on_one_album_never_opens_another_albums_blobs() {
    let mut r = River::new();
    let (cleo, ben) = (r.cleo.clone(), r.ben.clone());
    let winter_blob = BlobId::of(b"winter ciphertext");
    r.ok(&cleo, photo("winterphotoaaaaaaaaaaaaaaa", WINTER, 0, winter_blob, 17, false));
    assert!(!r.vault.may_read_blob(&ben.id(), &winter_blob));

    // Ben, who holds Summer only, points a Summer photo at Winter's blob.
    let stolen = r.submit(&ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, winter_blob, 17, false));
    assert_eq!(stolen, Err(PolicyError::BlobOfOtherAlbum(winter_blob)));
    assert!(!r.vault.may_read_blob(&ben.id(), &winter_blob), "Ben reads nothing of Winter");
}

#[test]
fn new_photos_wait_for_a_new_album_key_after_a_revocation() {
    let mut r = River::new();
    let (ann, ben) = (r.ann.clone(), r.ben.clone());
    r.ok(&ann, grant(SUMMER, &ben, 0, true));
    let blob = BlobId::of(b"after the revocation");
    let early = r.submit(&ann, photo("afteraaaaaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 9, false));
    assert_eq!(early, Err(PolicyError::KeyNotRotated), "Ben still holds epoch 0's key");

    // The album gets a new key; its epoch never goes back, and a new key needs a new epoch.
    let fresh = Identity::generate().unwrap().recipient().to_string();
    assert_eq!(
        r.submit(&ann, album(SUMMER, 0, &fresh)),
        Err(PolicyError::RecipientWithoutNewEpoch),
        "the same epoch cannot change key"
    );
    let summer_key = r.summer_key.clone();
    assert_eq!(
        r.submit(&ann, album(SUMMER, 1, &summer_key)),
        Err(PolicyError::RecipientReused),
        "a new epoch with the key Ben holds"
    );
    r.ok(&ann, album(SUMMER, 1, &fresh));
    assert_eq!(
        r.submit(&ann, album(SUMMER, 0, &summer_key)),
        Err(PolicyError::EpochBackwards { current: 1, given: 0 })
    );
    assert_eq!(
        r.submit(&ann, photo("afteraaaaaaaaaaaaaaaaaaaaa", SUMMER, 1, blob, 9, false)),
        Err(PolicyError::NoGrant { epoch: 1 }),
        "Ann grants herself the new key first"
    );
    r.ok(&ann, grant(SUMMER, &ann, 1, false));
    r.ok(&ann, photo("afteraaaaaaaaaaaaaaaaaaaaa", SUMMER, 1, blob, 9, false));
    assert!(!r.vault.may_read_blob(&ben.id(), &blob));
}

#[test]
fn removing_a_member_also_asks_for_new_album_keys() {
    let mut r = River::new();
    let (ann, ben) = (r.ann.clone(), r.ben.clone());
    r.ok(&ann, member(&ben, "member", true));
    let blob = BlobId::of(b"after the removal");
    assert_eq!(
        r.submit(&ann, photo("afteraaaaaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 9, false)),
        Err(PolicyError::KeyNotRotated)
    );
    // Winter was never Ben's: it needs no new key.
    r.ok(&ann, photo("winterafteraaaaaaaaaaaaaaa", WINTER, 0, BlobId::of(b"w"), 1, false));
}

#[test]
fn only_the_author_the_album_owner_or_an_admin_change_a_photo() {
    let mut r = River::new();
    let (ann, ben, cleo) = (r.ann.clone(), r.ben.clone(), r.cleo.clone());
    let winter_blob = BlobId::of(b"cleo's winter photo");
    r.ok(&cleo, photo("cleophotoaaaaaaaaaaaaaaaaa", WINTER, 0, winter_blob, 5, false));
    // Ben holds Summer only: he cannot pull Cleo's Winter photo into Summer, replace or delete it.
    assert_eq!(
        r.submit(&ben, photo("cleophotoaaaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"x"), 1, false)),
        Err(PolicyError::AlbumFixed)
    );
    assert_eq!(
        r.submit(&ben, photo("cleophotoaaaaaaaaaaaaaaaaa", SUMMER, 0, winter_blob, 5, true)),
        Err(PolicyError::AlbumFixed)
    );

    // In an album they share, another member is still not the author.
    let summer_blob = BlobId::of(b"cleo's summer photo");
    r.ok(&cleo, photo("cleosummeraaaaaaaaaaaaaaaa", SUMMER, 0, summer_blob, 5, false));
    assert_eq!(
        r.submit(&ben, photo("cleosummeraaaaaaaaaaaaaaaa", SUMMER, 0, summer_blob, 5, true)),
        Err(PolicyError::NotAuthor)
    );
    assert_eq!(
        r.submit(&ben, photo("cleosummeraaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"swap"), 4, false)),
        Err(PolicyError::NotAuthor)
    );
    // The author, the album's owner and an admin may.
    r.ok(&cleo, photo("cleosummeraaaaaaaaaaaaaaaa", SUMMER, 0, summer_blob, 5, false));
    r.ok(&ann, photo("cleosummeraaaaaaaaaaaaaaaa", SUMMER, 0, summer_blob, 5, true));
    assert_eq!(r.vault.photos_in(&oid(SUMMER)).count(), 0);
    assert!(r.vault.may_read_blob(&cleo.id(), &winter_blob));
}

#[test]
fn a_record_from_the_far_future_is_held_and_wins_nothing() {
    let mut r = River::new();
    let (ann, ben, cleo) = (r.ann.clone(), r.ben.clone(), r.cleo.clone());
    let blob = BlobId::of(b"a photo");
    r.ok(&cleo, photo("cleophotoaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 5, false));
    // Ann's key signs, by mistake or not, a removal stamped at the end of time: it arrives by
    // replication. It is held, not applied, so it cannot win last-writer-wins forever.
    let forever = record(&ann, u64::MAX, member(&ben, "admin", false));
    assert_eq!(r.vault.insert(&forever, NOW), Ok(&Outcome::Held));
    assert_eq!(r.vault.role(&ben.id()), Some(Role::Member));
    let undeletable = record(&cleo, u64::MAX - 1, photo("cleophotoaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 5, false));
    assert_eq!(r.vault.insert(&undeletable, NOW), Ok(&Outcome::Held));
    r.ok(&ann, photo("cleophotoaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 5, true));
    assert_eq!(r.vault.photos_in(&oid(SUMMER)).count(), 0, "the admin's delete stands");

    // A record a little ahead is held until its time, then folded.
    let soon = record(&ann, NOW + 120_000, member(&ben, "admin", false));
    assert_eq!(r.vault.insert(&soon, NOW), Ok(&Outcome::Held));
    assert_eq!(r.vault.next_due_ms(), Some(NOW + 60_000));
    assert!(!r.vault.advance(NOW + 59_999));
    assert!(r.vault.advance(NOW + 60_000));
    assert_eq!(r.vault.outcome(&soon), Some(&Outcome::Applied));
    assert_eq!(r.vault.role(&ben.id()), Some(Role::Admin));
}

#[test]
fn a_lying_size_cannot_shadow_a_blobs_real_size() {
    let mut r = River::new();
    let (ann, ben) = (r.ann.clone(), r.ben.clone());
    let blob = BlobId::of(b"a large photo");
    r.ok(&ann, photo("annphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 4_000_000, false));
    assert_eq!(
        r.submit(&ben, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, blob, 1, false)),
        Err(PolicyError::SizeMismatch { blob, known: 4_000_000, given: 1 })
    );
    assert_eq!(r.vault.referenced_blobs(NOW), vec![(blob, 4_000_000)], "replication fetches the real size");
}

#[test]
fn a_removed_members_backdated_record_is_refused() {
    let mut r = River::new();
    let (ann, ben) = (r.ann.clone(), r.ben.clone());
    let before_removal = r.clock;
    r.ok(&ann, member(&ben, "member", true));
    // Ben signs a photo stamped before his removal and submits it after.
    let backdated =
        record(&ben, before_removal - 5, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"b"), 1, false));
    assert_eq!(r.vault.admit(&backdated, NOW), Err(PolicyError::NotMember));
    assert_eq!(r.vault.outcome(&backdated), None, "a refused submission is not kept");
}

/// The same records given to two nodes in opposite orders.
fn both_orders(records: &[VerifiedRecord]) -> (Vault, Vault) {
    let mut forward = Vault::new(60_000);
    let mut backward = Vault::new(60_000);
    for rec in records {
        forward.insert(rec, NOW).unwrap();
    }
    for rec in records.iter().rev() {
        backward.insert(rec, NOW).unwrap();
    }
    (forward, backward)
}

fn founding(ann: &Identity, others: &[(&Identity, &str)]) -> Vec<VerifiedRecord> {
    let mut out = vec![record(ann, 1, json!({"type": "family"})), record(ann, 2, member(ann, "admin", false))];
    for (i, (who, role)) in others.iter().enumerate() {
        out.push(record(ann, 3 + i as u64, member(who, role, false)));
    }
    out
}

#[test]
fn an_upload_racing_a_removal_ends_the_same_on_every_node() {
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let mut records = founding(&ann, &[(&ben, "member")]);
    records.push(record(&ann, 10, album(SUMMER, 0, &key)));
    records.push(record(&ann, 11, grant(SUMMER, &ben, 0, false)));
    // On Oak, Ann removes Ben at 20; on Pine, Ben uploads at 21 before he hears of it.
    records.push(record(&ann, 20, member(&ben, "member", true)));
    let upload = record(&ben, 21, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"b"), 1, false));
    records.push(upload.clone());
    let (oak, pine) = both_orders(&records);
    assert_eq!(oak.state_hash(), pine.state_hash());
    assert_eq!(pine.outcome(&upload), Some(&Outcome::Refused(PolicyError::NotMember)), "kept, and refused");
    assert_eq!(oak.photos_in(&oid(SUMMER)).count(), 0);
}

#[test]
fn two_admins_demoting_each_other_leave_one_admin_on_every_node() {
    let (ann, bob) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut records = founding(&ann, &[(&bob, "admin")]);
    records.push(record(&ann, 30, member(&bob, "member", false)));
    records.push(record(&bob, 30, member(&ann, "member", false)));
    let (oak, pine) = both_orders(&records);
    assert_eq!(oak.state_hash(), pine.state_hash());
    let admins: Vec<_> = oak.members().filter(|(_, m)| m.role == Role::Admin).map(|(id, _)| *id).collect();
    assert_eq!(admins.len(), 1, "the first demotion in (hlc, signer) order wins, the other is refused");
}

#[test]
fn a_refused_record_is_judged_again_when_what_it_needs_arrives() {
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let mut vault = Vault::new(60_000);
    for rec in founding(&ann, &[(&ben, "member")]) {
        vault.insert(&rec, NOW).unwrap();
    }
    let upload = record(&ben, 50, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"b"), 1, false));
    assert_eq!(vault.insert(&upload, NOW), Ok(&Outcome::Refused(PolicyError::UnknownAlbum(oid(SUMMER)))));
    vault.insert(&record(&ann, 40, grant(SUMMER, &ben, 0, false)), NOW).unwrap();
    vault.insert(&record(&ann, 39, album(SUMMER, 0, &key)), NOW).unwrap();
    assert_eq!(vault.outcome(&upload), Some(&Outcome::Applied));
    assert_eq!(vault.photos_in(&oid(SUMMER)).count(), 1);
}

/// A review found that letting the fold choose the earliest of two founding records lets anyone
/// who can pass a record on (an enrolled node) found the family anew with a fresh key stamped at
/// time zero. A founded vault keeps no second founding record, whatever its stamp.
#[test]
fn a_founded_vault_keeps_no_second_founding_record() {
    let (ann, mallory) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut vault = Vault::new(60_000);
    for r in founding(&ann, &[]) {
        vault.insert(&r, NOW).unwrap();
    }
    let before = vault.state_hash();
    let forged = record(&mallory, 0, json!({"type": "family"}));
    assert_eq!(vault.insert(&forged, NOW), Err(PolicyError::AlreadyFounded));
    assert_eq!(vault.outcome(&forged), None, "not kept");
    let made_admin = record(&mallory, 5, member(&mallory, "admin", false));
    assert_eq!(vault.insert(&made_admin, NOW), Ok(&Outcome::Refused(PolicyError::NotMember)));
    assert_eq!(vault.role(&ann.id()), Some(Role::Admin));
    assert_eq!(vault.state_hash(), before);
}

/// Loading a log whose order is not the fold's folds once and gives the same vault.
#[test]
fn a_log_in_any_order_loads_into_the_same_vault() {
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let key = Identity::generate().unwrap().recipient().to_string();
    let mut records = founding(&ann, &[(&ben, "member")]);
    records.push(record(&ann, 40, album(SUMMER, 0, &key)));
    records.push(record(&ann, 41, grant(SUMMER, &ben, 0, false)));
    records.push(record(&ben, 50, photo("benphotoaaaaaaaaaaaaaaaaaa", SUMMER, 0, BlobId::of(b"b"), 1, false)));
    let (one_by_one, _) = both_orders(&records);
    let mut shuffled: Vec<_> = records.iter().skip(2).rev().collect();
    shuffled.insert(0, &records[0]);
    shuffled.insert(1, &records[1]);
    let mut batch = Vault::new(60_000);
    let results = batch.insert_many(shuffled, NOW);
    assert!(results.iter().all(|r| r == &Ok(Outcome::Applied)), "{results:?}");
    assert_eq!(batch.state_hash(), one_by_one.state_hash());
}
