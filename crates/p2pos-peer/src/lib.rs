//! The node-to-node vocabulary: what one family node asks another for records and blobs, and the
//! traits both sides implement. No I/O here: replication drives a [`PeerTransport`] without
//! knowing whether it is HTTP or WebRTC, and `p2pos-net` holds the transports.
//!
//! - [`wire`]: requests and replies, the same over every transport (docs/PROTOCOL.md).
//! - [`auth`]: every request is signed by the sending node's key, with a timestamp and a nonce, and
//!   bound to the receiving node; a [`auth::ReplayGuard`] (sans-IO, time passed in) refuses replays.
//! - [`PeerTransport`]: one connection to a peer, as replication uses it; [`PeerService`]: what a
//!   node answers, whichever transport carried the request.
//! - [`PathKind`]: which way the bytes travel, as the user sees it.
//!
//! Nothing here knows about albums: records are opaque [`p2pos_core::SignedRecord`]s and blobs are
//! bytes named by their BLAKE3.

pub mod auth;
pub mod wire;

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use p2pos_core::{BlobId, NodeId};
use serde::{Deserialize, Serialize};

pub use wire::{BlobEntry, LogEntry, PeerRequest, PeerResponse};

/// Which way the bytes travel to a peer, as the user sees it (DESIGN.md §7): over HTTP to its base
/// URL, or over a WebRTC data channel whose selected ICE candidate pair is of the given type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// HTTP(S) to the peer's base URL.
    Http,
    /// WebRTC, both candidates local addresses (same LAN or loopback).
    Host,
    /// WebRTC through a NAT mapping learned from STUN.
    Srflx,
    /// WebRTC through a mapping learned from the peer's checks.
    Prflx,
    /// WebRTC relayed by a TURN server.
    Relay,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Http => "http",
            PathKind::Host => "host",
            PathKind::Srflx => "srflx",
            PathKind::Prflx => "prflx",
            PathKind::Relay => "relay",
        }
    }

    /// Whether the bytes go through a relay rather than straight between the two nodes.
    pub fn is_relayed(self) -> bool {
        self == PathKind::Relay
    }
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request to a peer did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection could be made (peer offline, no path, refused connection).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with an error.
    #[error("refused by the peer: {code}: {message}")]
    Refused { code: String, message: String },
    /// The peer said something that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection broke during the exchange.
    #[error("connection lost: {0}")]
    Broken(String),
    /// No progress within the stall timeout.
    #[error("stalled: no data for {0} s")]
    Stalled(u64),
}

impl TransportError {
    /// The peer answered "no such blob".
    pub fn is_not_found(&self) -> bool {
        matches!(self, TransportError::Refused { code, .. } if code == "not_found")
    }
}

/// Bytes of a blob as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// A blob being read from `offset` to its end.
pub struct BlobBody {
    /// The blob's whole size.
    pub size: u64,
    /// Where `stream` starts.
    pub offset: u64,
    pub stream: ByteStream,
}

impl fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobBody").field("size", &self.size).field("offset", &self.offset).finish_non_exhaustive()
    }
}

/// A connection to one peer node, as replication uses it. Implementations sign every request with
/// this node's key (see [`auth`]).
#[async_trait]
pub trait PeerTransport: Send + Sync + fmt::Debug {
    /// The peer this transport reaches.
    fn peer(&self) -> NodeId;
    /// One request, one reply.
    async fn call(&self, request: PeerRequest) -> Result<PeerResponse, TransportError>;
    /// Read blob `id` from `offset` to its end (a broken read resumes with a later offset).
    async fn get_blob(&self, id: BlobId, offset: u64) -> Result<BlobBody, TransportError>;
    /// The path currently in use, if connected.
    fn path(&self) -> Option<PathKind>;
}

/// An error a node answers a peer with: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {message}")]
pub struct ServiceError {
    pub error: String,
    pub message: String,
}

impl ServiceError {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self { error: error.to_string(), message: message.into() }
    }
}

/// What a node answers to its peers. The transport has already checked the request's signature,
/// freshness and nonce; `from` is the verified sender, and the service decides whether it is an
/// enrolled peer.
#[async_trait]
pub trait PeerService: Send + Sync + 'static {
    async fn call(&self, from: NodeId, request: PeerRequest) -> Result<PeerResponse, ServiceError>;
    async fn get_blob(&self, from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError>;
}
