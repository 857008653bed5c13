//! Names: the family key, its grants, the family's name and each member's own profile.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use family_vault::{Applied, Outcome, PolicyError, Vault};
use p2pos_core::{Identity, SignedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "riverfamilyaaaaaaaaaaaaaaa";
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

struct Family {
    vault: Vault,
    clock: u64,
    /// The family key's recipient per epoch.
    keys: Vec<String>,
}

impl Family {
    fn founded(ann: &Identity) -> Self {
        let mut f = Self { vault: Vault::new(60_000), clock: 1_000, keys: Vec::new() };
        f.apply(ann, json!({"type": "family"})).unwrap();
        f.add(ann, ann, "admin").unwrap();
        f
    }

    fn sign(&mut self, who: &Identity, mut body: Value) -> SignedRecord {
        self.clock += 1;
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        if body.get("hlc").is_none() {
            body["hlc"] = json!({"wall_ms": self.clock, "counter": 0});
        }
        SignedRecord::sign(who, &body).unwrap()
    }

    fn apply(&mut self, who: &Identity, body: Value) -> Result<Applied, PolicyError> {
        let record = self.sign(who, body).verify().unwrap();
        self.vault.admit(&record, self.clock)
    }

    fn add(&mut self, admin: &Identity, who: &Identity, role: &str) -> Result<Applied, PolicyError> {
        let body = json!({"type": "member", "member": who.id(), "role": role,
                          "recipient": who.recipient().to_string(), "removed": false});
        self.apply(admin, body)
    }

    fn remove(&mut self, admin: &Identity, who: &Identity) -> Result<Applied, PolicyError> {
        let body = json!({"type": "member", "member": who.id(), "role": "member",
                          "recipient": who.recipient().to_string(), "removed": true});
        self.apply(admin, body)
    }

    fn key(&mut self, epoch: u32) -> String {
        while self.keys.len() <= epoch as usize {
            self.keys.push(Identity::generate().unwrap().recipient().to_string());
        }
        self.keys[epoch as usize].clone()
    }

    fn family_meta(&mut self, who: &Identity, epoch: u32) -> Result<Applied, PolicyError> {
        let recipient = self.key(epoch);
        self.apply(who, json!({"type": "family_meta", "epoch": epoch, "recipient": recipient, "meta": META}))
    }

    fn family_grant(&mut self, admin: &Identity, to: &Identity, epoch: u32) -> Result<Applied, PolicyError> {
        let body = json!({"type": "family_grant", "member": to.id(), "epoch": epoch, "key": META, "revoked": false});
        self.apply(admin, body)
    }

    fn profile(&mut self, signer: &Identity, of: &Identity, epoch: u32) -> Result<Applied, PolicyError> {
        self.apply(signer, json!({"type": "profile", "member": of.id(), "epoch": epoch, "meta": META}))
    }
}

fn people() -> (Identity, Identity, Identity) {
    (Identity::generate().unwrap(), Identity::generate().unwrap(), Identity::generate().unwrap())
}

#[test]
fn the_founder_names_the_family_and_admins_grant_its_key() {
    let (ann, ben, cleo) = people();
    let mut f = Family::founded(&ann);
    assert_eq!(f.profile(&ann, &ann, 0), Err(PolicyError::NoFamilyKey), "no key to seal a name to yet");
    assert_eq!(f.family_meta(&ann, 0), Ok(Applied::Current));
    f.add(&ann, &ben, "member").unwrap();
    assert_eq!(
        f.family_meta(&ben, 0),
        Err(PolicyError::NotAdmin("name the family or change the family key")),
        "a member does not rename the family"
    );
    assert_eq!(f.family_grant(&ben, &ben, 0), Err(PolicyError::NotAdmin("grant the family key")));
    assert_eq!(f.family_grant(&ann, &cleo, 0), Err(PolicyError::UnknownMember(cleo.id())), "a stranger gets no key");
    assert_eq!(f.family_grant(&ann, &ben, 1), Err(PolicyError::FutureEpoch { current: 0, given: 1 }));
    assert_eq!(f.family_grant(&ann, &ben, 0), Ok(Applied::Current));
    assert!(f.vault.has_family_grant(&ben.id(), 0));
    assert_eq!(f.vault.family_keys(&ben.id()), vec![(0, META.to_string())]);
    // An admin renames: same epoch, same recipient.
    assert_eq!(f.family_meta(&ann, 0), Ok(Applied::Current));
    assert_eq!(f.vault.family_meta().unwrap().epoch, 0);
    // A new key needs a new epoch; the epoch never goes back.
    let other = Identity::generate().unwrap().recipient().to_string();
    let body = json!({"type": "family_meta", "epoch": 0, "recipient": other, "meta": META});
    assert_eq!(f.apply(&ann, body), Err(PolicyError::RecipientWithoutNewEpoch));
    let clear = json!({"type": "family_meta", "epoch": 0, "recipient": f.key(0), "meta": "The Rivers"});
    assert!(matches!(f.apply(&ann, clear), Err(PolicyError::Malformed(_))), "the name is never in clear");
}

#[test]
fn each_member_signs_their_own_name_and_nobody_else_can() {
    let (ann, ben, cleo) = people();
    let mut f = Family::founded(&ann);
    f.family_meta(&ann, 0).unwrap();
    f.add(&ann, &ben, "member").unwrap();
    assert_eq!(f.profile(&ben, &ben, 0), Ok(Applied::Current));
    assert_eq!(f.profile(&ann, &ben, 0), Err(PolicyError::NotOwnProfile), "an admin cannot forge Ben's name");
    assert_eq!(f.profile(&ben, &ann, 0), Err(PolicyError::NotOwnProfile), "nor Ben Ann's");
    assert_eq!(f.profile(&cleo, &cleo, 0), Err(PolicyError::NotMember), "a stranger has no profile");
    assert_eq!(f.profile(&ben, &ben, 1), Err(PolicyError::WrongEpoch { current: 0, given: 1 }));
    assert!(f.vault.profile(&ben.id()).is_some());
    assert!(f.vault.profile(&ann.id()).is_none());
    // Every member reads every profile, the family key's grants and the family's name.
    let record = f.sign(&ben, json!({"type": "profile", "member": ben.id(), "epoch": 0, "meta": META}));
    let body = record.verify().unwrap().parse().unwrap();
    assert!(f.vault.may_read_record(&ann.id(), &body));
    assert!(f.vault.may_read_record(&ben.id(), &body));
    assert!(!f.vault.may_read_record(&cleo.id(), &body), "a stranger reads no profile");
}

#[test]
fn a_forged_name_replicated_in_stays_refused_wherever_it_sorts() {
    let (ann, ben, _) = people();
    let mut f = Family::founded(&ann);
    f.family_meta(&ann, 0).unwrap();
    f.add(&ann, &ben, "member").unwrap();
    f.profile(&ben, &ben, 0).unwrap();
    // Ann signs a profile for Ben stamped after his; a node passes it on by replication.
    let forged =
        f.sign(&ann, json!({"type": "profile", "member": ben.id(), "epoch": 0, "meta": META.replace("YWdl", "ZmFr")}));
    let forged = forged.verify().unwrap();
    let outcome = f.vault.insert(&forged, f.clock).unwrap().clone();
    assert_eq!(outcome, Outcome::Refused(PolicyError::NotOwnProfile));
    assert_eq!(f.vault.profile(&ben.id()).unwrap().meta, META, "Ben's own name stands");
}

#[test]
fn removing_a_member_rotates_the_family_key_before_new_names() {
    let (ann, ben, cleo) = people();
    let mut f = Family::founded(&ann);
    f.family_meta(&ann, 0).unwrap();
    f.add(&ann, &ben, "member").unwrap();
    f.add(&ann, &cleo, "member").unwrap();
    f.family_grant(&ann, &ben, 0).unwrap();
    f.family_grant(&ann, &cleo, 0).unwrap();
    f.profile(&cleo, &cleo, 0).unwrap();
    f.remove(&ann, &ben).unwrap();
    assert!(f.vault.family_meta().unwrap().rotation_due);
    assert_eq!(f.profile(&ben, &ben, 0), Err(PolicyError::NotMember), "a removed member writes no name");
    assert_eq!(f.profile(&cleo, &cleo, 0), Err(PolicyError::FamilyKeyNotRotated), "Ben holds epoch 0");
    assert_eq!(f.family_meta(&ann, 0), Err(PolicyError::FamilyKeyNotRotated), "nor a new family name");
    assert_eq!(f.family_grant(&ann, &ben, 0), Err(PolicyError::UnknownMember(ben.id())));
    // A new epoch with a key never used: names flow again, sealed to it.
    let reused = json!({"type": "family_meta", "epoch": 1, "recipient": f.key(0), "meta": META});
    assert_eq!(f.apply(&ann, reused), Err(PolicyError::RecipientReused));
    assert_eq!(f.family_meta(&ann, 1), Ok(Applied::Current));
    assert!(!f.vault.family_meta().unwrap().rotation_due);
    assert_eq!(f.family_meta(&ann, 0), Err(PolicyError::EpochBackwards { current: 1, given: 0 }));
    assert_eq!(f.profile(&cleo, &cleo, 0), Err(PolicyError::WrongEpoch { current: 1, given: 0 }));
    f.family_grant(&ann, &cleo, 1).unwrap();
    assert_eq!(f.profile(&cleo, &cleo, 1), Ok(Applied::Current));
    // Ben's old name stays (it labels what he wrote), and is no longer served to him.
    let record = f.sign(&cleo, json!({"type": "profile", "member": cleo.id(), "epoch": 1, "meta": META}));
    let body = record.verify().unwrap().parse().unwrap();
    assert!(!f.vault.may_read_record(&ben.id(), &body), "a removed member reads no profile");
}

#[test]
fn a_name_backdated_before_a_removal_is_refused_where_it_sorts() {
    let (ann, ben, _) = people();
    let mut f = Family::founded(&ann);
    f.family_meta(&ann, 0).unwrap();
    f.add(&ann, &ben, "admin").unwrap();
    f.remove(&ann, &ben).unwrap();
    // Ben, removed, stamps a family rename in the past, when he was still an admin: a client
    // submission must also pass against the current state.
    let back = json!({"wall_ms": 1_004, "counter": 1});
    let body = json!({"type": "family_meta", "epoch": 0, "recipient": f.key(0), "meta": META, "hlc": back});
    assert_eq!(f.apply(&ben, body), Err(PolicyError::NotMember));
}
