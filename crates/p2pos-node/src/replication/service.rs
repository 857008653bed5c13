//! What this node answers its enrolled peers ([`PeerService`]): hello, pages of its record log
//! and blob log, and blob bytes from an offset. The same service answers over HTTP
//! (`routes.rs`) and over WebRTC (the endpoint in `hub.rs`); the caller has already checked the
//! request's signature, so `from` is proven.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::wire::MAX_PAGE;
use p2pos_net::{BlobBody, BlobEntry, LogEntry, PeerRequest, PeerResponse, PeerService, ServiceError, TransportError};
use tokio_util::io::ReaderStream;

use crate::state::AppState;
use crate::store;

/// Answers enrolled peers: hello, the record log, the blob log, blob bytes.
#[derive(Clone)]
pub(crate) struct NodeService {
    pub(crate) state: AppState,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    tracing::error!(error = %e, "answering a peer failed");
    ServiceError::new("internal", "internal error")
}

impl NodeService {
    fn require_peer(&self, from: &NodeId) -> Result<(), ServiceError> {
        if self.state.inner.replication.is_peer(from) {
            Ok(())
        } else {
            Err(ServiceError::new("not_enrolled", format!("node {from} is not enrolled here")))
        }
    }
}

#[async_trait]
impl PeerService for NodeService {
    async fn call(&self, from: NodeId, request: PeerRequest) -> Result<PeerResponse, ServiceError> {
        self.require_peer(&from)?;
        match request {
            PeerRequest::Hello => {
                let family = self.state.vault().family().map(|f| f.to_string());
                let (records_head, blobs_head) = self
                    .state
                    .db(|db| Ok((store::records::head(db)?, store::blobs::log_head(db)?)))
                    .await
                    .map_err(internal)?;
                Ok(PeerResponse::Hello { node: self.state.node_id(), family, records_head, blobs_head })
            }
            PeerRequest::Records { since, limit } => {
                let limit = limit.clamp(1, MAX_PAGE) as i64;
                let (rows, head) = self
                    .state
                    .db(move |db| Ok((store::records::since(db, since as i64, limit)?, store::records::head(db)?)))
                    .await
                    .map_err(internal)?;
                let records =
                    rows.iter().filter_map(|(seq, record)| LogEntry::from_record(*seq as u64, record)).collect();
                Ok(PeerResponse::Records { records, head })
            }
            PeerRequest::Blobs { since, limit } => {
                let limit = limit.clamp(1, MAX_PAGE) as i64;
                let (entries, head) = self
                    .state
                    .db(move |db| Ok((store::blobs::log_since(db, since, limit)?, store::blobs::log_head(db)?)))
                    .await
                    .map_err(internal)?;
                let blobs = entries.into_iter().map(|e| BlobEntry { seq: e.seq, id: e.id, size: e.size }).collect();
                Ok(PeerResponse::Blobs { blobs, head })
            }
            PeerRequest::GetBlob { .. } => {
                Err(ServiceError::new("bad_request", "get_blob is answered with bytes: use the blob endpoint"))
            }
        }
    }

    async fn get_blob(&self, from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError> {
        self.require_peer(&from)?;
        let read = match self.state.inner.blobs.get(&id, Some((offset, None))).await {
            Ok(read) => read,
            Err(p2pos_storage::BlobError::NotFound(_)) => {
                return Err(ServiceError::new("not_found", format!("no blob {id} here")));
            }
            Err(p2pos_storage::BlobError::RangeNotSatisfiable { .. }) => {
                return Err(ServiceError::new("bad_request", format!("offset {offset} is past the blob's end")));
            }
            Err(e) => return Err(internal(e)),
        };
        let stream = ReaderStream::with_capacity(read.reader, 64 * 1024)
            .map_err(|e| TransportError::broken_by("reading the blob", e));
        Ok(BlobBody { size: read.size, offset, stream: Box::pin(stream) })
    }
}
