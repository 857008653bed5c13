//! The vault's record bodies. Each is the JSON inside a [`p2pos_core::SignedRecord`].
//!
//! Titles, captions, file names and dates never appear in clear: `meta` fields are armored age
//! files encrypted to the album's recipient, opaque to nodes. Nodes see ids, sizes and relations.

use std::fmt;
use std::str::FromStr;

use p2pos_core::{BlobId, Hlc, IdentityId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Body format version; bodies with another version are refused.
pub const BODY_VERSION: u32 = 1;
/// Largest encrypted `meta` field, in bytes.
pub const MAX_META_BYTES: usize = 8 * 1024;

/// A random id chosen by the client: 26 lowercase base32 characters (130 bits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an object id is 26 characters of a-z and 2-7")]
pub struct ObjectIdError;

impl FromStr for ObjectId {
    type Err = ObjectIdError;
    fn from_str(s: &str) -> Result<Self, ObjectIdError> {
        let valid = s.len() == 26 && s.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        if valid { Ok(Self(s.to_string())) } else { Err(ObjectIdError) }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0)
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

pub type FamilyId = ObjectId;
pub type AlbumId = ObjectId;
pub type PhotoId = ObjectId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

/// Every record body. `family` ties it to one family; `hlc` orders concurrent edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// Founds a family; its signer is the first admin. Exactly one per family.
    Family { v: u32, family: FamilyId, hlc: Hlc },
    /// Adds, changes or removes a member (admins only).
    Member { v: u32, family: FamilyId, hlc: Hlc, member: IdentityId, role: Role, recipient: String, removed: bool },
    /// Creates or updates an album: its current key `epoch` and that epoch's age `recipient`.
    Album {
        v: u32,
        family: FamilyId,
        hlc: Hlc,
        album: AlbumId,
        epoch: u32,
        recipient: String,
        meta: String,
        deleted: bool,
    },
    /// Gives `member` the album key of `epoch`: `key` is the album's age identity, as an armored
    /// age file encrypted to the member's recipient (empty when `revoked`). Valid only when signed
    /// by an admin.
    Grant {
        v: u32,
        family: FamilyId,
        hlc: Hlc,
        album: AlbumId,
        member: IdentityId,
        epoch: u32,
        key: String,
        revoked: bool,
    },
    /// A photo: its ciphertext blob (and thumbnail's), encrypted to the album's `epoch` recipient.
    Photo {
        v: u32,
        family: FamilyId,
        hlc: Hlc,
        photo: PhotoId,
        album: AlbumId,
        epoch: u32,
        blob: BlobId,
        size: u64,
        thumb: Option<BlobId>,
        thumb_size: Option<u64>,
        meta: String,
        deleted: bool,
    },
    /// The family key and name (admins only): the family key's current `epoch`, that epoch's age
    /// `recipient`, and `meta`, the family's name as an armored age file for that recipient. Every
    /// member gets the family key through [`Body::FamilyGrant`]; removing a member starts a new
    /// epoch before anyone writes a name again.
    FamilyMeta { v: u32, family: FamilyId, hlc: Hlc, epoch: u32, recipient: String, meta: String },
    /// Gives `member` the family key of `epoch` (the age identity, as an armored age file for the
    /// member's recipient; empty when `revoked`). Valid only when signed by an admin.
    FamilyGrant { v: u32, family: FamilyId, hlc: Hlc, member: IdentityId, epoch: u32, key: String, revoked: bool },
    /// A member's display name (and optional avatar): `meta`, an armored age file for the family
    /// key of `epoch`. Signed by that member and nobody else: an admin cannot name anyone.
    Profile { v: u32, family: FamilyId, hlc: Hlc, member: IdentityId, epoch: u32, meta: String },
}

impl Body {
    pub fn family(&self) -> &FamilyId {
        match self {
            Body::Family { family, .. }
            | Body::Member { family, .. }
            | Body::Album { family, .. }
            | Body::Grant { family, .. }
            | Body::Photo { family, .. }
            | Body::FamilyMeta { family, .. }
            | Body::FamilyGrant { family, .. }
            | Body::Profile { family, .. } => family,
        }
    }

    pub fn hlc(&self) -> Hlc {
        match self {
            Body::Family { hlc, .. }
            | Body::Member { hlc, .. }
            | Body::Album { hlc, .. }
            | Body::Grant { hlc, .. }
            | Body::Photo { hlc, .. }
            | Body::FamilyMeta { hlc, .. }
            | Body::FamilyGrant { hlc, .. }
            | Body::Profile { hlc, .. } => *hlc,
        }
    }

    pub fn version(&self) -> u32 {
        match self {
            Body::Family { v, .. }
            | Body::Member { v, .. }
            | Body::Album { v, .. }
            | Body::Grant { v, .. }
            | Body::Photo { v, .. }
            | Body::FamilyMeta { v, .. }
            | Body::FamilyGrant { v, .. }
            | Body::Profile { v, .. } => *v,
        }
    }

    /// What the record is about, for last-writer-wins: `(kind, subject)`.
    pub fn subject(&self) -> (&'static str, String) {
        match self {
            Body::Family { family, .. } => ("family", family.to_string()),
            Body::Member { member, .. } => ("member", member.to_string()),
            Body::Album { album, .. } => ("album", album.to_string()),
            Body::Grant { album, member, epoch, .. } => ("grant", format!("{album}/{member}/{epoch}")),
            Body::Photo { photo, .. } => ("photo", photo.to_string()),
            Body::FamilyMeta { family, .. } => ("family_meta", family.to_string()),
            Body::FamilyGrant { member, epoch, .. } => ("family_grant", format!("{member}/{epoch}")),
            Body::Profile { member, .. } => ("profile", member.to_string()),
        }
    }
}
