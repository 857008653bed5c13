//! The record log: signed records in arrival order, each with a local sequence number (`seq`),
//! unique by content (its record id).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use family_vault::Body;
use p2pos_core::{RecordId, SignedRecord, VerifiedRecord};
use rusqlite::{Connection, OptionalExtension, params};

/// A verified record ready for the log: the record, its parsed body and its signature bytes.
pub(crate) struct NewRecord<'a> {
    pub(crate) record: &'a VerifiedRecord,
    pub(crate) body: &'a Body,
    pub(crate) sig: &'a [u8],
}

/// Every stored record in log order.
pub(crate) fn all(db: &Connection) -> rusqlite::Result<Vec<(i64, SignedRecord)>> {
    since(db, 0, i64::MAX)
}

/// A row of `SELECT seq, signer, body, sig FROM records`.
fn log_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, SignedRecord)> {
    let body: Vec<u8> = r.get(2)?;
    let sig: Vec<u8> = r.get(3)?;
    Ok((r.get(0)?, SignedRecord { body: B64.encode(body), signer: r.get(1)?, sig: B64.encode(sig) }))
}

/// At most `limit` records after `after`, in log order.
pub(crate) fn since(db: &Connection, after: i64, limit: i64) -> rusqlite::Result<Vec<(i64, SignedRecord)>> {
    let mut stmt =
        db.prepare_cached("SELECT seq, signer, body, sig FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit], log_row)?;
    rows.collect()
}

/// Like [`since`], without the photo records (a client folding the family's keys and members
/// needs none of them). Read through the partial index `records_besides_photos`, so a large vault's
/// photos are not stepped over.
pub(crate) fn since_besides_photos(
    db: &Connection,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<(i64, SignedRecord)>> {
    // The kind is written out: SQLite uses a partial index only for a query whose WHERE implies
    // the index's own, which a bound parameter cannot.
    let mut stmt = db.prepare_cached(
        "SELECT seq, signer, body, sig FROM records INDEXED BY records_besides_photos \
         WHERE seq > ?1 AND kind != 'photo' ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], log_row)?;
    rows.collect()
}

/// The last sequence number (0 for an empty log).
pub(crate) fn head(db: &Connection) -> rusqlite::Result<u64> {
    let head: i64 = db.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| r.get(0))?;
    Ok(head as u64)
}

/// How many records the log holds.
pub(crate) fn count(db: &Connection) -> rusqlite::Result<u64> {
    let n: i64 = db.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// Whether the log holds the record with this id.
pub(crate) fn contains(db: &Connection, record_id: &RecordId) -> rusqlite::Result<bool> {
    Ok(db
        .query_row("SELECT 1 FROM records WHERE record_id = ?1", [record_id.as_bytes().as_slice()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Appends a record (idempotent by content); returns its sequence number.
pub(crate) fn append(db: &mut Connection, new: &NewRecord<'_>, now_ms: u64) -> rusqlite::Result<i64> {
    let tx = db.transaction()?;
    let seq = append_in(&tx, new, now_ms)?;
    tx.commit()?;
    Ok(seq)
}

/// Appends `records` in order, in one transaction: all or none.
pub(crate) fn append_all(db: &mut Connection, records: &[NewRecord<'_>], now_ms: u64) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    for new in records {
        append_in(&tx, new, now_ms)?;
    }
    tx.commit()
}

/// [`append`] inside the caller's transaction.
pub(crate) fn append_in(tx: &Connection, new: &NewRecord<'_>, now_ms: u64) -> rusqlite::Result<i64> {
    let NewRecord { record, body, sig } = new;
    let record_id = RecordId::of(&record.body, sig);
    let (kind, subject) = body.subject();
    let hlc = body.hlc();
    let existing: Option<i64> = tx
        .query_row("SELECT seq FROM records WHERE record_id = ?1", [record_id.as_bytes().as_slice()], |r| r.get(0))
        .optional()?;
    if let Some(seq) = existing {
        return Ok(seq);
    }
    tx.execute(
        "INSERT INTO records (record_id, signer, kind, subject, hlc_wall, hlc_counter, body, sig, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            record_id.as_bytes().as_slice(),
            record.signer.to_string(),
            kind,
            subject,
            // SQLite integers are signed: a stamp past i64::MAX (held for good) is stored clamped.
            i64::try_from(hlc.wall_ms).unwrap_or(i64::MAX),
            hlc.counter,
            record.body,
            sig,
            now_ms as i64
        ],
    )?;
    Ok(tx.last_insert_rowid())
}
