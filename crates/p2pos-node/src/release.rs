//! Releasing the blobs of photos whose 30 days in the trash are over (`docs/ARCHITECTURE.md`,
//! "Organising and the trash"). What to release is the vault's answer at a given time
//! ([`family_vault::Vault::releasable_blobs_from`]), with each trash stay counted by this node's
//! [`TrashClock`]: from the later of the vault's `deleted_ms` and when this node first stored the
//! deletion. A delete stamped in the past (by a node trusted with time) therefore never makes a
//! node release at once: each keeps the blobs 30 days after it learnt of the delete, and a
//! restore in that time brings the photo back everywhere. This module applies the answer:
//!
//! 1. With the vault locked (so no record is judged meanwhile), pick the releasable blobs this
//!    node holds and delete their presence rows and blob-log entries in one transaction. From
//!    then on the node neither serves them to peers nor counts them as held.
//! 2. Delete the files, each holding its blob's lock (which storing a blob holds from writing
//!    the file to writing its presence row, for uploads and fetches from peers), and only if the
//!    blob still has no presence row and is still releasable: between the steps a restore may
//!    have come in and the blob been stored again, and its file must stay.
//!
//! A crash between the two leaves files no row names: harmless, and the next run deletes them
//! (the blob is still releasable). The other order could leave a row for a missing file, which
//! would stop the node from ever fetching the blob again after a restore. A blob restored in time
//! is never picked: the vault keeps every blob a live or still-restorable photo references, and
//! this node's API refuses restores once its own count is over.

use std::collections::HashMap;

use family_vault::{Body, TrashSubject, Vault};
use p2pos_core::BlobId;
use rusqlite::{Connection, params};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;

/// The key of a trash subject in `trash_seen`.
fn subject_key(subject: TrashSubject<'_>) -> String {
    match subject {
        TrashSubject::Photo(id) => format!("photo:{id}"),
        TrashSubject::Album(id) => format!("album:{id}"),
    }
}

/// This node's count of trash stays: a subject's 30 days start at the later of the vault's
/// `deleted_ms` and when this node first stored the deletion (`trash_seen`). A deletion not noted
/// yet counts from `unnoted_ms` (the caller's now): later, never earlier.
pub(crate) struct TrashClock {
    seen: HashMap<(String, u64), u64>,
    unnoted_ms: u64,
}

impl TrashClock {
    /// The notes of every subject (or of `subject` only).
    pub(crate) fn load(db: &Connection, now_ms: u64, subject: Option<TrashSubject<'_>>) -> rusqlite::Result<Self> {
        let seen = store::trash::seen(db, subject.map(subject_key).as_deref())?;
        Ok(Self { seen, unnoted_ms: now_ms })
    }

    /// Counting from the deletions' stamps only (a database without notes).
    pub(crate) fn from_stamps() -> Self {
        Self { seen: HashMap::new(), unnoted_ms: 0 }
    }

    /// When the subject's 30 days start on this node.
    pub(crate) fn start(&self, subject: TrashSubject<'_>, deleted_ms: u64) -> u64 {
        let seen = self.seen.get(&(subject_key(subject), deleted_ms)).copied().unwrap_or(self.unnoted_ms);
        deleted_ms.max(seen)
    }
}

/// The trash subject a record writes, if it writes one.
pub(crate) fn subject_of(body: &Body) -> Option<TrashSubject<'_>> {
    match body {
        Body::Photo { photo, .. } => Some(TrashSubject::Photo(photo)),
        Body::Album { album, .. } => Some(TrashSubject::Album(album)),
        _ => None,
    }
}

/// Notes that this node stored, at `now_ms`, the deletions the vault now has for these subjects
/// (those written by records it just stored). Run under the write lock, after the records are
/// in the log; the release job notes any it missed (a crash in between) when it first looks,
/// which only counts them from later.
pub(crate) fn note_deletions<'a>(
    vault: &Vault,
    db: &Connection,
    subjects: impl IntoIterator<Item = TrashSubject<'a>>,
    now_ms: u64,
) -> rusqlite::Result<()> {
    let deleted: Vec<(String, u64)> = subjects
        .into_iter()
        .filter_map(|subject| {
            let deleted_ms = match subject {
                TrashSubject::Photo(id) => vault.photo(id)?.deleted_ms?,
                TrashSubject::Album(id) => vault.album_any(id)?.deleted_ms?,
            };
            Some((subject_key(subject), deleted_ms))
        })
        .collect();
    store::trash::note(db, &deleted, now_ms)
}

/// What replication should hold at `now_ms`: every blob a live or still-restorable photo
/// references, its size, and whether this node holds it. A released blob is not in it, so it is
/// never fetched again; a restore in time puts it back, so it is fetched from a peer.
pub async fn wanted(state: &AppState, now_ms: u64) -> Result<Vec<(BlobId, u64, bool)>, ApiError> {
    let (clock, held) = state.db(move |db| Ok((TrashClock::load(db, now_ms, None)?, store::blobs::held(db)?))).await?;
    let referenced = state.vault().referenced_blobs_from(now_ms, &|s, d| clock.start(s, d));
    Ok(referenced.into_iter().map(|(id, size)| (id, size, held.contains(id.as_bytes()))).collect())
}

/// How often the node looks for blobs to release.
pub(crate) const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Releases what the vault says may go at `now_ms`, by this node's count; returns the blobs
/// released.
pub async fn release_expired(state: &AppState, now_ms: u64) -> Result<Vec<BlobId>, ApiError> {
    release_expired_with(state, now_ms, async {}).await
}

/// [`release_expired`], awaiting `between` after the rows are gone and before the files go (for
/// tests of what may happen meanwhile).
#[doc(hidden)]
pub async fn release_expired_with(
    state: &AppState,
    now_ms: u64,
    between: impl Future<Output = ()>,
) -> Result<Vec<BlobId>, ApiError> {
    // By the stamps alone: a superset of what this node may release (its count starts no
    // earlier), so nothing there means nothing to do.
    if state.vault().releasable_blobs(now_ms).is_empty() {
        return Ok(Vec::new());
    }
    let unlisted = state
        .write(move |vault, db| {
            // Deletions not noted yet (a crash after their records were stored) count from now.
            let current: Vec<(String, u64)> = vault.trash_subjects().map(|(s, d)| (subject_key(s), d)).collect();
            store::trash::note(db, &current, now_ms)?;
            store::trash::keep_only(db, &current)?;
            let clock = TrashClock::load(db, now_ms, None)?;
            let releasable = vault.releasable_blobs_from(now_ms, &|s, d| clock.start(s, d));
            let held = store::blobs::held(db)?;
            let tx = db.transaction()?;
            let mut unlisted = Vec::new();
            for id in releasable {
                let key = id.as_bytes().as_slice();
                let was_held = held.contains(id.as_bytes());
                tx.execute("DELETE FROM blob_log WHERE id = ?1", params![key])?;
                tx.execute("DELETE FROM blobs WHERE id = ?1", params![key])?;
                // A file without a row (a crash between the steps last time) goes too.
                unlisted.push((id, was_held));
            }
            tx.commit()?;
            Ok(unlisted)
        })
        .await?;
    between.await;
    let mut released = Vec::new();
    for (id, was_held) in unlisted {
        let _held = state.inner.blob_locks.lock(id).await;
        let still = state
            .write(move |vault, db| {
                let clock = TrashClock::load(db, now_ms, None)?;
                Ok(store::blobs::size_of(db, &id)?.is_none()
                    && vault.is_releasable_from(&id, now_ms, &|s, d| clock.start(s, d)))
            })
            .await?;
        if !still {
            tracing::info!(blob = %id, "a released blob was restored and stored again meanwhile; kept");
            continue;
        }
        match state.inner.blobs.delete(&id).await {
            Ok(true) => released.push(id),
            Ok(false) if was_held => released.push(id),
            Ok(false) => {}
            Err(e) => tracing::warn!(blob = %id, error = %e, "could not delete a released blob's file; retried later"),
        }
    }
    if !released.is_empty() {
        tracing::info!(count = released.len(), "released the blobs of photos 30 days in the trash");
    }
    Ok(released)
}
