//! Records: a client's record accepted through the vault's rules ([`accept`]), a peer's page
//! kept and folded ([`ingest`]), and `POST/GET /v1/records`. The log itself is `store::records`.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use family_vault::{Applied, Body, Outcome, Vault};
use p2pos_core::{RecordId, SignedRecord, VerifiedRecord};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::session::Session;
use crate::state::{AppState, NodeConfig};
use crate::store;
use crate::store::records::NewRecord;

/// Rebuilds the vault from the log, after a write that changed the vault but not the log.
fn rebuild(state: &AppState, vault: &mut Vault, db: &Connection) {
    match crate::state::load_vault(db, state.inner.config.max_record_ahead.as_millis() as u64) {
        Ok(fresh) => *vault = fresh,
        Err(e) => tracing::error!(error = %e, "could not rebuild the vault from the log"),
    }
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
            // A restore is refused once this node's own count of the trash stay is over.
            let clock = crate::release::TrashClock::load(db, now, crate::release::subject_of(&body))?;
            let applied = vault.admit_from(&verified, now, &|s, d| clock.start(s, d))?;
            match store::records::append(db, &NewRecord { record: &verified, body: &body, sig: &sig }, now) {
                Ok(seq) => {
                    crate::release::note_deletions(vault, db, crate::release::subject_of(&body), now)?;
                    Ok(Accepted { seq, current: applied == Applied::Current })
                }
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
fn check_clock(config: &NodeConfig, wall_ms: u64, now: u64) -> Result<(), ApiError> {
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
        if let Some(known) = store::blobs::size_of(db, &id)?
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
pub async fn ingest(state: &AppState, records: Vec<SignedRecord>) -> Result<Vec<Outcome>, ApiError> {
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
                let id = RecordId::of(&verified.body, &sig);
                let known = store::records::contains(db, &id)?;
                if !known
                    && !fresh.iter().any(|(v, _, s): &(VerifiedRecord, Body, Vec<u8>)| RecordId::of(&v.body, s) == id)
                {
                    fresh.push((verified, body, sig));
                }
            }
            let results = vault.insert_many(fresh.iter().map(|(v, _, _)| v), now);
            let mut kept = Vec::new();
            let mut outcomes = Vec::new();
            for ((verified, body, sig), result) in fresh.iter().zip(results) {
                match result {
                    Ok(outcome) => {
                        kept.push(NewRecord { record: verified, body, sig });
                        outcomes.push(outcome);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a peer sent a record of no use to this vault; skipped");
                        refused(&for_log);
                    }
                }
            }
            // All or none: the vault already folded them, so a failed append rebuilds it from the log.
            if let Err(e) = store::records::append_all(db, &kept, now) {
                rebuild(&for_log, vault, db);
                return Err(e.into());
            }
            crate::release::note_deletions(
                vault,
                db,
                kept.iter().filter_map(|r| crate::release::subject_of(r.body)),
                now,
            )?;
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
    /// `false`: leave photo records out (a client folding the family's members and keys needs
    /// none; photos come a page at a time from `/v1/albums/{id}/photos`). Default true.
    photos: Option<bool>,
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
    let photos = q.photos.unwrap_or(true);
    loop {
        let rows = state
            .db(move |db| {
                if photos {
                    store::records::since(db, after, SCAN)
                } else {
                    store::records::since_besides_photos(db, after, SCAN)
                }
            })
            .await?;
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
