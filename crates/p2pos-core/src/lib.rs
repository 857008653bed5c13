//! The P2POS substrate's vocabulary: who someone is, what they signed, what a blob is called, how
//! content is encrypted, and how concurrent edits are ordered.
//!
//! Pure data and crypto: no I/O beyond `Read`/`Write` streams handed in, no async runtime, no clock
//! reads. The byte formats are specified in `docs/FORMATS.md` and pinned by `testvectors/`, which the
//! TypeScript client runs too.

pub mod agefile;
pub mod blob;
pub mod chat;
pub mod drop;
pub mod hlc;
pub mod id;
pub mod identity;
pub mod record;

pub use age;
pub use blob::{BlobId, BlobIdError};
pub use hlc::{Hlc, HlcClock};
pub use id::{IdError, IdentityId, NodeId};
pub use identity::{Identity, IdentityError};
pub use record::{RecordError, RecordId, SignedRecord, VerifiedRecord};
