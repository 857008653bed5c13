//! One family's vault: every record a node holds, and the state they fold to under the rules.
//!
//! The state is a function of the *set* of records, not of the order they arrived in (DESIGN.md
//! §8). Records are kept sorted by `(hlc, signer, body hash)` and folded in that order; each is
//! judged against the state *at its own position*. So every node that holds the same records has
//! the same vault, whatever order replication brought them in.
//!
//! - A record that breaks a rule where it stands is kept as [`Outcome::Refused`]. When a record
//!   that sorts before it arrives (the album it needs, the grant it lacked), the fold runs again
//!   and judges it afresh.
//! - A record stamped more than [`Vault::max_ahead_ms`] ahead of the local clock is
//!   [`Outcome::Held`]: kept, not folded, until its time comes. A record from year 584,942 is
//!   held for good, so no record can win last-writer-wins forever.
//!
//! Two entry points:
//! - [`Vault::insert`] is for replication and for loading the log: the record is kept, whatever
//!   its outcome.
//! - [`Vault::admit`] is for a client's submission: the record must pass where it stands *and*
//!   against the current state (so a removed member cannot backdate their way in), or it is not
//!   kept at all.
//!
//! ```
//! # use family_vault::{Vault, Outcome};
//! let vault = Vault::new(60_000);
//! assert!(vault.family().is_none());
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use p2pos_core::{BlobId, Hlc, IdentityId, VerifiedRecord};

use crate::model::{AlbumId, BODY_VERSION, Body, FamilyId, MAX_META_BYTES, PhotoId, Role};

/// How long a deleted photo or album stays in the trash, restorable: 30 days. After that a node
/// refuses restores sent to it and releases the blobs no live or trashed photo still needs.
pub const TRASH_RETENTION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// What put a photo in the trash: its own deletion or its album's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrashSubject<'a> {
    Photo(&'a PhotoId),
    Album(&'a AlbumId),
}

/// When a node starts counting a subject's [`TRASH_RETENTION_MS`], given its `deleted_ms`. The
/// vault's own answer is `deleted_ms`; a node passes a later time (when it first stored the
/// deletion), so a delete stamped in the past cannot make it release at once.
pub type TrashStart<'f> = &'f dyn Fn(TrashSubject<'_>, u64) -> u64;

/// Counts from the deletion's stamp: the vault's time, the same on every node.
pub fn from_stamp(_: TrashSubject<'_>, deleted_ms: u64) -> u64 {
    deleted_ms
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("not a vault record: {0}")]
    Malformed(String),
    #[error("this record belongs to another family")]
    OtherFamily,
    #[error("the family already exists")]
    AlreadyFounded,
    #[error("no family has been founded yet")]
    NoFamily,
    #[error("only an admin may {0}")]
    NotAdmin(&'static str),
    #[error("the signer is not a member of this family")]
    NotMember,
    #[error("no album {0}")]
    UnknownAlbum(AlbumId),
    #[error("{0} is not a member of this family")]
    UnknownMember(IdentityId),
    #[error("the signer has no key for epoch {epoch} of this album")]
    NoGrant { epoch: u32 },
    #[error("new writes are encrypted to the current epoch {current}, not {given}")]
    WrongEpoch { current: u32, given: u32 },
    #[error("the album key must be rotated (a new epoch) after a member lost access, before new photos")]
    KeyNotRotated,
    #[error("a key's epoch never goes back (it is {current}, not {given})")]
    EpochBackwards { current: u32, given: u32 },
    #[error("a new key needs a new epoch")]
    RecipientWithoutNewEpoch,
    #[error("a new epoch needs a key never used before")]
    RecipientReused,
    #[error("epoch {given} of this key does not exist yet (the current one is {current})")]
    FutureEpoch { current: u32, given: u32 },
    #[error("a photo stays in the album it was created in")]
    AlbumFixed,
    #[error("only the photo's author, the album's owner or an admin may change or delete it")]
    NotAuthor,
    #[error("blob {0} belongs to a photo of another album")]
    BlobOfOtherAlbum(BlobId),
    #[error("blob {blob} is {known} bytes, not {given}")]
    SizeMismatch { blob: BlobId, known: u64, given: u64 },
    #[error("the last admin cannot be removed or demoted")]
    LastAdmin,
    #[error("its 30 days in the trash are over on this node: its blobs may have been released")]
    TrashExpired,
    #[error("the family has no family key yet (an admin names the family first)")]
    NoFamilyKey,
    #[error("a profile is signed by the member it describes, and nobody else")]
    NotOwnProfile,
    #[error("the family key must be rotated (a new epoch) after a member was removed, before new names")]
    FamilyKeyNotRotated,
}

impl PolicyError {
    /// A stable name for the rule, for logs, metrics and clients that branch on it.
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Malformed(_) => "malformed",
            PolicyError::OtherFamily => "other_family",
            PolicyError::AlreadyFounded => "already_founded",
            PolicyError::NoFamily => "no_family",
            PolicyError::NotAdmin(_) => "not_admin",
            PolicyError::NotMember => "not_member",
            PolicyError::UnknownAlbum(_) => "unknown_album",
            PolicyError::UnknownMember(_) => "unknown_member",
            PolicyError::NoGrant { .. } => "no_grant",
            PolicyError::WrongEpoch { .. } => "wrong_epoch",
            PolicyError::KeyNotRotated => "key_not_rotated",
            PolicyError::EpochBackwards { .. } => "epoch_backwards",
            PolicyError::RecipientWithoutNewEpoch => "recipient_without_new_epoch",
            PolicyError::RecipientReused => "recipient_reused",
            PolicyError::FutureEpoch { .. } => "future_epoch",
            PolicyError::AlbumFixed => "album_fixed",
            PolicyError::NotAuthor => "not_author",
            PolicyError::BlobOfOtherAlbum(_) => "blob_of_other_album",
            PolicyError::SizeMismatch { .. } => "size_mismatch",
            PolicyError::LastAdmin => "last_admin",
            PolicyError::TrashExpired => "trash_expired",
            PolicyError::NoFamilyKey => "no_family_key",
            PolicyError::NotOwnProfile => "not_own_profile",
            PolicyError::FamilyKeyNotRotated => "family_key_not_rotated",
        }
    }
}

/// What [`Vault::admit`] did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It is now the current state of its subject.
    Current,
    /// A later write of the same subject is already known; kept in the log, changes nothing.
    Superseded,
}

/// Where a kept record stands in the fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed the rules at its position.
    Applied,
    /// It broke a rule at its position; judged again whenever the records before it change.
    Refused(PolicyError),
    /// Stamped too far in the future; folded when its time comes.
    Held,
}

/// The fold order: hybrid logical clock, then signer, then the body's hash (so two records with
/// the same stamp and signer still have one order everywhere).
///
/// The signer compares by its public key bytes (`IdentityId`'s order), never by its readable
/// text: base32 gives `A`–`Z` the values 0–25 and `2`–`7` the values 26–31, but comparing the
/// text puts the digits first, so the two orders differ. The body
/// hash is BLAKE3 of the exact body bytes. The web app's fold (`apps/web/src/lib/vaultState.ts`)
/// keeps the same order; `testvectors/vault-state.json` holds them to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub hlc: Hlc,
    pub signer: IdentityId,
    body_hash: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct Member {
    pub role: Role,
    pub recipient: String,
    pub removed: bool,
    stamp: Stamp,
}

#[derive(Debug, Clone)]
pub struct Album {
    pub epoch: u32,
    pub recipient: String,
    pub meta: String,
    pub deleted: bool,
    /// When it went to the trash (the wall time of the first deleting write since it was last
    /// live), while `deleted`.
    pub deleted_ms: Option<u64>,
    /// The admin who created it.
    pub owner: IdentityId,
    /// A member lost access since the current epoch began: no new photos until a new epoch.
    pub rotation_due: bool,
    /// The recipients of earlier epochs: a new epoch may not bring one back.
    past_recipients: BTreeSet<String>,
    stamp: Stamp,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub key: String,
    pub revoked: bool,
    stamp: Stamp,
}

#[derive(Debug, Clone)]
pub struct Photo {
    pub album: AlbumId,
    pub epoch: u32,
    pub blob: BlobId,
    pub size: u64,
    pub thumb: Option<BlobId>,
    pub thumb_size: Option<u64>,
    pub meta: String,
    pub deleted: bool,
    /// When it went to the trash (the wall time of the first deleting write since it was last
    /// live), while `deleted`.
    pub deleted_ms: Option<u64>,
    /// Who created it.
    pub author: IdentityId,
    stamp: Stamp,
}

/// The family key's current epoch and the family's name (sealed to that epoch's recipient).
#[derive(Debug, Clone)]
pub struct FamilyMeta {
    pub epoch: u32,
    pub recipient: String,
    pub meta: String,
    /// A member was removed since the current epoch began: no new names until a new epoch.
    pub rotation_due: bool,
    past_recipients: BTreeSet<String>,
    stamp: Stamp,
}

/// A member's profile: their name (and avatar), sealed to the family key of `epoch`.
#[derive(Debug, Clone)]
pub struct Profile {
    pub epoch: u32,
    pub meta: String,
    stamp: Stamp,
}

impl FamilyMeta {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl Profile {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl Member {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl Album {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl Grant {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl Photo {
    /// The write that is current: the last one in fold order.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

/// The blob's album (fixed by the first photo, in fold order, that references it) and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlobClaim {
    album: AlbumId,
    size: u64,
}

/// The folded state: what the records up to some position say.
#[derive(Debug, Default, Clone)]
struct State {
    family: Option<FamilyId>,
    founded: Option<Stamp>,
    members: HashMap<IdentityId, Member>,
    albums: HashMap<AlbumId, Album>,
    grants: HashMap<(AlbumId, IdentityId, u32), Grant>,
    photos: HashMap<PhotoId, Photo>,
    blob_claims: HashMap<BlobId, BlobClaim>,
    /// Which photos' current versions reference a blob (as image or thumbnail).
    blob_refs: HashMap<BlobId, BTreeSet<PhotoId>>,
    family_meta: Option<FamilyMeta>,
    /// Family key grants, keyed by (member, epoch).
    family_grants: HashMap<(IdentityId, u32), Grant>,
    profiles: HashMap<IdentityId, Profile>,
}

#[derive(Debug, Clone)]
struct Entry {
    body: Body,
    outcome: Outcome,
}

/// One family's vault. See the module docs for the contract.
#[derive(Debug, Clone)]
pub struct Vault {
    records: BTreeMap<Stamp, Entry>,
    /// Body hash → stamp, to find a record's outcome from its bytes.
    by_hash: HashMap<([u8; 32], IdentityId), Stamp>,
    state: State,
    /// The family of the founding record, once one is kept.
    founding: Option<FamilyId>,
    /// The last record folded into `state`.
    folded_to: Option<Stamp>,
    max_ahead_ms: u64,
    now_ms: u64,
}

impl Default for Vault {
    fn default() -> Self {
        Self::new(p2pos_core::hlc::DEFAULT_MAX_DRIFT_MS)
    }
}

impl Vault {
    /// An empty vault that holds records stamped more than `max_ahead_ms` after its clock.
    pub fn new(max_ahead_ms: u64) -> Self {
        Self {
            records: BTreeMap::new(),
            by_hash: HashMap::new(),
            state: State::default(),
            founding: None,
            folded_to: None,
            max_ahead_ms,
            now_ms: 0,
        }
    }

    pub fn max_ahead_ms(&self) -> u64 {
        self.max_ahead_ms
    }

    pub fn family(&self) -> Option<&FamilyId> {
        self.state.family.as_ref()
    }

    /// Who signed the founding record (the first admin).
    pub fn founder(&self) -> Option<&IdentityId> {
        self.state.founded.as_ref().map(|stamp| &stamp.signer)
    }

    /// A current (not removed) member's role.
    pub fn role(&self, who: &IdentityId) -> Option<Role> {
        self.state.role(who)
    }

    pub fn members(&self) -> impl Iterator<Item = (&IdentityId, &Member)> {
        self.state.members.iter().filter(|(_, m)| !m.removed)
    }

    pub fn album(&self, id: &AlbumId) -> Option<&Album> {
        self.state.album(id)
    }

    pub fn albums(&self) -> impl Iterator<Item = (&AlbumId, &Album)> {
        self.state.albums.iter().filter(|(_, a)| !a.deleted)
    }

    /// Every photo of an album, live or deleted.
    pub fn photos_of<'a>(&'a self, album: &'a AlbumId) -> impl Iterator<Item = (&'a PhotoId, &'a Photo)> + 'a {
        self.state.photos.iter().filter(move |(_, p)| &p.album == album)
    }

    pub fn photos_in<'a>(&'a self, album: &'a AlbumId) -> impl Iterator<Item = (&'a PhotoId, &'a Photo)> + 'a {
        self.state.photos.iter().filter(move |(_, p)| !p.deleted && &p.album == album)
    }

    /// A live (not deleted) photo.
    pub fn live_photo(&self, id: &PhotoId) -> Option<&Photo> {
        self.state.photos.get(id).filter(|p| !p.deleted)
    }

    /// Every live (not deleted) photo of every album, in no particular order.
    pub fn photos(&self) -> impl Iterator<Item = (&PhotoId, &Photo)> {
        self.state.photos.iter().filter(|(_, p)| !p.deleted)
    }

    /// Every blob a photo references that is live, or in the trash and still restorable at
    /// `now_ms` (image and thumbnail), with the size its album's first photo gave: what each of
    /// the family's nodes should hold. A blob only expired photos reference is not wanted: once
    /// released it is never fetched again, unless a restore (in time) makes it live.
    pub fn referenced_blobs(&self, now_ms: u64) -> Vec<(BlobId, u64)> {
        self.referenced_blobs_from(now_ms, &from_stamp)
    }

    /// [`Vault::referenced_blobs`], counting each trash stay from `start`.
    pub fn referenced_blobs_from(&self, now_ms: u64, start: TrashStart<'_>) -> Vec<(BlobId, u64)> {
        let mut blobs: Vec<(BlobId, u64)> = self
            .state
            .blob_refs
            .iter()
            .filter(|(_, photos)| photos.iter().any(|p| self.state.keeps_photo(p, now_ms, start)))
            .filter_map(|(blob, _)| Some((*blob, self.state.blob_claims.get(blob)?.size)))
            .collect();
        blobs.sort_unstable();
        blobs
    }

    /// The blobs a node may release at `now_ms`: some photo references each, and every photo that
    /// does has been in the trash for [`TRASH_RETENTION_MS`] or longer (itself, or its album). A
    /// blob no photo references is never listed: it may be an upload whose record is on its way.
    pub fn releasable_blobs(&self, now_ms: u64) -> Vec<BlobId> {
        self.releasable_blobs_from(now_ms, &from_stamp)
    }

    /// [`Vault::releasable_blobs`], counting each trash stay from `start`.
    pub fn releasable_blobs_from(&self, now_ms: u64, start: TrashStart<'_>) -> Vec<BlobId> {
        let mut blobs: Vec<BlobId> = self
            .state
            .blob_refs
            .iter()
            .filter(|(_, photos)| {
                !photos.is_empty() && !photos.iter().any(|p| self.state.keeps_photo(p, now_ms, start))
            })
            .map(|(blob, _)| *blob)
            .collect();
        blobs.sort_unstable();
        blobs
    }

    /// Whether [`Vault::releasable_blobs_from`] lists `blob`.
    pub fn is_releasable_from(&self, blob: &BlobId, now_ms: u64, start: TrashStart<'_>) -> bool {
        self.state.blob_refs.get(blob).is_some_and(|photos| {
            !photos.is_empty() && !photos.iter().any(|p| self.state.keeps_photo(p, now_ms, start))
        })
    }

    /// When a photo went to the trash: its own deletion, or its album's, whichever came first.
    /// `None` while it is live.
    pub fn trashed_ms(&self, photo: &Photo) -> Option<u64> {
        self.state.trashed_ms(photo)
    }

    /// Deleted photos of live albums, still restorable at `now_ms`.
    pub fn trashed_photos(&self, now_ms: u64) -> impl Iterator<Item = (&PhotoId, &Photo)> {
        self.trashed_photos_from(now_ms, &from_stamp)
    }

    /// [`Vault::trashed_photos`], counting each trash stay from `start`.
    pub fn trashed_photos_from<'a>(
        &'a self,
        now_ms: u64,
        start: TrashStart<'a>,
    ) -> impl Iterator<Item = (&'a PhotoId, &'a Photo)> + 'a {
        self.state.photos.iter().filter(move |(id, p)| {
            self.state.album(&p.album).is_some()
                && p.deleted_ms.is_some_and(|since| {
                    now_ms < start(TrashSubject::Photo(id), since).saturating_add(TRASH_RETENTION_MS)
                })
        })
    }

    /// Deleted albums, still restorable at `now_ms`.
    pub fn trashed_albums(&self, now_ms: u64) -> impl Iterator<Item = (&AlbumId, &Album)> {
        self.trashed_albums_from(now_ms, &from_stamp)
    }

    /// [`Vault::trashed_albums`], counting each trash stay from `start`.
    pub fn trashed_albums_from<'a>(
        &'a self,
        now_ms: u64,
        start: TrashStart<'a>,
    ) -> impl Iterator<Item = (&'a AlbumId, &'a Album)> + 'a {
        self.state.albums.iter().filter(move |(id, a)| {
            a.deleted_ms
                .is_some_and(|since| now_ms < start(TrashSubject::Album(id), since).saturating_add(TRASH_RETENTION_MS))
        })
    }

    /// Everything in the trash (restorable or not), with its `deleted_ms`.
    pub fn trash_subjects(&self) -> impl Iterator<Item = (TrashSubject<'_>, u64)> {
        let photos = self.state.photos.iter().filter_map(|(id, p)| Some((TrashSubject::Photo(id), p.deleted_ms?)));
        let albums = self.state.albums.iter().filter_map(|(id, a)| Some((TrashSubject::Album(id), a.deleted_ms?)));
        albums.chain(photos)
    }

    /// How many photos of a deleted album come back when it is restored (those not deleted
    /// themselves).
    pub fn photos_of_trashed_album(&self, album: &AlbumId) -> usize {
        self.state.photos.values().filter(|p| &p.album == album && !p.deleted).count()
    }

    /// A photo's current write, live or deleted.
    pub fn photo(&self, id: &PhotoId) -> Option<&Photo> {
        self.state.photos.get(id)
    }

    /// An album's current write, live or deleted.
    pub fn album_any(&self, id: &AlbumId) -> Option<&Album> {
        self.state.albums.get(id)
    }

    /// The size a blob was first declared with, if a photo references it.
    pub fn blob_size(&self, blob: &BlobId) -> Option<u64> {
        self.state.blob_claims.get(blob).map(|c| c.size)
    }

    /// Whether `who` holds a valid key for `epoch` of `album` (an admin-signed, unrevoked grant).
    pub fn has_grant(&self, who: &IdentityId, album: &AlbumId, epoch: u32) -> bool {
        self.state.has_grant(who, album, epoch)
    }

    /// Every unrevoked grant of `album` to a current member: (member, epoch, armored key file).
    pub fn grants_of(&self, album: &AlbumId) -> Vec<(IdentityId, u32, String)> {
        let mut out: Vec<(IdentityId, u32, String)> = self
            .state
            .grants
            .iter()
            .filter(|((a, m, _), g)| a == album && !g.revoked && self.role(m).is_some())
            .map(|((_, m, epoch), g)| (*m, *epoch, g.key.clone()))
            .collect();
        out.sort_by_key(|(member, epoch, _)| (*member, *epoch));
        out
    }

    /// Every grant's current write, revoked ones and those of members removed since included:
    /// (album, member, epoch, grant).
    pub fn grants(&self) -> impl Iterator<Item = (&AlbumId, &IdentityId, u32, &Grant)> {
        self.state.grants.iter().map(|((album, member, epoch), grant)| (album, member, *epoch, grant))
    }

    /// The album keys granted to `who` (epoch, armored age file for `who`'s recipient).
    pub fn grant_keys(&self, who: &IdentityId, album: &AlbumId) -> Vec<(u32, String)> {
        let mut keys: Vec<(u32, String)> = self
            .state
            .grants
            .iter()
            .filter(|((a, m, _), g)| a == album && m == who && !g.revoked)
            .map(|((_, _, epoch), g)| (*epoch, g.key.clone()))
            .collect();
        keys.sort_by_key(|(epoch, _)| *epoch);
        keys
    }

    /// The family key's current epoch and the family's sealed name, once an admin wrote them.
    pub fn family_meta(&self) -> Option<&FamilyMeta> {
        self.state.family_meta.as_ref()
    }

    /// Whether `who` holds an unrevoked grant of the family key of `epoch`.
    pub fn has_family_grant(&self, who: &IdentityId, epoch: u32) -> bool {
        self.state.family_grants.get(&(*who, epoch)).is_some_and(|g| !g.revoked)
    }

    /// The family keys granted to `who` (epoch, armored age file for `who`'s recipient).
    pub fn family_keys(&self, who: &IdentityId) -> Vec<(u32, String)> {
        let mut keys: Vec<(u32, String)> = self
            .state
            .family_grants
            .iter()
            .filter(|((m, _), g)| m == who && !g.revoked)
            .map(|((_, epoch), g)| (*epoch, g.key.clone()))
            .collect();
        keys.sort_by_key(|(epoch, _)| *epoch);
        keys
    }

    /// A member's profile (removed members' too: their name still labels what they wrote).
    pub fn profile(&self, who: &IdentityId) -> Option<&Profile> {
        self.state.profiles.get(who)
    }

    /// Every profile's current write (removed members' too).
    pub fn profiles(&self) -> impl Iterator<Item = (&IdentityId, &Profile)> {
        self.state.profiles.iter()
    }

    /// Every family key grant's current write, revoked ones included: (member, epoch, grant).
    pub fn family_grants(&self) -> impl Iterator<Item = (&IdentityId, u32, &Grant)> {
        self.state.family_grants.iter().map(|((member, epoch), grant)| (member, *epoch, grant))
    }

    /// Whether `who` may see `album` at all: a current member with a grant for any epoch.
    pub fn can_open_album(&self, who: &IdentityId, album: &AlbumId) -> bool {
        self.state.can_open_album(who, album)
    }

    /// The read rule for blobs: the blob belongs to an album `who` may open, and a live photo of
    /// that album references it. A photo can only reference a blob of its own album, so a grant
    /// on one album never opens another's blobs.
    ///
    /// A deleted photo's blobs stay readable to the same members while the node still holds
    /// them: the trash shows its thumbnail, and restoring needs nothing else.
    pub fn may_read_blob(&self, who: &IdentityId, blob: &BlobId) -> bool {
        self.state
            .blob_refs
            .get(blob)
            .into_iter()
            .flatten()
            .any(|photo_id| self.state.photos.get(photo_id).is_some_and(|p| self.can_open_album(who, &p.album)))
    }

    /// The read rule for records: the family's and members' records go to every member; an
    /// album's records (the album, its grants, its photos) only to members who may open it.
    pub fn may_read_record(&self, who: &IdentityId, body: &Body) -> bool {
        if self.role(who).is_none() {
            return false;
        }
        match body {
            Body::Family { .. }
            | Body::Member { .. }
            | Body::FamilyMeta { .. }
            | Body::FamilyGrant { .. }
            | Body::Profile { .. } => true,
            Body::Album { album, .. } | Body::Grant { album, .. } | Body::Photo { album, .. } => {
                // A photo record names the album it was created in (an edit cannot move it).
                self.can_open_album(who, album)
            }
        }
    }

    /// Where a kept record stands, if it is kept.
    pub fn outcome(&self, record: &VerifiedRecord) -> Option<&Outcome> {
        let stamp = self.by_hash.get(&(body_hash(&record.body), record.signer))?;
        self.records.get(stamp).map(|e| &e.outcome)
    }

    /// How many records are kept (folded, refused and held).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the earliest held record comes due (local clock, ms), if any can.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.records
            .iter()
            .filter(|(_, e)| e.outcome == Outcome::Held)
            .map(|(s, _)| s.hlc.wall_ms.saturating_sub(self.max_ahead_ms))
            .min()
    }

    /// Moves the local clock; records that come due are folded. Returns whether any did.
    pub fn advance(&mut self, now_ms: u64) -> bool {
        self.now_ms = self.now_ms.max(now_ms);
        let horizon = self.horizon();
        let due: Vec<Stamp> = self
            .records
            .iter()
            .filter(|(s, e)| e.outcome == Outcome::Held && s.hlc.wall_ms <= horizon)
            .map(|(s, _)| *s)
            .collect();
        let Some(first) = due.first() else { return false };
        if self.folded_to.is_some_and(|last| *first < last) {
            self.refold();
        } else {
            self.fold_from(*first);
        }
        true
    }

    /// Keeps a record from replication (or the stored log), whatever its outcome, and folds it.
    /// Errors only for what can never belong to this vault (malformed, another family, a second
    /// founding record); nothing is kept then.
    pub fn insert(&mut self, record: &VerifiedRecord, now_ms: u64) -> Result<&Outcome, PolicyError> {
        self.advance(now_ms);
        let (stamp, body) = self.prepare(record)?;
        if !self.records.contains_key(&stamp) {
            self.keep(stamp, body);
        }
        Ok(&self.records[&stamp].outcome)
    }

    /// Keeps many records (a page from a peer, or the stored log) and folds once, however they
    /// are ordered: one refold at most, where inserting them one by one could refold per record.
    /// Returns, per record, what [`Vault::insert`] would.
    pub fn insert_many<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a VerifiedRecord>,
        now_ms: u64,
    ) -> Vec<Result<Outcome, PolicyError>> {
        self.advance(now_ms);
        let mut kept = Vec::new();
        let mut results = Vec::new();
        for record in records {
            match self.prepare(record) {
                Ok((stamp, body)) => {
                    if !self.records.contains_key(&stamp) {
                        if let Body::Family { family, .. } = &body {
                            self.founding = Some(family.clone());
                        }
                        self.by_hash.insert((stamp.body_hash, stamp.signer), stamp);
                        self.records.insert(stamp, Entry { body, outcome: Outcome::Held });
                        kept.push(stamp);
                    }
                    results.push(Ok(stamp));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let horizon = self.horizon();
        if let Some(first) = kept.iter().filter(|s| s.hlc.wall_ms <= horizon).min().copied() {
            if self.folded_to.is_some_and(|last| first < last) {
                self.refold();
            } else {
                self.fold_from(first);
            }
        }
        results.into_iter().map(|r| r.map(|stamp| self.records[&stamp].outcome.clone())).collect()
    }

    /// Judges a client's submission. It must be due, pass the rules where it stands in the fold,
    /// and pass them against the current state too (so a record stamped in the past cannot slip
    /// in before its signer's removal). Kept only if it passes.
    pub fn admit(&mut self, record: &VerifiedRecord, now_ms: u64) -> Result<Applied, PolicyError> {
        self.admit_from(record, now_ms, &from_stamp)
    }

    /// [`Vault::admit`], counting a restore's window from `start`: a node refuses a restore it
    /// receives once it may have released the blobs by its own count.
    pub fn admit_from(
        &mut self,
        record: &VerifiedRecord,
        now_ms: u64,
        start: TrashStart<'_>,
    ) -> Result<Applied, PolicyError> {
        self.advance(now_ms);
        let (stamp, body) = self.prepare(record)?;
        if let Some(existing) = self.records.get(&stamp) {
            return match &existing.outcome {
                Outcome::Refused(e) => Err(e.clone()),
                _ => Ok(self.applied(&stamp)),
            };
        }
        if !matches!(body, Body::Family { .. }) {
            self.state.apply(&stamp, &body, false)?;
        }
        // A restore sent after the retention (by this node's clock and count) would revive a
        // photo whose blobs this node may have released. The fold itself never refuses a restore
        // for its time: a delete can be stamped in the past, and the restore must still work.
        let trashed = match &body {
            Body::Photo { photo, deleted: false, .. } => {
                self.state.photos.get(photo).and_then(|p| Some(start(TrashSubject::Photo(photo), p.deleted_ms?)))
            }
            Body::Album { album, deleted: false, .. } => {
                self.state.albums.get(album).and_then(|a| Some(start(TrashSubject::Album(album), a.deleted_ms?)))
            }
            _ => None,
        };
        if trashed.is_some_and(|since| self.now_ms >= since.saturating_add(TRASH_RETENTION_MS)) {
            return Err(PolicyError::TrashExpired);
        }
        self.keep(stamp, body);
        match self.records[&stamp].outcome.clone() {
            Outcome::Applied => Ok(self.applied(&stamp)),
            Outcome::Held => Ok(Applied::Superseded),
            Outcome::Refused(e) => {
                // A refused record changed nothing in the fold, so dropping it needs no refold.
                if let Some(entry) = self.records.remove(&stamp)
                    && matches!(entry.body, Body::Family { .. })
                {
                    self.founding = None;
                }
                self.by_hash.remove(&(stamp.body_hash, stamp.signer));
                Err(e)
            }
        }
    }

    /// A digest of the folded state, equal on two vaults exactly when their states are equal.
    pub fn state_hash(&self) -> [u8; 32] {
        self.state.digest()
    }

    fn horizon(&self) -> u64 {
        self.now_ms.saturating_add(self.max_ahead_ms)
    }

    /// Parses and checks what never depends on the fold.
    fn prepare(&self, record: &VerifiedRecord) -> Result<(Stamp, Body), PolicyError> {
        let body: Body = record.parse().map_err(|e| PolicyError::Malformed(e.to_string()))?;
        if body.version() != BODY_VERSION {
            return Err(PolicyError::Malformed(format!("body version {} (expected {BODY_VERSION})", body.version())));
        }
        let stamp = Stamp { hlc: body.hlc(), signer: record.signer, body_hash: body_hash(&record.body) };
        if self.records.contains_key(&stamp) {
            return Ok((stamp, body));
        }
        // One family per vault, founded once: the first founding record kept is pinned, and no
        // other is ever kept. A node takes it only from `/v1/setup` (with the setup code) or from
        // the enrolled peer it joined. Letting the fold pick the earliest founding record instead
        // would let anyone who can pass a record on (an enrolled node) sign one stamped at time
        // zero with a fresh key and become the family's founder on every node.
        if let Some(family) = &self.founding {
            if body.family() != family {
                return Err(PolicyError::OtherFamily);
            }
            if matches!(body, Body::Family { .. }) {
                return Err(PolicyError::AlreadyFounded);
            }
        }
        Ok((stamp, body))
    }

    fn keep(&mut self, stamp: Stamp, body: Body) {
        if let Body::Family { family, .. } = &body {
            self.founding = Some(family.clone());
        }
        self.by_hash.insert((stamp.body_hash, stamp.signer), stamp);
        self.records.insert(stamp, Entry { body, outcome: Outcome::Held });
        if stamp.hlc.wall_ms > self.horizon() {
            return;
        }
        if self.folded_to.is_some_and(|last| stamp < last) {
            self.refold();
        } else {
            self.fold_from(stamp);
        }
    }

    /// Whether the record at `stamp` is its subject's current write.
    fn applied(&self, stamp: &Stamp) -> Applied {
        let Some(entry) = self.records.get(stamp) else { return Applied::Superseded };
        if self.state.current_stamp(&entry.body) == Some(*stamp) { Applied::Current } else { Applied::Superseded }
    }

    /// Folds every due record from `from` on into the current state (they all sort after it).
    fn fold_from(&mut self, from: Stamp) {
        let horizon = self.horizon();
        for (stamp, entry) in self.records.range_mut(from..) {
            if stamp.hlc.wall_ms > horizon {
                entry.outcome = Outcome::Held;
                continue;
            }
            entry.outcome = match self.state.apply(stamp, &entry.body, true) {
                Ok(()) => Outcome::Applied,
                Err(e) => Outcome::Refused(e),
            };
            self.folded_to = Some(*stamp);
        }
    }

    /// Folds everything again from the start: a record arrived before others already folded.
    fn refold(&mut self) {
        self.state = State::default();
        self.folded_to = None;
        if let Some(first) = self.records.keys().next().copied() {
            self.fold_from(first);
        }
    }
}

fn body_hash(body: &[u8]) -> [u8; 32] {
    *blake3::hash(body).as_bytes()
}

impl State {
    fn role(&self, who: &IdentityId) -> Option<Role> {
        self.members.get(who).filter(|m| !m.removed).map(|m| m.role)
    }

    fn album(&self, id: &AlbumId) -> Option<&Album> {
        self.albums.get(id).filter(|a| !a.deleted)
    }

    /// When a photo went to the trash: its own deletion or its album's, whichever came first.
    fn trashed_ms(&self, photo: &Photo) -> Option<u64> {
        let album = self.albums.get(&photo.album).and_then(|a| a.deleted_ms);
        match (photo.deleted_ms, album) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a node keeps this photo's blobs at `now_ms`: live, or in the trash (itself or
    /// its album, counted from `start`) for less than the retention.
    fn keeps_photo(&self, photo: &PhotoId, now_ms: u64, start: TrashStart<'_>) -> bool {
        let Some(p) = self.photos.get(photo) else { return false };
        let own = p.deleted_ms.map(|d| start(TrashSubject::Photo(photo), d));
        let album =
            self.albums.get(&p.album).and_then(|a| a.deleted_ms).map(|d| start(TrashSubject::Album(&p.album), d));
        let since = match (own, album) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        since.is_none_or(|since| now_ms < since.saturating_add(TRASH_RETENTION_MS))
    }

    fn has_grant(&self, who: &IdentityId, album: &AlbumId, epoch: u32) -> bool {
        self.grants.get(&(album.clone(), *who, epoch)).is_some_and(|g| !g.revoked)
    }

    fn can_open_album(&self, who: &IdentityId, album: &AlbumId) -> bool {
        self.role(who).is_some()
            && self.album(album).is_some()
            && self.grants.iter().any(|((a, m, _), g)| a == album && m == who && !g.revoked)
    }

    /// The stamp of the write that is current for this body's subject.
    fn current_stamp(&self, body: &Body) -> Option<Stamp> {
        match body {
            Body::Family { .. } => self.founded,
            Body::Member { member, .. } => self.members.get(member).map(|m| m.stamp),
            Body::Album { album, .. } => self.albums.get(album).map(|a| a.stamp),
            Body::Grant { album, member, epoch, .. } => {
                self.grants.get(&(album.clone(), *member, *epoch)).map(|g| g.stamp)
            }
            Body::Photo { photo, .. } => self.photos.get(photo).map(|p| p.stamp),
            Body::FamilyMeta { .. } => self.family_meta.as_ref().map(|f| f.stamp),
            Body::FamilyGrant { member, epoch, .. } => self.family_grants.get(&(*member, *epoch)).map(|g| g.stamp),
            Body::Profile { member, .. } => self.profiles.get(member).map(|p| p.stamp),
        }
    }

    /// Judges `body` against this state and, if it passes, applies it. A record later in fold
    /// order always supersedes an earlier write of the same subject.
    /// With `commit` false it only judges, and changes nothing.
    fn apply(&mut self, stamp: &Stamp, body: &Body, commit: bool) -> Result<(), PolicyError> {
        let signer = stamp.signer;
        if let Body::Family { family, .. } = body {
            if self.family.is_some() {
                return Err(PolicyError::AlreadyFounded);
            }
            if !commit {
                return Ok(());
            }
            self.family = Some(family.clone());
            self.founded = Some(*stamp);
            // The founder is the first admin; its recipient arrives with its own member record.
            let founder = Member { role: Role::Admin, recipient: String::new(), removed: false, stamp: *stamp };
            self.members.insert(signer, founder);
            return Ok(());
        }
        let family = self.family.as_ref().ok_or(PolicyError::NoFamily)?;
        if body.family() != family {
            return Err(PolicyError::OtherFamily);
        }
        let admin = match self.role(&signer).ok_or(PolicyError::NotMember)? {
            Role::Admin => true,
            Role::Member => false,
        };
        match body.clone() {
            Body::Family { .. } => Err(PolicyError::AlreadyFounded),
            Body::Member { member, role, recipient, removed, .. } => {
                if !admin {
                    return Err(PolicyError::NotAdmin("add, change or remove members"));
                }
                check_recipient(&recipient)?;
                let demotes_admin = self.role(&member) == Some(Role::Admin) && (removed || role != Role::Admin);
                let admins = self.members.values().filter(|m| !m.removed && m.role == Role::Admin).count();
                if demotes_admin && admins <= 1 {
                    return Err(PolicyError::LastAdmin);
                }
                if !commit {
                    return Ok(());
                }
                if removed && self.role(&member).is_some() {
                    // Every album they held a key to (deleted ones too: they can be restored) must
                    // get a new key before new photos.
                    let opened: Vec<AlbumId> = self
                        .grants
                        .iter()
                        .filter(|((_, m, _), g)| m == &member && !g.revoked)
                        .map(|((a, _, _), _)| a.clone())
                        .collect();
                    for album in opened {
                        if let Some(a) = self.albums.get_mut(&album) {
                            a.rotation_due = true;
                        }
                    }
                    // They can read the family key and everything sealed to it: new names wait
                    // for a new epoch.
                    if let Some(f) = self.family_meta.as_mut() {
                        f.rotation_due = true;
                    }
                }
                self.members.insert(member, Member { role, recipient, removed, stamp: *stamp });
                Ok(())
            }
            Body::Album { album, epoch, recipient, meta, deleted, .. } => {
                // Album keys reach members only through admin-signed grants, so admins create albums.
                if !admin {
                    return Err(PolicyError::NotAdmin("create or change albums"));
                }
                check_recipient(&recipient)?;
                check_meta(&meta)?;
                let (owner, rotation_due) = match self.albums.get(&album) {
                    None => (signer, false),
                    Some(a) if epoch < a.epoch => {
                        return Err(PolicyError::EpochBackwards { current: a.epoch, given: epoch });
                    }
                    Some(a) if epoch == a.epoch && recipient != a.recipient => {
                        return Err(PolicyError::RecipientWithoutNewEpoch);
                    }
                    // A new epoch needs a key never used by this album: an old one is in the hands
                    // of whoever held that epoch.
                    Some(a)
                        if epoch > a.epoch && (recipient == a.recipient || a.past_recipients.contains(&recipient)) =>
                    {
                        return Err(PolicyError::RecipientReused);
                    }
                    Some(a) => (a.owner, a.rotation_due && epoch == a.epoch),
                };
                let deleted_ms =
                    next_deleted_ms(self.albums.get(&album).and_then(|a| a.deleted_ms), deleted, stamp.hlc.wall_ms);
                let mut past_recipients =
                    self.albums.get(&album).map(|a| a.past_recipients.clone()).unwrap_or_default();
                if let Some(a) = self.albums.get(&album)
                    && epoch > a.epoch
                {
                    past_recipients.insert(a.recipient.clone());
                }
                if !commit {
                    return Ok(());
                }
                let entry = Album {
                    epoch,
                    recipient,
                    meta,
                    deleted,
                    deleted_ms,
                    owner,
                    rotation_due,
                    past_recipients,
                    stamp: *stamp,
                };
                self.albums.insert(album, entry);
                Ok(())
            }
            Body::Grant { album, member, epoch, key, revoked, .. } => {
                if !admin {
                    return Err(PolicyError::NotAdmin("grant album keys"));
                }
                let current = self.album(&album).ok_or_else(|| PolicyError::UnknownAlbum(album.clone()))?.epoch;
                if epoch > current {
                    return Err(PolicyError::FutureEpoch { current, given: epoch });
                }
                if self.role(&member).is_none() {
                    return Err(PolicyError::UnknownMember(member));
                }
                // A revocation carries no key.
                if !(revoked && key.is_empty()) {
                    check_meta(&key)?;
                }
                if !commit {
                    return Ok(());
                }
                if revoked
                    && self.has_grant(&member, &album, epoch)
                    && let Some(a) = self.albums.get_mut(&album)
                {
                    a.rotation_due = true;
                }
                self.grants.insert((album, member, epoch), Grant { key, revoked, stamp: *stamp });
                Ok(())
            }
            Body::Photo { photo, album, epoch, blob, size, thumb, thumb_size, meta, deleted, .. } => {
                check_meta(&meta)?;
                let a = self.album(&album).ok_or_else(|| PolicyError::UnknownAlbum(album.clone()))?;
                let (current, rotation_due, owner) = (a.epoch, a.rotation_due, a.owner);
                let blobs: Vec<(BlobId, u64)> = std::iter::once((blob, size)).chain(thumb.zip(thumb_size)).collect();
                if thumb.is_some() != thumb_size.is_some() {
                    return Err(PolicyError::Malformed("a thumbnail needs its size, and only then".into()));
                }
                let author = match self.photos.get(&photo) {
                    None => signer,
                    Some(p) => {
                        if p.album != album {
                            return Err(PolicyError::AlbumFixed);
                        }
                        let opens = self.can_open_album(&signer, &album);
                        let may_edit = admin || (opens && (signer == p.author || signer == owner));
                        if !may_edit {
                            return Err(PolicyError::NotAuthor);
                        }
                        p.author
                    }
                };
                let existing = self.photos.get(&photo);
                let deleted_ms = next_deleted_ms(existing.and_then(|p| p.deleted_ms), deleted, stamp.hlc.wall_ms);
                let same_content = existing.is_some_and(|p| {
                    p.epoch == epoch
                        && p.blob == blob
                        && p.thumb == thumb
                        && p.size == size
                        && p.thumb_size == thumb_size
                });
                if !same_content {
                    // New ciphertext: the current key, which only current holders have.
                    if !self.has_grant(&signer, &album, current) {
                        return Err(PolicyError::NoGrant { epoch: current });
                    }
                    if epoch != current {
                        return Err(PolicyError::WrongEpoch { current, given: epoch });
                    }
                    if rotation_due {
                        return Err(PolicyError::KeyNotRotated);
                    }
                    self.check_claims(&album, &blobs)?;
                } else if !deleted && !self.has_grant(&signer, &album, epoch) {
                    // New metadata is sealed to the photo's epoch: only holders of that key write it.
                    return Err(PolicyError::NoGrant { epoch });
                }
                // Passed: claim the blobs for this album, and move the photo's references.
                if !commit {
                    return Ok(());
                }
                for (b, s) in &blobs {
                    self.blob_claims.entry(*b).or_insert_with(|| BlobClaim { album: album.clone(), size: *s });
                }
                if let Some(old) = self.photos.get(&photo) {
                    for b in std::iter::once(old.blob).chain(old.thumb) {
                        if let Some(refs) = self.blob_refs.get_mut(&b) {
                            refs.remove(&photo);
                        }
                    }
                }
                for (b, _) in &blobs {
                    self.blob_refs.entry(*b).or_default().insert(photo.clone());
                }
                let entry = Photo {
                    album,
                    epoch,
                    blob,
                    size,
                    thumb,
                    thumb_size,
                    meta,
                    deleted,
                    deleted_ms,
                    author,
                    stamp: *stamp,
                };
                self.photos.insert(photo, entry);
                Ok(())
            }
            Body::FamilyMeta { epoch, recipient, meta, .. } => {
                self.apply_family_meta(stamp, admin, (epoch, recipient, meta), commit)
            }
            Body::FamilyGrant { member, epoch, key, revoked, .. } => {
                self.apply_family_grant(stamp, admin, (member, epoch, key, revoked), commit)
            }
            Body::Profile { member, epoch, meta, .. } => self.apply_profile(stamp, (member, epoch, meta), commit),
        }
    }

    /// The family key and name: admins only, with the album key's epoch rules.
    fn apply_family_meta(
        &mut self,
        stamp: &Stamp,
        admin: bool,
        (epoch, recipient, meta): (u32, String, String),
        commit: bool,
    ) -> Result<(), PolicyError> {
        if !admin {
            return Err(PolicyError::NotAdmin("name the family or change the family key"));
        }
        check_recipient(&recipient)?;
        check_meta(&meta)?;
        let mut past_recipients = BTreeSet::new();
        if let Some(f) = &self.family_meta {
            if epoch < f.epoch {
                return Err(PolicyError::EpochBackwards { current: f.epoch, given: epoch });
            }
            if epoch == f.epoch && recipient != f.recipient {
                return Err(PolicyError::RecipientWithoutNewEpoch);
            }
            if epoch > f.epoch && (recipient == f.recipient || f.past_recipients.contains(&recipient)) {
                return Err(PolicyError::RecipientReused);
            }
            // A removed member holds this epoch's key: a new name would be sealed to it.
            if epoch == f.epoch && f.rotation_due {
                return Err(PolicyError::FamilyKeyNotRotated);
            }
            past_recipients = f.past_recipients.clone();
            if epoch > f.epoch {
                past_recipients.insert(f.recipient.clone());
            }
        }
        if commit {
            self.family_meta =
                Some(FamilyMeta { epoch, recipient, meta, rotation_due: false, past_recipients, stamp: *stamp });
        }
        Ok(())
    }

    /// A grant of the family key: admins only, to a current member, for an epoch that exists.
    fn apply_family_grant(
        &mut self,
        stamp: &Stamp,
        admin: bool,
        (member, epoch, key, revoked): (IdentityId, u32, String, bool),
        commit: bool,
    ) -> Result<(), PolicyError> {
        if !admin {
            return Err(PolicyError::NotAdmin("grant the family key"));
        }
        let current = self.family_meta.as_ref().ok_or(PolicyError::NoFamilyKey)?.epoch;
        if epoch > current {
            return Err(PolicyError::FutureEpoch { current, given: epoch });
        }
        if self.role(&member).is_none() {
            return Err(PolicyError::UnknownMember(member));
        }
        if !(revoked && key.is_empty()) {
            check_meta(&key)?;
        }
        if !commit {
            return Ok(());
        }
        let held = self.family_grants.get(&(member, epoch)).is_some_and(|g| !g.revoked);
        if revoked
            && held
            && let Some(f) = self.family_meta.as_mut()
        {
            f.rotation_due = true;
        }
        self.family_grants.insert((member, epoch), Grant { key, revoked, stamp: *stamp });
        Ok(())
    }

    /// A profile: only its own member signs it, sealed to the family key's current epoch.
    fn apply_profile(
        &mut self,
        stamp: &Stamp,
        (member, epoch, meta): (IdentityId, u32, String),
        commit: bool,
    ) -> Result<(), PolicyError> {
        if member != stamp.signer {
            return Err(PolicyError::NotOwnProfile);
        }
        check_meta(&meta)?;
        let f = self.family_meta.as_ref().ok_or(PolicyError::NoFamilyKey)?;
        if epoch != f.epoch {
            return Err(PolicyError::WrongEpoch { current: f.epoch, given: epoch });
        }
        if f.rotation_due {
            return Err(PolicyError::FamilyKeyNotRotated);
        }
        if commit {
            self.profiles.insert(member, Profile { epoch, meta, stamp: *stamp });
        }
        Ok(())
    }

    /// A blob belongs to the album of the first photo that referenced it, with that photo's size.
    fn check_claims(&self, album: &AlbumId, blobs: &[(BlobId, u64)]) -> Result<(), PolicyError> {
        for (blob, size) in blobs {
            if let Some(claim) = self.blob_claims.get(blob) {
                if &claim.album != album {
                    return Err(PolicyError::BlobOfOtherAlbum(*blob));
                }
                if claim.size != *size {
                    return Err(PolicyError::SizeMismatch { blob: *blob, known: claim.size, given: *size });
                }
            }
        }
        Ok(())
    }

    /// A canonical digest: every map in sorted order.
    fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        let mut put = |s: String| {
            h.update(s.as_bytes());
            h.update(b"\n");
        };
        put(format!("family {:?}", self.family));
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let members = self.members.iter().map(|(id, m)| format!("m {id} {:?} {} {}", m.role, m.recipient, m.removed));
        let albums = self.albums.iter().map(|(id, a)| {
            format!(
                "a {id} {} {} {} {} {:?} {} {}",
                a.epoch, a.recipient, a.meta, a.deleted, a.deleted_ms, a.owner, a.rotation_due
            )
        });
        let grants = self.grants.iter().map(|((a, m, e), g)| format!("g {a} {m} {e} {} {}", g.key, g.revoked));
        let photos = self.photos.iter().map(|(id, p)| {
            format!(
                "p {id} {} {} {} {} {:?} {:?} {} {} {:?} {}",
                p.album, p.epoch, p.blob, p.size, p.thumb, p.thumb_size, p.meta, p.deleted, p.deleted_ms, p.author
            )
        });
        let claims = self.blob_claims.iter().map(|(b, c)| format!("b {b} {} {}", c.album, c.size));
        let family_meta =
            self.family_meta.iter().map(|f| format!("f {} {} {} {}", f.epoch, f.recipient, f.meta, f.rotation_due));
        let family_grants = self.family_grants.iter().map(|((m, e), g)| format!("fg {m} {e} {} {}", g.key, g.revoked));
        let profiles = self.profiles.iter().map(|(m, p)| format!("pr {m} {} {}", p.epoch, p.meta));
        let lines = members
            .chain(albums)
            .chain(grants)
            .chain(photos)
            .chain(claims)
            .chain(family_meta)
            .chain(family_grants)
            .chain(profiles);
        for line in sorted(lines.collect()) {
            put(line);
        }
        *h.finalize().as_bytes()
    }
}

/// The trash time after a write of `deleted` at `at_ms`, given the subject's trash time before it:
/// set by the first deleting write and kept by later ones (editing something in the trash does
/// not extend its stay), cleared by a restore. The fold accepts a restore whatever its stamp: a
/// delete may be stamped in the past (by a node trusted with time), and judging the restore by
/// the stamps would let it refuse every restore at once. Each node's API refuses restores it
/// receives late by its own count ([`Vault::admit_from`]), and a node releases blobs only by
/// that count.
fn next_deleted_ms(previous: Option<u64>, deleted: bool, at_ms: u64) -> Option<u64> {
    match (previous, deleted) {
        (Some(since), true) => Some(since),
        (None, true) => Some(at_ms),
        (_, false) => None,
    }
}

fn check_recipient(recipient: &str) -> Result<(), PolicyError> {
    let valid =
        recipient.starts_with("age1") && recipient.len() < 100 && recipient.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid { Ok(()) } else { Err(PolicyError::Malformed("recipient is not an age X25519 recipient".into())) }
}

fn check_meta(meta: &str) -> Result<(), PolicyError> {
    if meta.len() > MAX_META_BYTES {
        return Err(PolicyError::Malformed(format!("encrypted field over {MAX_META_BYTES} bytes")));
    }
    if !meta.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(PolicyError::Malformed("encrypted fields are armored age files".into()));
    }
    Ok(())
}
