//! Releasing the blobs of photos whose 30 days in the trash are over (`docs/ARCHITECTURE.md`,
//! "Trash"). What to release is the vault's answer at a given time
//! ([`family_vault::Vault::releasable_blobs`]); this module only applies it to the store:
//!
//! 1. With the vault locked (so no record is judged meanwhile), pick the releasable blobs this
//!    node holds and delete their presence rows and blob-log entries in one transaction. From
//!    then on the node neither serves them to peers nor counts them as held.
//! 2. Delete the files.
//!
//! A crash between the two leaves files no row names: harmless, and the next run deletes them
//! (the blob is still releasable). The other order could leave a row for a missing file, which
//! would stop the node from ever fetching the blob again after a restore. A blob restored in time
//! is never picked: the vault keeps every blob a live or still-restorable photo references, and
//! refuses restores after the 30 days.

use p2pos_core::BlobId;
use rusqlite::params;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;

/// What replication should hold at `now_ms`: every blob a live or still-restorable photo
/// references, its size, and whether this node holds it. A released blob is not in it, so it is
/// never fetched again; a restore in time puts it back, so it is fetched from a peer.
pub async fn wanted(state: &AppState, now_ms: u64) -> Result<Vec<(BlobId, u64, bool)>, ApiError> {
    let referenced = state.vault().referenced_blobs(now_ms);
    let held = state.db(|db| store::blobs::held(db)).await?;
    Ok(referenced.into_iter().map(|(id, size)| (id, size, held.contains(id.as_bytes()))).collect())
}

/// How often the node looks for blobs to release.
pub(crate) const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Releases what the vault says may go at `now_ms`; returns the blobs released.
pub async fn release_expired(state: &AppState, now_ms: u64) -> Result<Vec<BlobId>, ApiError> {
    let candidates = state.vault().releasable_blobs(now_ms);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let unlisted = state
        .write(move |vault, db| {
            // Judged again under the lock: a restore may have come in since.
            let releasable: std::collections::BTreeSet<BlobId> = vault.releasable_blobs(now_ms).into_iter().collect();
            let held = store::blobs::held(db)?;
            let tx = db.transaction()?;
            let mut unlisted = Vec::new();
            for id in candidates.into_iter().filter(|id| releasable.contains(id)) {
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
    let mut released = Vec::new();
    for (id, was_held) in unlisted {
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
