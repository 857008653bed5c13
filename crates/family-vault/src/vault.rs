//! The current state of one family's vault, folded from verified records, and its rules.
//!
//! [`Vault::apply`] takes records in the order a node accepted them (replication preserves it) and
//! either applies, ignores (an older write of the same subject: last writer wins by
//! `(hlc, signer)`), or refuses a record with the rule it breaks. Refused records are never stored.

use std::collections::HashMap;

use p2pos_core::{BlobId, Hlc, IdentityId, VerifiedRecord};

use crate::model::{AlbumId, BODY_VERSION, Body, FamilyId, MAX_META_BYTES, PhotoId, Role};

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
    #[error("photos are encrypted to the album's current epoch {current}, not {given}")]
    WrongEpoch { current: u32, given: u32 },
    #[error("the last admin cannot be removed or demoted")]
    LastAdmin,
}

/// What `apply` did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It is now the current state of its subject.
    Current,
    /// A newer write of the same subject is already known; kept in the log, changes nothing.
    Superseded,
}

/// Last-writer-wins order: hybrid logical clock, then signer.
pub type Stamp = (Hlc, IdentityId);

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
    stamp: Stamp,
}

/// One family's vault.
#[derive(Debug, Default, Clone)]
pub struct Vault {
    family: Option<FamilyId>,
    members: HashMap<IdentityId, Member>,
    albums: HashMap<AlbumId, Album>,
    grants: HashMap<(AlbumId, IdentityId, u32), Grant>,
    photos: HashMap<PhotoId, Photo>,
    /// Which photos reference a blob (as image or thumbnail), for read checks.
    blob_refs: HashMap<BlobId, Vec<PhotoId>>,
}

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn family(&self) -> Option<&FamilyId> {
        self.family.as_ref()
    }

    /// A current (not removed) member's role.
    pub fn role(&self, who: &IdentityId) -> Option<Role> {
        self.members.get(who).filter(|m| !m.removed).map(|m| m.role)
    }

    pub fn members(&self) -> impl Iterator<Item = (&IdentityId, &Member)> {
        self.members.iter().filter(|(_, m)| !m.removed)
    }

    pub fn album(&self, id: &AlbumId) -> Option<&Album> {
        self.albums.get(id).filter(|a| !a.deleted)
    }

    pub fn albums(&self) -> impl Iterator<Item = (&AlbumId, &Album)> {
        self.albums.iter().filter(|(_, a)| !a.deleted)
    }

    pub fn photos_in<'a>(&'a self, album: &'a AlbumId) -> impl Iterator<Item = (&'a PhotoId, &'a Photo)> + 'a {
        self.photos.iter().filter(move |(_, p)| !p.deleted && &p.album == album)
    }

    /// Every blob a live photo references (image and thumbnail) with its size: what each of the
    /// family's nodes should hold. Photos in deleted albums count too (an album can be restored).
    pub fn referenced_blobs(&self) -> Vec<(BlobId, u64)> {
        let mut blobs: Vec<(BlobId, u64)> = self
            .photos
            .values()
            .filter(|p| !p.deleted)
            .flat_map(|p| std::iter::once((p.blob, p.size)).chain(p.thumb.zip(p.thumb_size)))
            .collect();
        blobs.sort_unstable();
        blobs.dedup_by_key(|(id, _)| *id);
        blobs
    }

    /// Whether `who` holds a valid key for `epoch` of `album` (an admin-signed, unrevoked grant).
    pub fn has_grant(&self, who: &IdentityId, album: &AlbumId, epoch: u32) -> bool {
        self.grants.get(&(album.clone(), *who, epoch)).is_some_and(|g| !g.revoked)
    }

    /// Every unrevoked grant of `album`: (member, epoch, armored key file), in a stable order.
    pub fn grants_of(&self, album: &AlbumId) -> Vec<(IdentityId, u32, String)> {
        let mut out: Vec<(IdentityId, u32, String)> = self
            .grants
            .iter()
            .filter(|((a, m, _), g)| a == album && !g.revoked && self.role(m).is_some())
            .map(|((_, m, epoch), g)| (*m, *epoch, g.key.clone()))
            .collect();
        out.sort_by_key(|(member, epoch, _)| (*member, *epoch));
        out
    }

    /// The album keys granted to `who` (epoch, armored age file for `who`'s recipient).
    pub fn grant_keys(&self, who: &IdentityId, album: &AlbumId) -> Vec<(u32, String)> {
        let mut keys: Vec<(u32, String)> = self
            .grants
            .iter()
            .filter(|((a, m, _), g)| a == album && m == who && !g.revoked)
            .map(|((_, _, epoch), g)| (*epoch, g.key.clone()))
            .collect();
        keys.sort_by_key(|(epoch, _)| *epoch);
        keys
    }

    /// Whether `who` may see `album` at all: a current member with a grant for any epoch.
    pub fn can_open_album(&self, who: &IdentityId, album: &AlbumId) -> bool {
        self.role(who).is_some()
            && self.album(album).is_some()
            && self.grants.iter().any(|((a, m, _), g)| a == album && m == who && !g.revoked)
    }

    /// The read rule for blobs: a current member, and the blob belongs to a live photo of an album
    /// the member has a grant for.
    pub fn may_read_blob(&self, who: &IdentityId, blob: &BlobId) -> bool {
        self.blob_refs
            .get(blob)
            .into_iter()
            .flatten()
            .any(|photo_id| self.photos.get(photo_id).is_some_and(|p| !p.deleted && self.can_open_album(who, &p.album)))
    }

    /// Applies a verified record, enforcing the family's rules.
    pub fn apply(&mut self, record: &VerifiedRecord) -> Result<Applied, PolicyError> {
        let body: Body = record.parse().map_err(|e| PolicyError::Malformed(e.to_string()))?;
        if body.version() != BODY_VERSION {
            return Err(PolicyError::Malformed(format!("body version {} (expected {BODY_VERSION})", body.version())));
        }
        let signer = record.signer;
        let stamp = (body.hlc(), signer);
        if let Body::Family { family, .. } = &body {
            if self.family.is_some() {
                return Err(PolicyError::AlreadyFounded);
            }
            self.family = Some(family.clone());
            // The founder is the first admin; its recipient arrives with its own member record.
            self.members.insert(signer, Member { role: Role::Admin, recipient: String::new(), removed: false, stamp });
            return Ok(Applied::Current);
        }
        let family = self.family.as_ref().ok_or(PolicyError::NoFamily)?;
        if body.family() != family {
            return Err(PolicyError::OtherFamily);
        }
        let role = self.role(&signer).ok_or(PolicyError::NotMember)?;
        let admin = role == Role::Admin;
        match body {
            Body::Family { .. } => Err(PolicyError::AlreadyFounded),
            Body::Member { member, role: new_role, recipient, removed, .. } => {
                if !admin {
                    return Err(PolicyError::NotAdmin("add, change or remove members"));
                }
                check_recipient(&recipient)?;
                let demotes_admin = self.role(&member) == Some(Role::Admin) && (removed || new_role != Role::Admin);
                let admins = self.members().filter(|(_, m)| m.role == Role::Admin).count();
                if demotes_admin && admins <= 1 {
                    return Err(PolicyError::LastAdmin);
                }
                Ok(lww(&mut self.members, member, Member { role: new_role, recipient, removed, stamp }, |m| m.stamp))
            }
            Body::Album { album, epoch, recipient, meta, deleted, .. } => {
                // Album keys reach members only through admin-signed grants, so admins create albums.
                if !admin {
                    return Err(PolicyError::NotAdmin("create or change albums"));
                }
                check_recipient(&recipient)?;
                check_meta(&meta)?;
                Ok(lww(&mut self.albums, album, Album { epoch, recipient, meta, deleted, stamp }, |a| a.stamp))
            }
            Body::Grant { album, member, epoch, key, revoked, .. } => {
                if !admin {
                    return Err(PolicyError::NotAdmin("grant album keys"));
                }
                if self.album(&album).is_none() {
                    return Err(PolicyError::UnknownAlbum(album));
                }
                if self.role(&member).is_none() {
                    return Err(PolicyError::UnknownMember(member));
                }
                // A revocation carries no key.
                if !(revoked && key.is_empty()) {
                    check_meta(&key)?;
                }
                Ok(lww(&mut self.grants, (album, member, epoch), Grant { key, revoked, stamp }, |g| g.stamp))
            }
            Body::Photo { photo, album, epoch, blob, size, thumb, thumb_size, meta, deleted, .. } => {
                let current = self.album(&album).ok_or_else(|| PolicyError::UnknownAlbum(album.clone()))?.epoch;
                if !self.has_grant(&signer, &album, epoch) {
                    return Err(PolicyError::NoGrant { epoch });
                }
                let existing = self.photos.contains_key(&photo);
                if !existing && epoch != current {
                    return Err(PolicyError::WrongEpoch { current, given: epoch });
                }
                check_meta(&meta)?;
                let entry = Photo { album, epoch, blob, size, thumb, thumb_size, meta, deleted, stamp };
                let applied = lww(&mut self.photos, photo.clone(), entry, |p| p.stamp);
                if applied == Applied::Current {
                    for b in std::iter::once(blob).chain(thumb) {
                        let refs = self.blob_refs.entry(b).or_default();
                        if !refs.contains(&photo) {
                            refs.push(photo.clone());
                        }
                    }
                }
                Ok(applied)
            }
        }
    }
}

/// Stores `value` under `key` unless a newer write is there.
fn lww<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V, stamp: impl Fn(&V) -> Stamp) -> Applied {
    match map.get(&key) {
        Some(existing) if stamp(existing) >= stamp(&value) => Applied::Superseded,
        _ => {
            map.insert(key, value);
            Applied::Current
        }
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
