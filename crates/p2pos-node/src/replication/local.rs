//! The store side of replication ([`Local`]): records from peers go through the vault's rules
//! into the log, blobs into the blob store, and what peers hold and how far this node has read
//! them into the database. Errors say whose trouble it is ([`LocalError`]'s kind).

use async_trait::async_trait;
use futures_util::TryStreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::{BlobEntry, LogEntry, TransportError};
use p2pos_replication::{Cursors, Local, LocalError};
use tokio_util::io::StreamReader;

use crate::clock::now_ms;
use crate::state::AppState;
use crate::store;

pub(crate) struct NodeLocal {
    pub(crate) state: AppState,
}

/// Our own storage failed: nothing the peer did.
fn storage(e: impl std::fmt::Display) -> LocalError {
    LocalError::Storage(e.to_string())
}

/// What the blob store said of a blob from a peer, as replication's error.
fn blob_error(e: p2pos_storage::BlobError) -> LocalError {
    use p2pos_storage::BlobError;
    match e {
        // The stream's own failure, carried through the reader as an I/O error.
        BlobError::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<TransportError>()) => {
            match io.into_inner().map(|inner| inner.downcast::<TransportError>()) {
                Some(Ok(transport)) => LocalError::Transfer(*transport),
                _ => LocalError::Storage("storage I/O failed".into()),
            }
        }
        e @ (BlobError::HashMismatch { .. } | BlobError::TooLarge { .. }) => LocalError::Refused(e.to_string()),
        e => storage(e),
    }
}

#[async_trait]
impl Local for NodeLocal {
    async fn apply_records(&self, from: NodeId, entries: &[LogEntry]) -> Result<usize, LocalError> {
        let records = entries.iter().map(LogEntry::record).collect();
        // Our own trouble (the database): the sync retries this page (records are deduplicated).
        let outcomes = crate::records::ingest(&self.state, records)
            .await
            .map_err(|e| LocalError::Storage(format!("storing records from {}: {e}", from.short())))?;
        // Kept either way: a refused record is judged again when what it needs arrives, a held
        // one when its time comes.
        let refused = outcomes.iter().filter(|o| matches!(o, family_vault::Outcome::Refused(_))).count();
        if refused > 0 {
            tracing::debug!(peer = %from.short(), refused, "kept records the rules refuse for now");
        }
        if !outcomes.is_empty() && self.state.vault().family().is_some() {
            self.state.forget_setup_code();
        }
        Ok(outcomes.len())
    }

    async fn peer_holds(&self, peer: NodeId, entries: &[BlobEntry]) -> Result<(), LocalError> {
        let ids: Vec<BlobId> = entries.iter().map(|e| e.id).collect();
        self.state.db(move |db| store::peers::add_holds(db, &peer, &ids)).await.map_err(storage)
    }

    async fn save_cursors(&self, peer: NodeId, cursors: Cursors) -> Result<(), LocalError> {
        self.state.db(move |db| store::peers::save_cursors(db, &peer, cursors)).await.map_err(storage)
    }

    async fn wanted(&self) -> Result<Vec<(BlobId, u64, bool)>, LocalError> {
        crate::release::wanted(&self.state, now_ms()).await.map_err(storage)
    }

    async fn store_blob(&self, id: BlobId, _declared: u64, body: p2pos_net::ByteStream) -> Result<(), LocalError> {
        let stream = body.map_err(std::io::Error::other);
        let mut reader = StreamReader::new(stream);
        // A record's declared size is not trusted as the cap: a lying record must not stop a blob
        // from replicating. The blob's id (its BLAKE3) is what proves the bytes.
        let cap = self.state.inner.config.max_upload_bytes;
        // The file and its presence row as one step for the release job (`release.rs`).
        let _held = self.state.inner.blob_locks.lock(id).await;
        let outcome = self.state.inner.blobs.put(id, &mut reader, cap).await.map_err(blob_error)?;
        let now = now_ms();
        let size = outcome.size();
        self.state.db(move |db| store::blobs::record_presence(db, id, size, now)).await.map_err(storage)
    }
}
