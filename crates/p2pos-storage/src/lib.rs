//! P2POS storage: where a node keeps ciphertext blobs and metadata. Knows nothing of albums.
//!
//! - [`BlobStore`]: content-addressed blobs, verified by BLAKE3 on the way in, with a filesystem
//!   ([`FsBlobStore`]) and a memory ([`MemoryBlobStore`]) implementation that pass one
//!   [`conformance`] suite.
//! - [`db`]: the SQLite database (WAL, foreign keys, numbered migrations) for the record log, blob
//!   presence and sessions.
//!
//! Crash and deletion rules: `DESIGN.md` beside this crate.

pub mod blob;
pub mod conformance;
pub mod db;
pub mod fs;
pub mod memory;

pub use blob::{BlobError, BlobRead, BlobStore, PutOutcome};
pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
