//! The blobs this node holds (id and size; the bytes are in the blob store) and the blob log
//! peers read to learn what it holds.

use std::collections::HashSet;

use p2pos_core::BlobId;
use rusqlite::{Connection, OptionalExtension, params};

/// Notes that this node holds `id` (once the blob store has it durably): the presence row and
/// the blob log entry, in one transaction.
pub(crate) fn record_presence(db: &mut Connection, id: BlobId, size: u64, now_ms: u64) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    record_presence_in(&tx, id, size, now_ms)?;
    tx.commit()
}

/// [`record_presence`] inside the caller's transaction.
pub(crate) fn record_presence_in(tx: &Connection, id: BlobId, size: u64, now_ms: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO blobs (id, size, added_ms) VALUES (?1, ?2, ?3)",
        params![id.as_bytes().as_slice(), size as i64, now_ms as i64],
    )?;
    tx.execute("INSERT OR IGNORE INTO blob_log (id) VALUES (?1)", [id.as_bytes().as_slice()])?;
    Ok(())
}

/// The size of a blob this node holds.
pub(crate) fn size_of(db: &Connection, id: &BlobId) -> rusqlite::Result<Option<u64>> {
    let size: Option<i64> =
        db.query_row("SELECT size FROM blobs WHERE id = ?1", [id.as_bytes().as_slice()], |r| r.get(0)).optional()?;
    Ok(size.map(|s| s as u64))
}

/// The ids of every blob this node holds.
pub(crate) fn held(db: &Connection) -> rusqlite::Result<HashSet<[u8; 32]>> {
    let mut stmt = db.prepare_cached("SELECT id FROM blobs")?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(rows.filter_map(|r| r.ok().and_then(|b| <[u8; 32]>::try_from(b).ok())).collect())
}

/// Which of `ids` this node holds (one indexed lookup each: for a page of photos).
pub(crate) fn held_among(db: &Connection, ids: &[BlobId]) -> rusqlite::Result<HashSet<[u8; 32]>> {
    let mut stmt = db.prepare_cached("SELECT 1 FROM blobs WHERE id = ?1")?;
    let mut held = HashSet::new();
    for id in ids {
        if stmt.exists([id.as_bytes().as_slice()])? {
            held.insert(*id.as_bytes());
        }
    }
    Ok(held)
}

/// How many blobs this node holds, and their bytes.
pub(crate) fn totals(db: &Connection) -> rusqlite::Result<(u64, u64)> {
    let (count, bytes): (i64, i64) =
        db.query_row("SELECT count(*), coalesce(sum(size), 0) FROM blobs", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((count as u64, bytes as u64))
}

/// An entry of the blob log: its sequence number, the blob and its size.
pub(crate) struct LogEntry {
    pub(crate) seq: u64,
    pub(crate) id: BlobId,
    pub(crate) size: u64,
}

/// At most `limit` entries of the blob log after `after`, in log order.
pub(crate) fn log_since(db: &Connection, after: u64, limit: i64) -> rusqlite::Result<Vec<LogEntry>> {
    let mut stmt = db.prepare_cached(
        "SELECT l.seq, l.id, b.size FROM blob_log l JOIN blobs b ON b.id = l.id
         WHERE l.seq > ?1 ORDER BY l.seq LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after as i64, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(seq, id, size)| {
            let id = BlobId::from_bytes(<[u8; 32]>::try_from(id).ok()?);
            Some(LogEntry { seq: seq as u64, id, size: size as u64 })
        })
        .collect())
}

/// The last sequence number of the blob log (0 when empty).
pub(crate) fn log_head(db: &Connection) -> rusqlite::Result<u64> {
    let head: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM blob_log", [], |r| r.get(0))?;
    Ok(head as u64)
}
