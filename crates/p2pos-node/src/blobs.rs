//! `PUT /v1/blobs/{id}` (streaming upload, verified, size-capped) and `GET /v1/blobs/{id}` (range
//! requests; readable only by members of an album that references the blob).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use p2pos_core::BlobId;
use p2pos_storage::PutOutcome;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;
use crate::store;

fn parse_id(id: &str) -> Result<BlobId, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest("a blob id is 64 lowercase hex digits (BLAKE3)".into()))
}

/// The response to a stored blob.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Stored {
    #[schema(value_type = String)]
    id: BlobId,
    size: u64,
}

#[utoipa::path(put, path = "/v1/blobs/{id}", tag = "blobs", params(("id" = String, Path, description = "BLAKE3 of the bytes, 64 lowercase hex")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Stored, description = "Stored"), (status = 200, body = Stored, description = "Already present"),
        (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
        (status = 415, body = crate::openapi::ErrorBody)))]
pub(crate) async fn put(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    session.require_member(&state)?;
    let id = parse_id(&id)?;
    let headers = request.headers();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type != "application/octet-stream" {
        return Err(ApiError::UnsupportedMediaType("blobs are uploaded as application/octet-stream".into()));
    }
    let limit = state.inner.config.max_upload_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let stream = request.into_body().into_data_stream().map_err(std::io::Error::other);
    let mut reader = StreamReader::new(stream);
    let metrics = &state.inner.metrics;
    // The file and its presence row as one step for the release job (`release.rs`).
    let held = state.inner.blob_locks.lock(id).await;
    let outcome = match state.inner.blobs.put(id, &mut reader, limit).await {
        Ok(outcome) => outcome,
        Err(e) => {
            metrics.blobs_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e.into());
        }
    };
    if let PutOutcome::Stored { size } = outcome {
        metrics.blobs_stored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics.blob_bytes_stored.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    }
    let size = outcome.size();
    record_presence(&state, id, size).await?;
    drop(held);
    state.blob_stored(id);
    let status = match outcome {
        PutOutcome::Stored { .. } => StatusCode::CREATED,
        PutOutcome::AlreadyPresent { .. } => StatusCode::OK,
    };
    Ok((status, axum::Json(Stored { id, size })).into_response())
}

/// Note in the database that this node holds `id` (after the store has it durably): the
/// presence row, and the blob log entry peers read.
async fn record_presence(state: &AppState, id: BlobId, size: u64) -> Result<(), ApiError> {
    let now = now_ms();
    state.db(move |db| store::blobs::record_presence(db, id, size, now)).await
}

/// `bytes=a-b`, `bytes=a-`, or `bytes=-n` (the last n bytes); one range only. An end past the
/// blob is clamped to its last byte (RFC 9110 §14.1.2); only a start past the end is refused.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else { return Ok(None) };
    let bad = || ApiError::RangeNotSatisfiable("one range, as bytes=start-end, is supported".into());
    let spec = value.to_str().ok().and_then(|v| v.strip_prefix("bytes=")).ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| bad())?;
            Ok(Some((size.saturating_sub(n), None)))
        }
        (start, "") => Ok(Some((start.parse().map_err(|_| bad())?, None))),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| bad())?;
            Ok(Some((start.parse().map_err(|_| bad())?, Some(end.saturating_add(1).min(size)))))
        }
    }
}

#[utoipa::path(get, path = "/v1/blobs/{id}", tag = "blobs", params(("id" = String, Path), ("Range" = Option<String>, Header, description = "bytes=a-b")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 416, body = crate::openapi::ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if !state.vault().may_read_blob(&session.identity, &id) {
        return Err(ApiError::Forbidden("you may read only blobs of albums shared with you".into()));
    }
    let size =
        state.inner.blobs.has(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no blob {id} on this node")))?;
    let range = parse_range(&headers, size)?;
    let read = state.inner.blobs.get(&id, range).await?;
    let len = read.range.end - read.range.start;
    let mut response = Body::from_stream(ReaderStream::new(read.reader)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, len.into());
    // Content-addressed: the bytes behind an id never change.
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=31536000, immutable"));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {}-{}/{}", read.range.start, read.range.end.saturating_sub(1), read.size);
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}
