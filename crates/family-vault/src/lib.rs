//! The family vault: families, members (admin/member), albums, photos and album-key grants, as
//! signed records (DESIGN.md §3), and the rules for who may write and read what.
//!
//! Pure logic over [`p2pos_core`] types: the node stores records and blobs, this crate decides.
//! Substrate crates never import it.

pub mod model;
pub mod vault;

pub use model::{AlbumId, Body, FamilyId, ObjectId, PhotoId, Role};
pub use vault::{
    Applied, Outcome, PolicyError, Stamp, TRASH_RETENTION_MS, TrashStart, TrashSubject, Vault, from_stamp,
};
