//! The node's data layer: every SQL statement of the node, one module per aggregate, over the
//! SQLite database that `p2pos_storage::db` opens and migrates (numbered migrations live there).
//!
//! Each function takes the connection (or a transaction, which derefs to one) and speaks in the
//! node's types; handlers call these and never write SQL. A function that must be atomic opens
//! its own transaction, unless its name ends in `_in` (then it runs in the caller's).
//!
//! ```ignore
//! let head = state.db(|db| store::records::head(db)).await?;
//! ```

pub(crate) mod blobs;
pub(crate) mod enroll_tokens;
pub(crate) mod peers;
pub(crate) mod records;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod trash;
