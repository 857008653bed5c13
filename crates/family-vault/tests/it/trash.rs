//! Organising the vault (issue 15): deleting, restoring and renaming, who may do each, and the
//! trash's 30 days, told as the Lake family's story in virtual time. A node releases a blob only
//! when every photo that references it has been in the trash for 30 days, and a restore after
//! that is refused wherever it is judged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use family_vault::{ObjectId, PolicyError, TRASH_RETENTION_MS, Vault};
use p2pos_core::{BlobId, Identity, SignedRecord, VerifiedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "lakefamilyaaaaaaaaaaaaaaaa";
const SUMMER: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const WINTER: &str = "winteraaaaaaaaaaaaaaaaaaaa";
const BEACH: &str = "beachphotoaaaaaaaaaaaaaaaa";
const DUNES: &str = "dunesphotoaaaaaaaaaaaaaaaa";
const META: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
const RENAMED: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nbmV3\n-----END AGE ENCRYPTED FILE-----\n";
const DAY: u64 = 24 * 60 * 60 * 1000;
const START: u64 = 1_700_000_000_000;

fn oid(s: &str) -> ObjectId {
    s.parse().unwrap()
}

/// Ann (admin) owns both albums; Ben (member) holds Summer and uploads to it; Cleo (member) holds
/// Summer too; Dan is a member without a grant.
struct Lake {
    vault: Vault,
    now: u64,
    ann: Identity,
    ben: Identity,
    cleo: Identity,
    dan: Identity,
    summer_key: String,
    winter_key: String,
    beach: BlobId,
    dunes: BlobId,
}

impl Lake {
    fn new() -> Self {
        let id = || Identity::generate().unwrap();
        let mut l = Lake {
            vault: Vault::new(60_000),
            now: START,
            ann: id(),
            ben: id(),
            cleo: id(),
            dan: id(),
            summer_key: id().recipient().to_string(),
            winter_key: id().recipient().to_string(),
            beach: BlobId::of(b"beach ciphertext"),
            dunes: BlobId::of(b"dunes ciphertext"),
        };
        let ann = l.ann.clone();
        l.ok(&ann, json!({"type": "family"}));
        for (who, role) in
            [(l.ann.clone(), "admin"), (l.ben.clone(), "member"), (l.cleo.clone(), "member"), (l.dan.clone(), "member")]
        {
            l.ok(&ann, json!({"type": "member", "member": who.id(), "role": role, "recipient": who.recipient().to_string(), "removed": false}));
        }
        let (summer_key, winter_key) = (l.summer_key.clone(), l.winter_key.clone());
        l.ok(&ann, album(SUMMER, &summer_key, META, false));
        l.ok(&ann, album(WINTER, &winter_key, META, false));
        for who in [l.ann.clone(), l.ben.clone(), l.cleo.clone()] {
            l.ok(&ann, grant(SUMMER, &who));
        }
        l.ok(&ann, grant(WINTER, &l.ann.clone()));
        let (ben, beach, dunes) = (l.ben.clone(), l.beach, l.dunes);
        l.ok(&ben, photo(BEACH, SUMMER, beach, false));
        l.ok(&ben, photo(DUNES, SUMMER, dunes, false));
        l
    }

    fn record(&mut self, who: &Identity, mut body: Value) -> VerifiedRecord {
        self.now += 1;
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": self.now, "counter": 0});
        SignedRecord::sign(who, &body).unwrap().verify().unwrap()
    }

    fn submit(&mut self, who: &Identity, body: Value) -> Result<(), PolicyError> {
        let record = self.record(who, body);
        self.vault.admit(&record, self.now).map(|_| ())
    }

    fn ok(&mut self, who: &Identity, body: Value) {
        self.submit(who, body.clone()).unwrap_or_else(|e| panic!("{body} refused: {e}"));
    }

    fn days(&mut self, n: u64) {
        self.now += n * DAY;
        self.vault.advance(self.now);
    }

    fn live(&self, album: &str) -> Vec<String> {
        let album = oid(album);
        let mut ids: Vec<String> = self.vault.photos_in(&album).map(|(id, _)| id.to_string()).collect();
        ids.sort();
        ids
    }

    fn trash(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.vault.trashed_photos(self.now).map(|(id, _)| id.to_string()).collect();
        ids.sort();
        ids
    }
}

fn album(id: &str, recipient: &str, meta: &str, deleted: bool) -> Value {
    json!({"type": "album", "album": id, "epoch": 0, "recipient": recipient, "meta": meta, "deleted": deleted})
}

fn grant(album: &str, to: &Identity) -> Value {
    json!({"type": "grant", "album": album, "member": to.id(), "epoch": 0, "key": META, "revoked": false})
}

fn photo(id: &str, album: &str, blob: BlobId, deleted: bool) -> Value {
    json!({"type": "photo", "photo": id, "album": album, "epoch": 0, "blob": blob, "size": 10,
           "thumb": null, "thumb_size": null, "meta": META, "deleted": deleted})
}

#[test]
fn ben_deletes_his_photo_it_waits_in_the_trash_and_he_restores_it() {
    let mut l = Lake::new();
    let (ben, beach) = (l.ben.clone(), l.beach);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    let deleted_at = l.now;
    assert_eq!(l.live(SUMMER), vec![DUNES]);
    assert_eq!(l.trash(), vec![BEACH]);
    let trashed = l.vault.photo(&oid(BEACH)).unwrap();
    assert_eq!(l.vault.trashed_ms(trashed), Some(deleted_at), "the trash shows when it was deleted");
    assert!(l.vault.may_read_blob(&ben.id(), &beach), "the trash shows its thumbnail");
    assert!(l.vault.referenced_blobs(l.now).iter().any(|(b, _)| *b == beach), "nodes keep it meanwhile");

    // A second delete does not extend its stay.
    l.days(3);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    assert_eq!(l.vault.trashed_ms(l.vault.photo(&oid(BEACH)).unwrap()), Some(deleted_at));

    l.days(26);
    l.ok(&ben, photo(BEACH, SUMMER, beach, false));
    assert_eq!(l.live(SUMMER), vec![BEACH, DUNES]);
    assert!(l.trash().is_empty());
    assert_eq!(l.vault.trashed_ms(l.vault.photo(&oid(BEACH)).unwrap()), None);
}

#[test]
fn who_may_delete_and_restore_a_photo() {
    let mut l = Lake::new();
    let (ann, cleo, dan, beach, dunes) = (l.ann.clone(), l.cleo.clone(), l.dan.clone(), l.beach, l.dunes);
    // Cleo holds the album's key but neither wrote the photo nor owns the album.
    assert_eq!(l.submit(&cleo, photo(BEACH, SUMMER, beach, true)), Err(PolicyError::NotAuthor));
    // Dan holds no key to the album.
    assert_eq!(l.submit(&dan, photo(BEACH, SUMMER, beach, true)), Err(PolicyError::NotAuthor));
    // A stranger is no member at all.
    let stranger = Identity::generate().unwrap();
    assert_eq!(l.submit(&stranger, photo(BEACH, SUMMER, beach, true)), Err(PolicyError::NotMember));
    // Ann, an admin (and the album's owner), may.
    l.ok(&ann, photo(BEACH, SUMMER, beach, true));
    assert_eq!(l.submit(&cleo, photo(BEACH, SUMMER, beach, false)), Err(PolicyError::NotAuthor));
    l.ok(&ann, photo(BEACH, SUMMER, beach, false));

    // A removed author may no longer touch what they wrote.
    let ben = l.ben.clone();
    l.ok(&ann, json!({"type": "member", "member": ben.id(), "role": "member", "recipient": ben.recipient().to_string(), "removed": true}));
    assert_eq!(l.submit(&ben, photo(DUNES, SUMMER, dunes, true)), Err(PolicyError::NotMember));
    assert_eq!(l.live(SUMMER), vec![BEACH, DUNES]);
}

#[test]
fn a_restore_after_thirty_days_is_refused_and_the_blob_is_released() {
    let mut l = Lake::new();
    let (ben, beach, dunes) = (l.ben.clone(), l.beach, l.dunes);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    let deleted_at = l.now;
    assert!(l.vault.releasable_blobs(l.now).is_empty());
    assert!(l.vault.releasable_blobs(deleted_at + TRASH_RETENTION_MS - 1).is_empty(), "not a millisecond early");
    assert_eq!(l.vault.releasable_blobs(deleted_at + TRASH_RETENTION_MS), vec![beach]);

    l.days(30);
    assert!(l.trash().is_empty(), "gone from the trash");
    assert_eq!(l.submit(&ben, photo(BEACH, SUMMER, beach, false)), Err(PolicyError::TrashExpired));
    assert!(!l.vault.referenced_blobs(l.now).iter().any(|(b, _)| *b == beach), "never fetched again");
    assert!(l.vault.referenced_blobs(l.now).iter().any(|(b, _)| *b == dunes));
    assert_eq!(l.vault.releasable_blobs(l.now), vec![beach]);
}

#[test]
fn a_restore_stamped_in_time_is_judged_at_its_stamp_but_a_node_refuses_it_late() {
    let mut l = Lake::new();
    let (ben, beach) = (l.ben.clone(), l.beach);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    // Ben restores on a phone that is offline; the record reaches the node 31 days later.
    l.now += 29 * DAY;
    let restore = l.record(&ben, photo(BEACH, SUMMER, beach, false));
    l.days(2);
    assert_eq!(l.vault.admit(&restore, l.now), Err(PolicyError::TrashExpired), "the node's clock says too late");
    // Replication brings it from a node that took it in time: the fold judges it where it stands.
    let mut peer = l.vault.clone();
    peer.insert(&restore, l.now).unwrap();
    assert_eq!(peer.photos_in(&oid(SUMMER)).count(), 2, "same records, same vault");
    assert!(peer.releasable_blobs(l.now).is_empty(), "a blob restored in time is never released");
}

#[test]
fn a_deleted_albums_photos_go_to_the_trash_with_it() {
    let mut l = Lake::new();
    let (ann, ben, cleo) = (l.ann.clone(), l.ben.clone(), l.cleo.clone());
    let (summer_key, beach, dunes) = (l.summer_key.clone(), l.beach, l.dunes);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    l.days(10);
    // Only admins change albums.
    assert_eq!(
        l.submit(&cleo, album(SUMMER, &summer_key, META, true)),
        Err(PolicyError::NotAdmin("create or change albums"))
    );
    l.ok(&ann, album(SUMMER, &summer_key, META, true));
    let album_deleted = l.now;
    assert!(l.vault.album(&oid(SUMMER)).is_none());
    assert_eq!(l.vault.trashed_albums(l.now).map(|(id, _)| id.to_string()).collect::<Vec<_>>(), vec![SUMMER]);
    let dunes_photo = l.vault.photo(&oid(DUNES)).unwrap();
    assert_eq!(l.vault.trashed_ms(dunes_photo), Some(album_deleted), "its photos went with it");
    // Nothing in a deleted album changes until it is restored.
    assert_eq!(l.submit(&ben, photo(DUNES, SUMMER, dunes, true)), Err(PolicyError::UnknownAlbum(oid(SUMMER))));

    // Beach was deleted ten days earlier: its 30 days end first.
    l.days(20);
    assert_eq!(l.vault.releasable_blobs(l.now), vec![beach]);
    l.ok(&ann, album(SUMMER, &summer_key, META, false));
    assert_eq!(l.live(SUMMER), vec![DUNES], "the album comes back with its live photos");
    assert_eq!(l.vault.releasable_blobs(l.now), vec![beach]);
    assert_eq!(l.submit(&ben, photo(BEACH, SUMMER, beach, false)), Err(PolicyError::TrashExpired));

    // Deleted again, and left: after 30 days the album can no longer come back.
    l.ok(&ann, album(SUMMER, &summer_key, META, true));
    l.days(30);
    assert!(l.vault.trashed_albums(l.now).next().is_none());
    assert_eq!(
        l.vault.releasable_blobs(l.now),
        vec![beach, dunes].into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>()
    );
    assert_eq!(l.submit(&ann, album(SUMMER, &summer_key, META, false)), Err(PolicyError::TrashExpired));
}

#[test]
fn admins_rename_albums_members_may_not() {
    let mut l = Lake::new();
    let (ann, ben) = (l.ann.clone(), l.ben.clone());
    let winter_key = l.winter_key.clone();
    assert_eq!(
        l.submit(&ben, album(WINTER, &winter_key, RENAMED, false)),
        Err(PolicyError::NotAdmin("create or change albums"))
    );
    l.ok(&ann, album(WINTER, &winter_key, RENAMED, false));
    assert_eq!(l.vault.album(&oid(WINTER)).unwrap().meta, RENAMED);
}

#[test]
fn a_move_is_a_copy_in_the_target_album_and_a_delete_of_the_original() {
    let mut l = Lake::new();
    let (ann, ben, beach) = (l.ann.clone(), l.ben.clone(), l.beach);
    // The photo record cannot change album: a move writes a new photo, re-encrypted.
    assert_eq!(l.submit(&ann, photo(BEACH, WINTER, beach, false)), Err(PolicyError::AlbumFixed));
    // Nor may the copy reuse the other album's ciphertext.
    assert_eq!(
        l.submit(&ann, photo("beachcopyaaaaaaaaaaaaaaaaa", WINTER, beach, false)),
        Err(PolicyError::BlobOfOtherAlbum(beach))
    );
    let copy = BlobId::of(b"beach re-encrypted for winter");
    l.ok(&ann, photo("beachcopyaaaaaaaaaaaaaaaaa", WINTER, copy, false));
    l.ok(&ann, photo(BEACH, SUMMER, beach, true));
    assert_eq!(l.live(WINTER), vec!["beachcopyaaaaaaaaaaaaaaaaa"]);
    assert_eq!(l.trash(), vec![BEACH]);
    // Ben holds no key to Winter: he cannot copy into it.
    assert_eq!(
        l.submit(&ben, photo("bencopyaaaaaaaaaaaaaaaaaaa", WINTER, BlobId::of(b"x"), false)),
        Err(PolicyError::NoGrant { epoch: 0 })
    );
}

/// Security review (issue 15, HIGH): a delete may be stamped in the past by a node trusted with
/// time. The fold never refuses a restore for its stamp, so it cannot be made to refuse every
/// restore at once; only a node's API refuses restores it receives late, by its own count.
#[test]
fn the_fold_takes_a_restore_whatever_its_stamp_after_the_delete() {
    let mut l = Lake::new();
    let (ben, beach) = (l.ben.clone(), l.beach);
    l.ok(&ben, photo(BEACH, SUMMER, beach, true));
    l.days(40);
    let restore = l.record(&ben, photo(BEACH, SUMMER, beach, false));
    let mut peer = l.vault.clone();
    peer.insert(&restore, l.now).unwrap();
    assert_eq!(peer.photos_in(&oid(SUMMER)).count(), 2, "restored by replication");
    assert!(peer.releasable_blobs(l.now).is_empty());
    // A node that first stored the deletion 25 days ago (later than its stamp) still takes it
    // from a client; one counting from the stamp refuses it.
    let stored = l.now - 25 * DAY;
    let mut node = l.vault.clone();
    assert_eq!(node.admit(&restore, l.now), Err(PolicyError::TrashExpired));
    assert!(node.admit_from(&restore, l.now, &|_, d| d.max(stored)).is_ok());
    assert_eq!(node.photos_in(&oid(SUMMER)).count(), 2);
}
