//! Node-to-node transport: how one family node reaches another, over HTTP or WebRTC.
//!
//! The vocabulary (requests and replies, request signing, the [`PeerTransport`] and
//! [`PeerService`] traits, [`PathKind`]) lives in `p2pos-peer`, which has no I/O, so replication
//! can depend on it without WebRTC or HTTP; it is re-exported here unchanged. This crate holds the
//! I/O: [`http::HttpTransport`], the WebRTC transport ([`webrtc`]) and the hub client ([`hub`])
//! that WebRTC signaling goes through.
//!
//! Nothing here knows about albums: records are opaque [`p2pos_core::SignedRecord`]s and blobs are
//! bytes named by their BLAKE3.

pub mod clock;
pub mod http;
pub mod hub;
pub mod webrtc;

pub use p2pos_peer::wire::{BlobEntry, LogEntry, PeerRequest, PeerResponse};
pub use p2pos_peer::{
    BlobBody, ByteStream, Cause, FrameError, NoPathReason, PathKind, PeerService, PeerTransport, ProtocolViolation,
    RouteAttempt, ServiceError, TransportError, TransportErrorKind, auth, wire,
};
