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
use std::sync::Arc;
use std::time::Duration;

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

/// A cause below the transport (the WebRTC stack, the HTTP client, JSON, I/O), shared so that one
/// error can be handed to every request a broken connection cuts.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a request to a peer did not get an answer.
///
/// Match on [`TransportError::kind`], never on the text: the kind is the stable classification
/// (it reaches the status API and the web app), while `Display` is for logs and may change. The
/// variants carry what is known (the peer's error code, the timeout, the cause below the
/// transport as [`std::error::Error::source`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer is not connected to the hub, so it cannot be signalled (switched off or offline).
    #[error("unreachable: {peer} is not connected to the hub")]
    PeerOffline { peer: NodeId },
    /// Setting up the connection failed before it could carry anything (the hub, the local
    /// WebRTC stack, the HTTP client, the peer's address refusing connections). `what` names the
    /// step; the cause, if any, is the error's source.
    #[error("unreachable: {what}")]
    Unreachable {
        what: &'static str,
        #[source]
        source: Option<Cause>,
    },
    /// ICE found no way between the two nodes. `waited`: how long the connect waited, when it
    /// gave up on its own clock.
    #[error("unreachable: {reason}{}", waited_words(.waited))]
    NoPath { reason: NoPathReason, waited: Option<Duration> },
    /// Every way of reaching the peer was tried (or ruled out) and none worked.
    #[error("unreachable: no path to {peer_name}: {}", attempt_words(.attempts))]
    NoRoute { peer_name: String, attempts: Vec<RouteAttempt> },
    /// The relay (TURN) that carried an established connection stopped relaying.
    #[error("connection lost: the relay (TURN) stopped relaying")]
    RelayLost,
    /// The peer answered with an error: `code` is its stable code (e.g. `not_found`).
    #[error("refused by the peer: {code}: {message}")]
    Refused { code: String, message: String },
    /// The peer said something that does not follow the protocol.
    #[error("protocol error: {what}")]
    Protocol {
        what: ProtocolViolation,
        #[source]
        source: Option<Cause>,
    },
    /// The connection broke during the exchange. `what` says how; the cause, if any, is the
    /// error's source.
    #[error("connection lost: {what}")]
    Broken {
        what: &'static str,
        #[source]
        source: Option<Cause>,
    },
    /// The peer ended the connection, saying why (`code` and `message` of its `close` signal).
    #[error("connection lost: the peer closed the connection ({code}: {message})")]
    ClosedByPeer { code: String, message: String },
    /// The connection this request was using ended because of `0` (e.g. it found no path while
    /// the request waited): the request itself was cut.
    #[error("connection lost: {0}")]
    Cut(Box<TransportError>),
    /// A transfer had no progress for the stall timeout.
    #[error("stalled: no data for {} s", .after.as_secs())]
    Stalled { after: Duration },
    /// No answer within the request's timeout (`None`: the HTTP client's own timeout).
    #[error("timed out{}", waited_words(.after))]
    TimedOut { after: Option<Duration> },
}

/// Why ICE found no path, as the Nodes page explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoPathReason {
    /// The hub offered a TURN server but it gave no relay address.
    #[error("relay unavailable: the TURN server gave no relay address")]
    RelayUnavailable,
    /// No direct route, and the hub offers no TURN server.
    #[error("no direct route, and the hub offers no relay")]
    NoRelayOffered,
    /// Both a direct route and the relay were tried, and neither worked.
    #[error("neither a direct route nor the relay worked")]
    NothingWorked,
}

/// One way of reaching a peer that a connector tried or ruled out (see [`TransportError::NoRoute`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RouteAttempt {
    /// WebRTC was tried and failed.
    #[error("WebRTC: {0}")]
    WebRtc(Box<TransportError>),
    /// WebRTC failed a moment ago and is not tried again yet.
    #[error("WebRTC: failed recently")]
    WebRtcFailedRecently,
    /// WebRTC gave no connection within the connector's timeout.
    #[error("WebRTC: no connection within {} s", .0.as_secs())]
    WebRtcTimedOut(Duration),
    /// No hub is configured, so WebRTC cannot be set up.
    #[error("WebRTC: no hub configured")]
    NoHub,
    /// This node is not connected to its hub right now.
    #[error("WebRTC: not connected to the hub")]
    HubDown,
    /// HTTP is allowed but the peer gave no base URL.
    #[error("HTTP: the peer gave no base URL")]
    NoBaseUrl,
}

/// What a peer did against the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A message (`0` names it: "reply", "blob head", …) does not parse; the cause is the source.
    #[error("{0} does not parse")]
    Unparsable(&'static str),
    /// A data-channel frame is malformed.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// A reply reassembled from several frames grew past the limit.
    #[error("reply over {limit} bytes")]
    ReplyTooLarge { limit: usize },
    /// A request does not fit in one frame.
    #[error("request of {size} bytes is too large")]
    RequestTooLarge { size: usize },
    /// A blob came back from another offset than asked (or past its own end).
    #[error("asked for offset {asked}, got offset {offset} of a {size}-byte blob")]
    WrongOffset { asked: u64, offset: u64, size: u64 },
    /// The peer sent more blob bytes than acknowledged plus a generous margin.
    #[error("the peer ignores the flow-control window")]
    WindowIgnored,
    /// The peer sent more bytes than the blob holds.
    #[error("more bytes than the blob holds")]
    TooManyBytes,
    /// Something else out of order; `0` says what.
    #[error("{0}")]
    Unexpected(&'static str),
}

/// What kind of failure a [`TransportError`] is: the stable classification that the node's
/// status API reports and the web app switches on. Serialised in `snake_case`; the names below
/// are part of the API and do not change (new kinds may be added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// `peer_offline`: the peer is not connected to the hub, so it cannot be signalled.
    PeerOffline,
    /// `unreachable`: setting up a connection failed (the hub, the WebRTC stack, the HTTP client, the
    /// peer's address refusing connections).
    Unreachable,
    /// `no_path`: the peer is there but no route between the nodes works.
    NoPath,
    /// `relay_unavailable`: only the relay (TURN) could connect the nodes, and it gave no address.
    RelayUnavailable,
    /// `relay_lost`: the relay that carried the connection stopped relaying.
    RelayLost,
    /// `refused`: the peer answered with an error ([`TransportError::peer_code`] has its code).
    Refused,
    /// `protocol`: the peer broke the protocol.
    Protocol,
    /// `broken`: the connection broke during the exchange.
    Broken,
    /// `stalled`: a transfer made no progress for the stall timeout.
    Stalled,
    /// `timed_out`: no answer within the request's timeout.
    TimedOut,
}

impl TransportErrorKind {
    /// The serde name, e.g. `"relay_unavailable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::PeerOffline => "peer_offline",
            TransportErrorKind::Unreachable => "unreachable",
            TransportErrorKind::NoPath => "no_path",
            TransportErrorKind::RelayUnavailable => "relay_unavailable",
            TransportErrorKind::RelayLost => "relay_lost",
            TransportErrorKind::Refused => "refused",
            TransportErrorKind::Protocol => "protocol",
            TransportErrorKind::Broken => "broken",
            TransportErrorKind::Stalled => "stalled",
            TransportErrorKind::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransportError {
    /// The stable classification of this error.
    ///
    /// A [`TransportError::NoRoute`] takes the most telling kind of its WebRTC attempt (so "no
    /// path, because the relay is unavailable" is [`TransportErrorKind::RelayUnavailable`]), and
    /// is [`TransportErrorKind::NoPath`] otherwise.
    pub fn kind(&self) -> TransportErrorKind {
        use TransportErrorKind as K;
        match self {
            TransportError::PeerOffline { .. } => K::PeerOffline,
            TransportError::Unreachable { .. } => K::Unreachable,
            TransportError::NoPath { reason: NoPathReason::RelayUnavailable, .. } => K::RelayUnavailable,
            TransportError::NoPath { .. } => K::NoPath,
            TransportError::NoRoute { attempts, .. } => attempts
                .iter()
                .find_map(|a| match a {
                    RouteAttempt::WebRtc(e) => match e.kind() {
                        k @ (K::RelayUnavailable | K::RelayLost | K::PeerOffline) => Some(k),
                        _ => None,
                    },
                    _ => None,
                })
                .unwrap_or(K::NoPath),
            TransportError::RelayLost => K::RelayLost,
            TransportError::Refused { .. } => K::Refused,
            TransportError::Protocol { .. } => K::Protocol,
            // A request cut by its connection's relay trouble is that trouble.
            TransportError::Cut(cause) => match cause.kind() {
                k @ (K::RelayUnavailable | K::RelayLost) => k,
                _ => K::Broken,
            },
            TransportError::Broken { .. } | TransportError::ClosedByPeer { .. } => K::Broken,
            TransportError::Stalled { .. } => K::Stalled,
            TransportError::TimedOut { .. } => K::TimedOut,
        }
    }

    /// The peer's error code, when the peer refused the request.
    pub fn peer_code(&self) -> Option<&str> {
        match self {
            TransportError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The peer answered "no such blob".
    pub fn is_not_found(&self) -> bool {
        self.peer_code() == Some("not_found")
    }

    /// The connection broke; `what` says how.
    pub fn broken(what: &'static str) -> Self {
        TransportError::Broken { what, source: None }
    }

    /// The connection broke because of `cause`.
    pub fn broken_by(what: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        TransportError::Broken { what, source: Some(Arc::new(cause)) }
    }

    /// Setting up the connection failed at `what`.
    pub fn unreachable(what: &'static str) -> Self {
        TransportError::Unreachable { what, source: None }
    }

    /// Setting up the connection failed at `what`, because of `cause`.
    pub fn unreachable_by(what: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        TransportError::Unreachable { what, source: Some(Arc::new(cause)) }
    }

    /// The peer broke the protocol.
    pub fn protocol(what: ProtocolViolation) -> Self {
        TransportError::Protocol { what, source: None }
    }

    /// A message named `what` does not parse, because of `cause`.
    pub fn unparsable(what: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        TransportError::Protocol { what: ProtocolViolation::Unparsable(what), source: Some(Arc::new(cause)) }
    }
}

fn waited_words(waited: &Option<Duration>) -> String {
    match waited {
        Some(d) => format!(" (waited {} s)", d.as_secs()),
        None => String::new(),
    }
}

fn attempt_words(attempts: &[RouteAttempt]) -> String {
    attempts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Why a data-channel frame does not decode (the framing is `p2pos-net`'s; the error is here so
/// that a [`ProtocolViolation`] can carry it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("frame of {0} bytes exceeds the largest frame")]
    TooLarge(usize),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn error_kinds_have_stable_snake_case_names() {
        use TransportErrorKind as K;
        let all = [
            (K::PeerOffline, "peer_offline"),
            (K::Unreachable, "unreachable"),
            (K::NoPath, "no_path"),
            (K::RelayUnavailable, "relay_unavailable"),
            (K::RelayLost, "relay_lost"),
            (K::Refused, "refused"),
            (K::Protocol, "protocol"),
            (K::Broken, "broken"),
            (K::Stalled, "stalled"),
            (K::TimedOut, "timed_out"),
        ];
        for (kind, name) in all {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::Value::String(name.into()));
            assert_eq!(kind.as_str(), name);
            assert_eq!(serde_json::from_value::<K>(name.into()).unwrap(), kind);
        }
    }

    #[test]
    fn a_connector_that_found_no_path_says_why_in_its_kind() {
        let no_relay =
            TransportError::NoPath { reason: NoPathReason::RelayUnavailable, waited: Some(Duration::from_secs(10)) };
        assert_eq!(no_relay.kind(), TransportErrorKind::RelayUnavailable);
        let route = TransportError::NoRoute {
            peer_name: "Pine".into(),
            attempts: vec![RouteAttempt::WebRtc(Box::new(no_relay)), RouteAttempt::NoBaseUrl],
        };
        assert_eq!(route.kind(), TransportErrorKind::RelayUnavailable);
        // The words the Nodes page showed before kinds existed are still there, for the logs.
        assert_eq!(
            route.to_string(),
            "unreachable: no path to Pine: WebRTC: unreachable: relay unavailable: the TURN server gave no relay \
             address (waited 10 s); HTTP: the peer gave no base URL"
        );
        let plain = TransportError::NoRoute { peer_name: "Pine".into(), attempts: vec![RouteAttempt::HubDown] };
        assert_eq!(plain.kind(), TransportErrorKind::NoPath);
        assert_eq!(TransportError::RelayLost.to_string(), "connection lost: the relay (TURN) stopped relaying");
        assert_eq!(TransportError::RelayLost.kind(), TransportErrorKind::RelayLost);
    }

    #[test]
    fn a_refusal_keeps_the_peers_code_and_a_cause_stays_a_source() {
        let refused = TransportError::Refused { code: "not_found".into(), message: "no such blob".into() };
        assert!(refused.is_not_found());
        assert_eq!(refused.peer_code(), Some("not_found"));
        let io = std::io::Error::other("disk gone");
        let broken = TransportError::broken_by("reading the blob", io);
        assert_eq!(broken.to_string(), "connection lost: reading the blob");
        assert_eq!(std::error::Error::source(&broken).map(ToString::to_string).as_deref(), Some("disk gone"));
        let cut = TransportError::Cut(Box::new(refused));
        assert_eq!(cut.kind(), TransportErrorKind::Broken);
        let cut_by_relay = TransportError::Cut(Box::new(TransportError::RelayLost));
        assert_eq!(cut_by_relay.kind(), TransportErrorKind::RelayLost);
    }
}
