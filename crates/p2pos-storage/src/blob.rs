//! The `BlobStore` contract: content-addressed, verified on the way in, never partially visible.

use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use p2pos_core::BlobId;
use tokio::io::AsyncRead;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("no blob {0}")]
    NotFound(BlobId),
    #[error("the blob is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the bytes hash to {actual}, not to the announced id {expected}")]
    HashMismatch { expected: BlobId, actual: BlobId },
    #[error("range {start}-{end} is outside a blob of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob is new and now durable.
    Stored { size: u64 },
    /// The store already had it; the upload verified and was discarded.
    AlreadyPresent { size: u64 },
}

impl PutOutcome {
    pub fn size(&self) -> u64 {
        match self {
            PutOutcome::Stored { size } | PutOutcome::AlreadyPresent { size } => *size,
        }
    }
}

/// A readable blob (or part of one).
pub struct BlobRead {
    /// The whole blob's size.
    pub size: u64,
    /// The byte range `reader` yields.
    pub range: Range<u64>,
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
}

impl Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead").field("size", &self.size).field("range", &self.range).finish_non_exhaustive()
    }
}

/// Checks a requested `start..end` against a blob's size (`end` exclusive, `None` = to the end).
pub fn resolve_range(start: u64, end: Option<u64>, size: u64) -> Result<Range<u64>, BlobError> {
    let end = end.unwrap_or(size);
    if start > end || end > size || (start == size && size > 0) {
        return Err(BlobError::RangeNotSatisfiable { start, end, size });
    }
    Ok(start..end)
}

/// Content-addressed blob storage. Every implementation passes [`crate::conformance`].
///
/// Rules: `put` keeps nothing unless the BLAKE3 of all bytes equals `id` and they fit `max_bytes`;
/// a blob is visible to `get`/`has`/`list` only once complete and durable; `delete` of a missing
/// blob is not an error.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    async fn put(
        &self,
        id: BlobId,
        data: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<PutOutcome, BlobError>;

    /// Reads `range` (`start..end`, `end` exclusive, `None` = whole blob).
    async fn get(&self, id: &BlobId, range: Option<(u64, Option<u64>)>) -> Result<BlobRead, BlobError>;

    /// The blob's size, if present.
    async fn has(&self, id: &BlobId) -> Result<Option<u64>, BlobError>;

    /// Removes a blob; returns whether it was there.
    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError>;

    /// Every complete blob with its size, in id order.
    async fn list(&self) -> Result<Vec<(BlobId, u64)>, BlobError>;
}
