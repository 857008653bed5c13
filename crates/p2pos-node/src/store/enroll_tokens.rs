//! One-time enrolment tokens this node issued: only a key derived from each secret is stored,
//! with its expiry and, once used, when and by which node.

use rusqlite::{Connection, params};

/// A stored token: the MAC key derived from its secret, its expiry, and when it was used.
pub(crate) struct TokenRow {
    pub(crate) key: Vec<u8>,
    pub(crate) expires_ms: u64,
    pub(crate) used_ms: Option<u64>,
}

pub(crate) fn insert(db: &Connection, key: &[u8; 32], now_ms: u64, expires_ms: u64) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO enroll_tokens (secret_hash, created_ms, expires_ms) VALUES (?1, ?2, ?3)",
        params![key.as_slice(), now_ms as i64, expires_ms as i64],
    )?;
    Ok(())
}

/// Every token issued, used or not.
pub(crate) fn all(db: &Connection) -> rusqlite::Result<Vec<TokenRow>> {
    let mut stmt = db.prepare("SELECT secret_hash, expires_ms, used_ms FROM enroll_tokens")?;
    let rows = stmt.query_map([], |r| {
        Ok(TokenRow {
            key: r.get(0)?,
            expires_ms: r.get::<_, i64>(1)? as u64,
            used_ms: r.get::<_, Option<i64>>(2)?.map(|t| t as u64),
        })
    })?;
    rows.collect()
}

/// Burns the token with MAC key `key`: used now by node `by`.
pub(crate) fn mark_used(db: &Connection, key: &[u8], now_ms: u64, by: &str) -> rusqlite::Result<()> {
    db.execute(
        "UPDATE enroll_tokens SET used_ms = ?2, used_by = ?3 WHERE secret_hash = ?1",
        params![key, now_ms as i64, by],
    )?;
    Ok(())
}

/// Makes the token burnt by node `by` usable again (its answer never reached it).
pub(crate) fn give_back(db: &Connection, by: &str) -> rusqlite::Result<()> {
    db.execute("UPDATE enroll_tokens SET used_ms = NULL, used_by = NULL WHERE used_by = ?1", [by])?;
    Ok(())
}
