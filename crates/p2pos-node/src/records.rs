//! The record log in SQLite, and `POST/GET /v1/records`.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use family_vault::{Applied, Body};
use p2pos_core::{SignedRecord, VerifiedRecord};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::auth::Session;
use crate::error::{ApiJson, ApiQuery};
use crate::{ApiError, AppState};

/// Every stored record in log order.
pub(crate) fn all(db: &Connection) -> rusqlite::Result<Vec<(i64, SignedRecord)>> {
    since(db, 0, i64::MAX)
}

pub(crate) fn since(db: &Connection, after: i64, limit: i64) -> rusqlite::Result<Vec<(i64, SignedRecord)>> {
    let mut stmt =
        db.prepare_cached("SELECT seq, signer, body, sig FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit], |r| {
        let body: Vec<u8> = r.get(2)?;
        let sig: Vec<u8> = r.get(3)?;
        Ok((r.get(0)?, SignedRecord { body: B64.encode(body), signer: r.get(1)?, sig: B64.encode(sig) }))
    })?;
    rows.collect()
}

/// Appends a verified record (idempotent by content); returns its sequence number.
fn append(db: &mut Connection, record: &VerifiedRecord, sig: &[u8], body: &Body, now_ms: u64) -> rusqlite::Result<i64> {
    let tx = db.transaction()?;
    let seq = append_in(&tx, record, sig, body, now_ms)?;
    tx.commit()?;
    Ok(seq)
}

/// [`append`] inside the caller's transaction.
pub(crate) fn append_in(
    tx: &Connection,
    record: &VerifiedRecord,
    sig: &[u8],
    body: &Body,
    now_ms: u64,
) -> rusqlite::Result<i64> {
    let record_id = blake3::Hasher::new().update(&record.body).update(sig).finalize();
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
            hlc.wall_ms as i64,
            hlc.counter,
            record.body,
            sig,
            now_ms as i64
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    seq: i64,
    current: bool,
}

/// Verifies, checks the vault's rules, then stores. A refused record changes nothing.
pub(crate) async fn accept(state: &AppState, record: SignedRecord) -> Result<Accepted, ApiError> {
    let result = accept_inner(state, record).await;
    let counter =
        if result.is_ok() { &state.inner.metrics.records_accepted } else { &state.inner.metrics.records_refused };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    result
}

async fn accept_inner(state: &AppState, record: SignedRecord) -> Result<Accepted, ApiError> {
    let verified = record.verify().map_err(|e| ApiError::BadRequest(format!("record refused: {e}")))?;
    let body: Body = verified.parse().map_err(|e| ApiError::BadRequest(format!("not a vault record: {e}")))?;
    let sig = B64.decode(&record.sig).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let applied = {
        let mut vault = state.vault_mut();
        vault.apply(&verified).map_err(|e| ApiError::Forbidden(format!("record refused: {e}")))?
    };
    let now = now_ms();
    match state.db(move |db| append(db, &verified, &sig, &body, now)).await {
        Ok(seq) => Ok(Accepted { seq, current: applied == Applied::Current }),
        Err(e) => {
            // The vault already changed but the log did not: rebuild the vault from the log.
            state.reload_vault().await?;
            Err(e)
        }
    }
}

/// Submits a signed record (signed by the signed-in identity); the vault's rules decide.
#[utoipa::path(post, path = "/v1/records", tag = "records", request_body = crate::openapi::SignedRecordSchema,
    responses((status = 200, body = Accepted), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn post(
    State(state): State<AppState>,
    session: Session,
    ApiJson(record): ApiJson<SignedRecord>,
) -> Result<Json<Accepted>, ApiError> {
    if record.signer != session.identity.to_string() {
        return Err(ApiError::Forbidden("sign in as the record's signer to submit it".into()));
    }
    let accepted = accept(&state, record).await?;
    // Replication re-reads what the vault wants (a new photo's blobs, for the peers to fetch).
    state.records_changed();
    Ok(Json(accepted))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinceQuery {
    /// Return records after this sequence number (0: from the start).
    #[serde(default)]
    since: i64,
    /// At most this many (1–10,000; default 1,000).
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    1000
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LogEntry {
    seq: i64,
    #[schema(value_type = crate::openapi::SignedRecordSchema)]
    record: SignedRecord,
}

/// The family's records after `since`, for members: clients fold them into their own view.
#[utoipa::path(get, path = "/v1/records", tag = "records", params(SinceQuery),
    responses((status = 200, body = Vec<LogEntry>), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(q): ApiQuery<SinceQuery>,
) -> Result<Json<Vec<LogEntry>>, ApiError> {
    session.require_member(&state)?;
    let limit = q.limit.clamp(1, 10_000);
    let rows = state.db(move |db| since(db, q.since, limit)).await?;
    Ok(Json(rows.into_iter().map(|(seq, record)| LogEntry { seq, record }).collect()))
}
