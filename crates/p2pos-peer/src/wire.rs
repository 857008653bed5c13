//! What nodes say to each other (docs/PROTOCOL.md, "Node to node"). JSON, the same over HTTP and
//! over WebRTC data channels; unknown fields are refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::{BlobId, NodeId, SignedRecord};
use serde::{Deserialize, Serialize};

/// Most records or blob entries in one reply.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PeerRequest {
    /// Who are you, which family, how far do your logs go?
    Hello,
    /// Records this node accepted after local sequence number `since`, oldest first.
    Records { since: u64, limit: u32 },
    /// Blobs this node came to hold after blob-log sequence number `since`, oldest first.
    Blobs { since: u64, limit: u32 },
    /// A blob's bytes from `offset` (answered with a byte stream, not a [`PeerResponse`]).
    GetBlob { id: BlobId, offset: u64 },
}

impl PeerRequest {
    pub fn kind(&self) -> &'static str {
        match self {
            PeerRequest::Hello => "hello",
            PeerRequest::Records { .. } => "records",
            PeerRequest::Blobs { .. } => "blobs",
            PeerRequest::GetBlob { .. } => "get_blob",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PeerResponse {
    Hello {
        node: NodeId,
        /// The family this node belongs to (its family record's id), if any yet.
        family: Option<String>,
        /// Newest record sequence number.
        records_head: u64,
        /// Newest blob-log sequence number.
        blobs_head: u64,
    },
    Records {
        records: Vec<LogEntry>,
        head: u64,
    },
    Blobs {
        blobs: Vec<BlobEntry>,
        head: u64,
    },
}

/// One record of a node's log with its local sequence number. The signed body travels as its
/// exact JSON text (not base64 as in the `/v1` API): a quarter fewer bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    pub seq: u64,
    /// The signed bytes, which are JSON and therefore UTF-8.
    pub body: String,
    pub signer: String,
    /// Standard base64 of the signature.
    pub sig: String,
}

impl LogEntry {
    /// `None` when the record's body is not base64 of UTF-8 (no valid record is).
    pub fn from_record(seq: u64, record: &SignedRecord) -> Option<Self> {
        let body = B64.decode(&record.body).ok().and_then(|b| String::from_utf8(b).ok())?;
        Some(Self { seq, body, signer: record.signer.clone(), sig: record.sig.clone() })
    }

    pub fn record(&self) -> SignedRecord {
        SignedRecord { body: B64.encode(self.body.as_bytes()), signer: self.signer.clone(), sig: self.sig.clone() }
    }
}

/// One blob a node holds, with its blob-log sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobEntry {
    pub seq: u64,
    pub id: BlobId,
    pub size: u64,
}
