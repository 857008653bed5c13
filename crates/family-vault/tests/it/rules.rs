//! The vault's rules, told as the River family's story.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use family_vault::{Applied, ObjectId, PolicyError, Role, Vault};
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const ALBUM: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

struct Family {
    vault: Vault,
    clock: u64,
}

impl Family {
    fn new() -> Self {
        Self { vault: Vault::new(60_000), clock: 1_000 }
    }

    fn hlc(&mut self) -> Value {
        self.clock += 1;
        json!({"wall_ms": self.clock, "counter": 0})
    }

    fn apply(&mut self, who: &Identity, mut body: Value) -> Result<Applied, PolicyError> {
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        if body.get("hlc").is_none() {
            body["hlc"] = self.hlc();
        }
        let record = SignedRecord::sign(who, &body).unwrap().verify().unwrap();
        self.vault.admit(&record, self.clock)
    }

    fn add_member(&mut self, admin: &Identity, who: &Identity, role: &str) -> Result<Applied, PolicyError> {
        let body = json!({"type": "member", "member": who.id(), "role": role, "recipient": who.recipient().to_string(), "removed": false});
        self.apply(admin, body)
    }

    fn album(&mut self, who: &Identity, epoch: u32) -> Result<Applied, PolicyError> {
        let recipient = Identity::generate().unwrap().recipient().to_string();
        self.apply(who, json!({"type": "album", "album": ALBUM, "epoch": epoch, "recipient": recipient, "meta": META, "deleted": false}))
    }

    fn grant(&mut self, admin: &Identity, to: &Identity, epoch: u32, revoked: bool) -> Result<Applied, PolicyError> {
        let body = json!({"type": "grant", "album": ALBUM, "member": to.id(), "epoch": epoch, "key": META, "revoked": revoked});
        self.apply(admin, body)
    }

    fn photo(&mut self, who: &Identity, id: &str, blob: BlobId, epoch: u32) -> Result<Applied, PolicyError> {
        let body = json!({"type": "photo", "photo": id, "album": ALBUM, "epoch": epoch, "blob": blob, "size": 10,
                          "thumb": null, "thumb_size": null, "meta": META, "deleted": false});
        self.apply(who, body)
    }
}

fn founded() -> (Family, Identity) {
    let mut f = Family::new();
    let ada = Identity::generate().unwrap();
    assert_eq!(f.apply(&ada, json!({"type": "family"})), Ok(Applied::Current));
    assert_eq!(f.add_member(&ada, &ada, "admin"), Ok(Applied::Current));
    (f, ada)
}

#[test]
fn the_founder_is_admin_and_a_family_is_founded_once() {
    let (mut f, ada) = founded();
    assert_eq!(f.vault.role(&ada.id()), Some(Role::Admin));
    let mallory = Identity::generate().unwrap();
    assert_eq!(f.apply(&mallory, json!({"type": "family"})), Err(PolicyError::AlreadyFounded));
}

#[test]
fn only_admins_add_members_and_grant_keys() {
    let (mut f, ada) = founded();
    let bea = Identity::generate().unwrap();
    let carl = Identity::generate().unwrap();
    f.add_member(&ada, &bea, "member").unwrap();
    assert_eq!(f.add_member(&bea, &carl, "member"), Err(PolicyError::NotAdmin("add, change or remove members")));
    assert_eq!(f.add_member(&carl, &carl, "admin"), Err(PolicyError::NotMember), "strangers cannot join themselves");
    f.album(&ada, 1).unwrap();
    assert_eq!(f.album(&bea, 1), Err(PolicyError::NotAdmin("create or change albums")));
    assert_eq!(f.grant(&bea, &bea, 1, false), Err(PolicyError::NotAdmin("grant album keys")), "a grant needs an admin");
    assert_eq!(f.grant(&ada, &carl, 1, false), Err(PolicyError::UnknownMember(carl.id())));
}

#[test]
fn members_read_blobs_only_of_albums_they_hold_a_key_for() {
    let (mut f, ada) = founded();
    let bea = Identity::generate().unwrap();
    let carl = Identity::generate().unwrap();
    f.add_member(&ada, &bea, "member").unwrap();
    f.add_member(&ada, &carl, "member").unwrap();
    f.album(&ada, 1).unwrap();
    f.grant(&ada, &ada, 1, false).unwrap();
    f.grant(&ada, &bea, 1, false).unwrap();
    let blob = BlobId::of(b"ciphertext of a photo");
    assert_eq!(f.photo(&carl, "photoaaaaaaaaaaaaaaaaaaaaa", blob, 1), Err(PolicyError::NoGrant { epoch: 1 }));
    f.photo(&bea, "photoaaaaaaaaaaaaaaaaaaaaa", blob, 1).unwrap();
    assert!(f.vault.may_read_blob(&ada.id(), &blob));
    assert!(f.vault.may_read_blob(&bea.id(), &blob));
    assert!(!f.vault.may_read_blob(&carl.id(), &blob), "a member without a grant");
    assert!(!f.vault.may_read_blob(&Identity::generate().unwrap().id(), &blob), "a stranger");
    assert!(!f.vault.may_read_blob(&bea.id(), &BlobId::of(b"unreferenced")), "a blob no photo references");

    // Revoking Bea's grant (a revocation carries no key), or removing Bea, ends her access.
    let revoke = json!({"type": "grant", "album": ALBUM, "member": bea.id(), "epoch": 1, "key": "", "revoked": true});
    f.apply(&ada, revoke).unwrap();
    assert!(!f.vault.may_read_blob(&bea.id(), &blob));
    f.grant(&ada, &bea, 1, false).unwrap();
    assert!(f.vault.may_read_blob(&bea.id(), &blob));
    let removal = json!({"type": "member", "member": bea.id(), "role": "member", "recipient": bea.recipient().to_string(), "removed": true});
    f.apply(&ada, removal).unwrap();
    assert!(!f.vault.may_read_blob(&bea.id(), &blob));
}

#[test]
fn new_photos_use_the_current_epoch_after_a_key_rotation() {
    let (mut f, ada) = founded();
    f.album(&ada, 1).unwrap();
    f.grant(&ada, &ada, 1, false).unwrap();
    f.album(&ada, 2).unwrap();
    f.grant(&ada, &ada, 2, false).unwrap();
    let blob = BlobId::of(b"x");
    assert_eq!(
        f.photo(&ada, "photoaaaaaaaaaaaaaaaaaaaaa", blob, 1),
        Err(PolicyError::WrongEpoch { current: 2, given: 1 })
    );
    assert_eq!(f.photo(&ada, "photoaaaaaaaaaaaaaaaaaaaaa", blob, 2), Ok(Applied::Current));
}

#[test]
fn last_writer_wins_by_clock_then_signer() {
    let (mut f, ada) = founded();
    let bob = Identity::generate().unwrap();
    f.add_member(&ada, &bob, "admin").unwrap();
    let newer = json!({"wall_ms": 9_000, "counter": 0});
    let older = json!({"wall_ms": 8_000, "counter": 5});
    let recipient = Identity::generate().unwrap().recipient().to_string();
    let album = |hlc: &Value, meta: &str| json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": recipient, "meta": meta, "deleted": false, "hlc": hlc});
    let meta_b = META.replace("YWdl", "YmJi");
    assert_eq!(f.apply(&ada, album(&newer, META)), Ok(Applied::Current));
    assert_eq!(
        f.apply(&bob, album(&older, &meta_b)),
        Ok(Applied::Superseded),
        "an older edit arriving late changes nothing"
    );
    assert_eq!(f.vault.album(&ALBUM.parse::<ObjectId>().unwrap()).unwrap().meta, META);
    // The same instant: the larger signer id wins, on every node alike.
    let (winner, loser) = if ada.id() > bob.id() { (&ada, &bob) } else { (&bob, &ada) };
    let tie = json!({"wall_ms": 9_500, "counter": 0});
    f.apply(loser, album(&tie, &META.replace("YWdl", "bG9z"))).unwrap();
    assert_eq!(f.apply(winner, album(&tie, &META.replace("YWdl", "d2lu"))), Ok(Applied::Current));
    assert_eq!(f.apply(loser, album(&tie, &META.replace("YWdl", "bG9z"))), Ok(Applied::Superseded));
}

#[test]
fn the_last_admin_stays() {
    let (mut f, ada) = founded();
    let demote = json!({"type": "member", "member": ada.id(), "role": "member", "recipient": ada.recipient().to_string(), "removed": false});
    assert_eq!(f.apply(&ada, demote), Err(PolicyError::LastAdmin));
}

#[test]
fn records_for_another_family_or_in_clear_text_are_refused() {
    let (mut f, ada) = founded();
    let mut body = json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false, "hlc": {"wall_ms": 1, "counter": 0}, "v": 1});
    body["family"] = json!("otherfamilyaaaaaaaaaaaaaaa");
    let record = SignedRecord::sign(&ada, &body).unwrap().verify().unwrap();
    assert_eq!(f.vault.admit(&record, 2_000), Err(PolicyError::OtherFamily));
    let clear = json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": "Summer 2026", "deleted": false});
    assert!(matches!(f.apply(&ada, clear), Err(PolicyError::Malformed(_))), "titles must be encrypted");
    let unknown = json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": ada.recipient().to_string(), "meta": META, "deleted": false, "title": "x"});
    assert!(matches!(f.apply(&ada, unknown), Err(PolicyError::Malformed(_))), "unknown fields are refused");
}
