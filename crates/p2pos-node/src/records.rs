//! The record log in SQLite, and `POST/GET /v1/records`.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use family_vault::{Applied, Body, Outcome, Vault};
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
    let record_id = record_id(&record.body, sig);
    let (kind, subject) = body.subject();
    let hlc = body.hlc();
    let existing: Option<i64> = tx
        .query_row("SELECT seq FROM records WHERE record_id = ?1", [record_id.as_slice()], |r| r.get(0))
        .optional()?;
    if let Some(seq) = existing {
        return Ok(seq);
    }
    tx.execute(
        "INSERT INTO records (record_id, signer, kind, subject, hlc_wall, hlc_counter, body, sig, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            record_id.as_slice(),
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

/// A record's id in the log: BLAKE3 of its body bytes, then its signature bytes.
fn record_id(body: &[u8], sig: &[u8]) -> [u8; 32] {
    *blake3::Hasher::new().update(body).update(sig).finalize().as_bytes()
}

/// Rebuilds the vault from the log, after a write that changed the vault but not the log.
fn rebuild(state: &AppState, vault: &mut Vault, db: &Connection) {
    match crate::state::load_vault(db, state.inner.config.max_record_ahead.as_millis() as u64) {
        Ok(fresh) => *vault = fresh,
        Err(e) => tracing::error!(error = %e, "could not rebuild the vault from the log"),
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    seq: i64,
    current: bool,
}

/// A client's record: verified, within the clock window, true to the sizes of the blobs this
/// node holds, and passing the vault's rules where it stands and now. A refused record changes
/// nothing and is not kept.
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
    let now = now_ms();
    check_clock(&state.inner.config, body.hlc().wall_ms, now)?;
    let for_log = state.clone();
    state
        .write(move |vault, db| {
            check_sizes(db, &body)?;
            let applied = vault.admit(&verified, now)?;
            match append(db, &verified, &sig, &body, now) {
                Ok(seq) => Ok(Accepted { seq, current: applied == Applied::Current }),
                Err(e) => {
                    rebuild(&for_log, vault, db);
                    Err(e.into())
                }
            }
        })
        .await
}

/// A client signs records as it sends them: one stamped far from this node's clock is refused
/// (ahead: it would win last-writer-wins; behind: it could slip before a removal).
fn check_clock(config: &crate::NodeConfig, wall_ms: u64, now: u64) -> Result<(), ApiError> {
    let (ahead, behind) = (config.max_record_ahead.as_millis() as u64, config.max_record_behind.as_millis() as u64);
    if wall_ms > now.saturating_add(ahead) {
        return Err(ApiError::ClockAhead { ahead_ms: wall_ms - now, max_ms: ahead });
    }
    if wall_ms < now.saturating_sub(behind) {
        return Err(ApiError::ClockBehind { behind_ms: now - wall_ms, max_ms: behind });
    }
    Ok(())
}

/// A photo's declared sizes must be those of the blobs, where this node holds them.
fn check_sizes(db: &Connection, body: &Body) -> Result<(), ApiError> {
    let Body::Photo { blob, size, thumb, thumb_size, .. } = body else { return Ok(()) };
    for (id, given) in std::iter::once((*blob, *size)).chain(thumb.zip(*thumb_size)) {
        let known: Option<i64> = db
            .query_row("SELECT size FROM blobs WHERE id = ?1", [id.as_bytes().as_slice()], |r| r.get(0))
            .optional()?;
        if let Some(known) = known.map(|k| k as u64)
            && known != given
        {
            return Err(family_vault::PolicyError::SizeMismatch { blob: id, known, given }.into());
        }
    }
    Ok(())
}

/// A page of records from an enrolled peer: each kept whatever its outcome here (nodes replicate
/// everything; the fold judges it, now and whenever what it depends on changes), folded once, and
/// appended in one transaction. Returns how many were new here and what the rules say of each.
pub(crate) async fn ingest(state: &AppState, records: Vec<SignedRecord>) -> Result<Vec<Outcome>, ApiError> {
    let refused =
        |state: &AppState| state.inner.metrics.records_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut checked = Vec::new();
    for record in records {
        let parsed = record.verify().map_err(|e| e.to_string()).and_then(|v| {
            let body = v.parse::<Body>().map_err(|e| e.to_string())?;
            let sig = B64.decode(&record.sig).map_err(|e| e.to_string())?;
            Ok((v, body, sig))
        });
        match parsed {
            Ok(c) => checked.push(c),
            Err(e) => {
                tracing::warn!(error = %e, "a peer sent a record that does not verify; skipped");
                refused(state);
            }
        }
    }
    let now = now_ms();
    let for_log = state.clone();
    state
        .write(move |vault, db| {
            let mut fresh = Vec::new();
            for (verified, body, sig) in checked {
                let id = record_id(&verified.body, &sig);
                let known = db
                    .query_row("SELECT 1 FROM records WHERE record_id = ?1", [id.as_slice()], |_| Ok(()))
                    .optional()?
                    .is_some();
                if !known
                    && !fresh.iter().any(|(v, _, s): &(VerifiedRecord, Body, Vec<u8>)| record_id(&v.body, s) == id)
                {
                    fresh.push((verified, body, sig));
                }
            }
            let results = vault.insert_many(fresh.iter().map(|(v, _, _)| v), now);
            let tx = db.transaction()?;
            let mut outcomes = Vec::new();
            for ((verified, body, sig), result) in fresh.iter().zip(results) {
                match result {
                    Ok(outcome) => {
                        if let Err(e) = append_in(&tx, verified, sig, body, now) {
                            drop(tx);
                            rebuild(&for_log, vault, db);
                            return Err(e.into());
                        }
                        outcomes.push(outcome);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a peer sent a record of no use to this vault; skipped");
                        refused(&for_log);
                    }
                }
            }
            if let Err(e) = tx.commit() {
                rebuild(&for_log, vault, db);
                return Err(e.into());
            }
            Ok(outcomes)
        })
        .await
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
    session.require_member(&state)?;
    if record.signer != session.identity.to_string() {
        return Err(ApiError::Forbidden("sign in as the record's signer to submit it".into()));
    }
    if record.verify().ok().and_then(|v| v.parse::<Body>().ok()).is_some_and(|b| matches!(b, Body::Family { .. })) {
        return Err(ApiError::Forbidden(
            "a family is founded only through /v1/setup, with the node's setup code".into(),
        ));
    }
    let accepted = accept(&state, record).await?;
    // Replication re-reads what the vault wants (a new photo's blobs, for the peers to fetch).
    state.records_changed();
    Ok(Json(accepted))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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

/// The family's records after `since` that you may read: the family's and members' records, and
/// the records of albums shared with you, that the vault's rules applied. Clients fold them into
/// their own view.
#[utoipa::path(get, path = "/v1/records", tag = "records", params(SinceQuery),
    responses((status = 200, body = Vec<LogEntry>), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(q): ApiQuery<SinceQuery>,
) -> Result<Json<Vec<LogEntry>>, ApiError> {
    const SCAN: i64 = 1000;
    session.require_member(&state)?;
    let limit = q.limit.clamp(1, 10_000) as usize;
    let mut out = Vec::new();
    let mut after = q.since;
    loop {
        let rows = state.db(move |db| since(db, after, SCAN)).await?;
        let end = rows.len() < SCAN as usize;
        let vault = state.vault();
        for (seq, record) in rows {
            after = seq;
            if readable(&vault, &session.identity, &record) {
                out.push(LogEntry { seq, record });
                if out.len() == limit {
                    return Ok(Json(out));
                }
            }
        }
        if end {
            return Ok(Json(out));
        }
    }
}

/// Whether `who` may read a stored record: applied by the vault, and in their read scope. The
/// log holds only verified records, so the signature is not checked again here.
fn readable(vault: &Vault, who: &p2pos_core::IdentityId, record: &SignedRecord) -> bool {
    let (Ok(body), Ok(signer)) = (B64.decode(&record.body), record.signer.parse()) else { return false };
    let verified = VerifiedRecord { signer, body };
    let Ok(parsed) = verified.parse::<Body>() else { return false };
    vault.outcome(&verified) == Some(&Outcome::Applied) && vault.may_read_record(who, &parsed)
}
