//! The HTTP(S) transport: signed requests to a peer's base URL (rustls for `https://`).
//!
//! `POST <base>/v1/peer/rpc` with a [`SignedRequest`] as JSON answers a [`PeerResponse`];
//! `POST <base>/v1/peer/blob` with a signed `get_blob` answers the bytes from the offset, with the
//! blob's whole size in `x-p2pos-blob-size`. Errors are JSON `{error, message}` with a 4xx/5xx.

use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};

use crate::auth::{SignedRequest, sign_request};
use crate::clock::now_ms;
use crate::{
    BlobBody, PathKind, PeerRequest, PeerResponse, PeerTransport, ProtocolViolation, ServiceError, TransportError,
};

/// Header carrying a blob's whole size on `/v1/peer/blob` replies.
pub const BLOB_SIZE_HEADER: &str = "x-p2pos-blob-size";

/// Signed requests to one peer over HTTP(S).
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    key: SigningKey,
    peer: NodeId,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").field("base", &self.base).field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// `base` is the peer's base URL (`http://host:port`, no trailing path). `connect_timeout`
    /// bounds each connection attempt; a stalled body read fails after `stall`.
    pub fn new(
        base: &str,
        key: SigningKey,
        peer: NodeId,
        connect_timeout: Duration,
        stall: Duration,
    ) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(stall)
            .build()
            .map_err(|e| TransportError::unreachable_by("HTTP client", e))?;
        Ok(Self { client, base: base.trim_end_matches('/').to_string(), key, peer })
    }

    fn signed(&self, request: &PeerRequest) -> SignedRequest {
        sign_request(&self.key, self.peer, now_ms(), request)
    }

    async fn post(&self, path: &str, request: &PeerRequest) -> Result<reqwest::Response, TransportError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&self.signed(request))
            .send()
            .await
            .map_err(classify)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Result<ServiceError, _> = response.json().await;
        Err(match body {
            Ok(e) => TransportError::Refused { code: e.error, message: e.message },
            Err(_) => {
                TransportError::Refused { code: format!("http_{}", status.as_u16()), message: status.to_string() }
            }
        })
    }
}

/// What a failed HTTP exchange means for the transport; the reqwest error (whose source chain
/// says what happened) becomes the source.
fn classify(error: reqwest::Error) -> TransportError {
    if error.is_connect() {
        TransportError::unreachable_by("could not connect over HTTP", error)
    } else if error.is_timeout() {
        TransportError::TimedOut { after: None }
    } else if error.is_decode() {
        TransportError::unparsable("HTTP body", error)
    } else {
        TransportError::broken_by("HTTP", error)
    }
}

#[async_trait]
impl PeerTransport for HttpTransport {
    fn peer(&self) -> NodeId {
        self.peer
    }

    async fn call(&self, request: PeerRequest) -> Result<PeerResponse, TransportError> {
        let response = self.post("/v1/peer/rpc", &request).await?;
        response.json().await.map_err(|e| TransportError::unparsable("reply", e))
    }

    async fn get_blob(&self, id: BlobId, offset: u64) -> Result<BlobBody, TransportError> {
        let response = self.post("/v1/peer/blob", &PeerRequest::GetBlob { id, offset }).await?;
        let size = response
            .headers()
            .get(BLOB_SIZE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or(TransportError::protocol(ProtocolViolation::Unexpected("no x-p2pos-blob-size header")))?;
        let stream = response.bytes_stream().map(|chunk| chunk.map_err(classify));
        Ok(BlobBody { size, offset, stream: Box::pin(stream) })
    }

    fn path(&self) -> Option<PathKind> {
        Some(PathKind::Http)
    }
}
