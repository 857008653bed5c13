//! When this node first stored each deletion (`trash_seen`): node-local, so the folded vault
//! stays the same on every node while each counts the 30 days from its own first sight.

use std::collections::HashMap;

use rusqlite::{Connection, params};

/// Notes, for each `(subject, deleted_ms)` not yet noted, that this node has it since `now_ms`.
pub(crate) fn note(db: &Connection, subjects: &[(String, u64)], now_ms: u64) -> rusqlite::Result<()> {
    let mut stmt =
        db.prepare_cached("INSERT OR IGNORE INTO trash_seen (subject, deleted_ms, seen_ms) VALUES (?1, ?2, ?3)")?;
    for (subject, deleted_ms) in subjects {
        stmt.execute(params![subject, *deleted_ms as i64, now_ms as i64])?;
    }
    Ok(())
}

/// Every noted deletion (of `subject` only, if given): `(subject, deleted_ms) → seen_ms`.
pub(crate) fn seen(db: &Connection, subject: Option<&str>) -> rusqlite::Result<HashMap<(String, u64), u64>> {
    let mut stmt =
        db.prepare_cached("SELECT subject, deleted_ms, seen_ms FROM trash_seen WHERE ?1 IS NULL OR subject = ?1")?;
    let rows = stmt.query_map([subject], |r| {
        Ok(((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64), r.get::<_, i64>(2)? as u64))
    })?;
    rows.collect()
}

/// Forgets the notes of deletions that are no longer current (restored, or deleted again).
pub(crate) fn keep_only(db: &Connection, current: &[(String, u64)]) -> rusqlite::Result<()> {
    let noted = seen(db, None)?;
    let current: std::collections::HashSet<&(String, u64)> = current.iter().collect();
    let mut stmt = db.prepare_cached("DELETE FROM trash_seen WHERE subject = ?1 AND deleted_ms = ?2")?;
    for (subject, deleted_ms) in noted.keys().filter(|k| !current.contains(k)) {
        stmt.execute(params![subject, *deleted_ms as i64])?;
    }
    Ok(())
}
