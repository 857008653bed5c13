//! The HTTP side of the peer protocol: `POST /v1/peer/rpc` (one signed request, one JSON reply,
//! gzipped when large and accepted) and `POST /v1/peer/blob` (a signed `get_blob`, answered with
//! the bytes). Each request passes the replay guard (signature, freshness, enrolled sender)
//! before [`NodeService`] answers it; refusals carry the peer protocol's error codes.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use p2pos_core::NodeId;
use p2pos_net::auth::{AuthError, SignedRequest};
use p2pos_net::http::BLOB_SIZE_HEADER;
use p2pos_net::{PeerRequest, PeerService, ServiceError};

use crate::clock::{lock, now_ms};
use crate::error::ApiJson;
use crate::replication::service::NodeService;
use crate::state::AppState;

fn refused(status: StatusCode, e: ServiceError) -> Response {
    (status, Json(e)).into_response()
}

fn auth_refusal(e: &AuthError) -> Response {
    let status = match e {
        AuthError::Malformed(_) => StatusCode::BAD_REQUEST,
        AuthError::NotEnrolled(_) => StatusCode::FORBIDDEN,
        AuthError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNAUTHORIZED,
    };
    refused(status, ServiceError::new(e.code(), e.to_string()))
}

fn service_refusal(e: ServiceError) -> Response {
    let status = match e.error.as_str() {
        "not_enrolled" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "bad_request" => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refused(status, e)
}

fn check(state: &AppState, request: &SignedRequest) -> Result<(NodeId, PeerRequest), AuthError> {
    let replication = &state.inner.replication;
    let mut guard = lock(&replication.guard);
    // The sender must be enrolled before anything of its request is remembered.
    guard.check_from(request, now_ms(), |from| replication.is_peer(from)).inspect_err(|e| {
        tracing::info!(from = %request.from.short(), error = %e, "refused a peer request");
    })
}

/// `POST /v1/peer/rpc`: one signed request from a peer node, one JSON reply.
pub(crate) async fn rpc(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(request): ApiJson<SignedRequest>,
) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let metrics = &state.inner.metrics;
    metrics.peer_requests.fetch_add(1, Relaxed);
    metrics.peer_rpc_bytes_in.fetch_add(serde_json::to_vec(&request).map_or(0, |b| b.len() as u64), Relaxed);
    let (from, request) = match check(&state, &request) {
        Ok(checked) => checked,
        Err(e) => {
            metrics.peer_requests_refused.fetch_add(1, Relaxed);
            return auth_refusal(&e);
        }
    };
    match (NodeService { state: state.clone() }).call(from, request).await {
        Ok(reply) => {
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            let (body, gzipped) = maybe_gzip(&headers, body);
            state.inner.metrics.peer_rpc_bytes_out.fetch_add(body.len() as u64, Relaxed);
            let mut response =
                ([(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
                    .into_response();
            if gzipped {
                response.headers_mut().insert(axum::http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Err(e) => {
            state.inner.metrics.peer_requests_refused.fetch_add(1, Relaxed);
            service_refusal(e)
        }
    }
}

/// Replies of more than a few KB (pages of records) are gzipped when the peer accepts it: signed
/// records are text, and a catch-up is mostly records.
fn maybe_gzip(headers: &axum::http::HeaderMap, body: Vec<u8>) -> (Vec<u8>, bool) {
    use std::io::Write as _;
    let accepts = headers
        .get(axum::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !accepts || body.len() < 2048 {
        return (body, false);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
    match encoder.write_all(&body).and_then(|()| encoder.finish()) {
        Ok(compressed) => (compressed, true),
        Err(_) => (body, false),
    }
}

/// `POST /v1/peer/blob`: a signed `get_blob`; the reply is the bytes from the offset.
pub(crate) async fn blob(State(state): State<AppState>, ApiJson(request): ApiJson<SignedRequest>) -> Response {
    state.inner.metrics.peer_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (from, request) = match check(&state, &request) {
        Ok(checked) => checked,
        Err(e) => {
            state.inner.metrics.peer_requests_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return auth_refusal(&e);
        }
    };
    let PeerRequest::GetBlob { id, offset } = request else {
        return service_refusal(ServiceError::new("bad_request", "this endpoint answers get_blob only"));
    };
    match (NodeService { state }).get_blob(from, id, offset).await {
        Ok(body) => {
            let mut response = Response::new(Body::from_stream(body.stream));
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            if let Ok(size) = HeaderValue::from_str(&body.size.to_string()) {
                response.headers_mut().insert(BLOB_SIZE_HEADER, size);
            }
            response
        }
        Err(e) => service_refusal(e),
    }
}
