//! Login sessions: only a hash of each token is stored, with its identity, origin and lifetime.

use rusqlite::{Connection, OptionalExtension, params};

/// A stored session.
pub(crate) struct SessionRow {
    pub(crate) identity: String,
    pub(crate) origin: String,
    pub(crate) created_ms: u64,
    pub(crate) expires_ms: u64,
}

/// Stores a new session (and drops the expired ones).
pub(crate) fn create(
    db: &Connection,
    token_hash: &[u8],
    identity: &str,
    origin: &str,
    now_ms: u64,
    expires_ms: u64,
) -> rusqlite::Result<()> {
    db.execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now_ms as i64])?;
    db.execute(
        "INSERT INTO sessions (token_hash, identity, origin, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, identity, origin, now_ms as i64, expires_ms as i64],
    )?;
    Ok(())
}

/// The session whose token hashes to `token_hash`, expired or not.
pub(crate) fn find(db: &Connection, token_hash: &[u8]) -> rusqlite::Result<Option<SessionRow>> {
    db.query_row(
        "SELECT identity, origin, created_ms, expires_ms FROM sessions WHERE token_hash = ?1",
        [token_hash],
        |r| {
            Ok(SessionRow {
                identity: r.get(0)?,
                origin: r.get(1)?,
                created_ms: r.get::<_, i64>(2)? as u64,
                expires_ms: r.get::<_, i64>(3)? as u64,
            })
        },
    )
    .optional()
}

/// Ends the session whose token hashes to `token_hash`.
pub(crate) fn delete(db: &Connection, token_hash: &[u8]) -> rusqlite::Result<()> {
    db.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}
