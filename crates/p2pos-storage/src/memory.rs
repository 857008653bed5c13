//! A `BlobStore` in memory, for tests and ephemeral nodes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use p2pos_core::BlobId;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::blob::{BlobError, BlobRead, BlobStore, PutOutcome, resolve_range};

#[derive(Debug, Default, Clone)]
pub struct MemoryBlobStore {
    blobs: Arc<Mutex<BTreeMap<BlobId, Arc<Vec<u8>>>>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn blobs(&self) -> MutexGuard<'_, BTreeMap<BlobId, Arc<Vec<u8>>>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts).
        self.blobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(
        &self,
        id: BlobId,
        data: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<PutOutcome, BlobError> {
        let mut bytes = Vec::new();
        let read = data.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).await?;
        if read as u64 > max_bytes {
            return Err(BlobError::TooLarge { limit: max_bytes });
        }
        let actual = BlobId::of(&bytes);
        if actual != id {
            return Err(BlobError::HashMismatch { expected: id, actual });
        }
        let size = bytes.len() as u64;
        let mut blobs = self.blobs();
        if blobs.contains_key(&id) {
            return Ok(PutOutcome::AlreadyPresent { size });
        }
        blobs.insert(id, Arc::new(bytes));
        Ok(PutOutcome::Stored { size })
    }

    async fn get(&self, id: &BlobId, range: Option<(u64, Option<u64>)>) -> Result<BlobRead, BlobError> {
        let bytes = self.blobs().get(id).cloned().ok_or(BlobError::NotFound(*id))?;
        let size = bytes.len() as u64;
        let (start, end) = range.unwrap_or((0, None));
        let range = resolve_range(start, end, size)?;
        let slice = bytes[range.start as usize..range.end as usize].to_vec();
        Ok(BlobRead { size, range, reader: Box::new(std::io::Cursor::new(slice)) })
    }

    async fn has(&self, id: &BlobId) -> Result<Option<u64>, BlobError> {
        Ok(self.blobs().get(id).map(|b| b.len() as u64))
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        Ok(self.blobs().remove(id).is_some())
    }

    async fn list(&self) -> Result<Vec<(BlobId, u64)>, BlobError> {
        Ok(self.blobs().iter().map(|(id, b)| (*id, b.len() as u64)).collect())
    }
}
