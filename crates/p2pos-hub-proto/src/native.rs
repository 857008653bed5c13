//! Messages of the native protocol v1 (`/v1/ws`): one JSON object per WebSocket text frame, with
//! its kind in `type`. A client may add a request id `rid` to any message; the hub echoes it in
//! the reply or in the `error` it causes. `docs/PROTOCOL.md` documents each message.
//!
//! Client to hub there are two types for the one set of messages: [`ClientRequest`] is what a
//! client writes (every kind with exactly its fields), [`ClientMessage`] is how the hub reads
//! anything a client sends (one flat pass, so an unknown `type` or a missing field is answered
//! with an `error` that still carries the `rid`). The tests pin that every request reads back.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The protocol version this hub speaks on `/v1/ws`.
pub const VERSION: u32 = 1;

/// Who may `signal` an authenticated peer by its identity: only peers sharing a namespace with it
/// (`shared`, the default), anyone connected to the hub (`anyone`, for nodes), or only the
/// identities of its `contacts` list (`contacts`, for Chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allow {
    Shared,
    Anyone,
    Contacts,
}

/// Most ids in one `contacts` list.
pub const MAX_CONTACTS: usize = 1024;
/// Most network proofs (`also`) on one `join` of `network`.
pub const MAX_NETWORK_PROOFS: usize = 2;

/// A message a client writes on `/v1/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientRequest<'a> {
    /// First message of every connection; answered with [`ServerMessage::Welcome`].
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        v: u32,
        /// A JSON object others see in presence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<Value>,
    },
    /// Proves an identity: `sig` is Ed25519 over [`crate::auth_message`], base64.
    Auth {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        sig: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow: Option<Allow>,
    },
    /// A fresh room, joined at once; answered with [`ServerMessage::Room`] then `joined`.
    CreateRoom {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
    },
    /// Joins a namespace; answered with [`ServerMessage::Joined`]. `network` and `rv:` names
    /// need a `beacon` token (`GET /v1/beacon`); only `network` takes `also` (network proofs
    /// from `GET /v1/network-proof`, at most [`MAX_NETWORK_PROOFS`]) and `hidden` (watch
    /// without being listed).
    Join {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        ns: Cow<'a, str>,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        beacon: Option<Cow<'a, str>>,
        #[serde(default, borrow, skip_serializing_if = "Vec::is_empty")]
        also: Vec<Cow<'a, str>>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hidden: bool,
    },
    Leave {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        ns: Cow<'a, str>,
    },
    DeleteRoom {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        code: Cow<'a, str>,
    },
    /// An opaque payload for another peer (a hub peer id, or the identity of a peer that allows
    /// it). Delivered without a reply; refused with an `error`.
    Signal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        to: Cow<'a, str>,
        payload: Value,
    },
    /// Replaces this connection's contacts (identity ids, at most [`MAX_CONTACTS`]): with
    /// `allow: "contacts"`, only they may signal it by its identity. Answered with
    /// [`ServerMessage::ContactsSet`].
    Contacts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        ids: Vec<Cow<'a, str>>,
    },
    /// ICE servers with fresh TURN credentials; answered with [`ServerMessage::IceServers`].
    Turn {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
    },
    /// Answered with [`ServerMessage::Pong`], in order with everything before it.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
    },
}

/// How the hub reads a client message on `/v1/ws`. One flat shape for all types keeps parsing to
/// a single pass; the handler for each `type` checks which fields it needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Optional request id, echoed in the reply or error.
    pub rid: Option<u64>,
    pub v: Option<u32>,
    #[serde(borrow)]
    pub profile: Option<&'a RawValue>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub sig: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub allow: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub ns: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: Option<&'a RawValue>,
    /// `join`: the beacon token for `network` and `rv:`.
    #[serde(borrow)]
    pub beacon: Option<Cow<'a, str>>,
    /// `join` of `network`: network proofs of the connection's other addresses.
    #[serde(borrow)]
    pub also: Option<Vec<Cow<'a, str>>>,
    /// `join` of `network`: watch without being listed.
    pub hidden: Option<bool>,
    /// `contacts`: the identity ids that may signal this connection by its identity.
    #[serde(borrow)]
    pub ids: Option<Vec<Cow<'a, str>>>,
}

/// Limits a client should know to stay within them, announced in `welcome`. A field the hub
/// leaves out reads as the hub's default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnnouncedLimits {
    pub max_message_bytes: usize,
    pub rate_per_sec: f64,
    pub burst: f64,
    pub heartbeat_secs: u64,
    pub idle_timeout_secs: u64,
}

impl Default for AnnouncedLimits {
    /// The hub's defaults (docs/PROTOCOL.md, "Limits").
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            rate_per_sec: 10.0,
            burst: 20.0,
            heartbeat_secs: 20,
            idle_timeout_secs: 60,
        }
    }
}

/// JSON one side carries without reading it (a signal's payload, a peer's profile): the hub
/// writes the raw text it received, a client reads it as a [`Value`]. (A borrowed
/// [`RawValue`] cannot be read inside a message whose kind is a field, as `type` is here.)
#[derive(Debug, Clone)]
pub enum OpaqueJson<'a> {
    Raw(&'a RawValue),
    Value(Value),
}

impl OpaqueJson<'_> {
    /// The JSON as a value (parsed when it is raw text; `Null` if that text is not JSON).
    pub fn into_value(self) -> Value {
        match self {
            OpaqueJson::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            OpaqueJson::Value(value) => value,
        }
    }
}

impl Serialize for OpaqueJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OpaqueJson::Raw(raw) => raw.serialize(serializer),
            OpaqueJson::Value(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for OpaqueJson<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(OpaqueJson::Value)
    }
}

/// A peer as others see it: hub-assigned id, proven identity if any, and its chosen public profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerInfo<'a> {
    #[serde(borrow)]
    pub peer: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<OpaqueJson<'a>>,
}

/// Whether a peer came or went, in [`ServerMessage::Presence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    Join,
    Leave,
}

/// One entry of an `RTCConfiguration.iceServers` list, as the hub hands it out in reply to `turn`
/// (STUN without credentials, TURN with fresh ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A message the hub writes on `/v1/ws`. Strings borrow from the text they were read from when
/// they can (no escapes), so reading is cheap on both sides.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Welcome {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        v: u32,
        #[serde(borrow)]
        peer: Cow<'a, str>,
        #[serde(borrow)]
        challenge: Cow<'a, str>,
        #[serde(default)]
        limits: AnnouncedLimits,
    },
    Authed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        id: String,
    },
    Room {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        code: Cow<'a, str>,
        ns: String,
        expires_in_secs: u64,
    },
    Joined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        ns: Cow<'a, str>,
        #[serde(borrow)]
        peers: Vec<PeerInfo<'a>>,
    },
    Left {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        ns: Cow<'a, str>,
    },
    Presence {
        #[serde(borrow)]
        ns: Cow<'a, str>,
        event: PresenceEvent,
        #[serde(borrow)]
        peer: PeerInfo<'a>,
    },
    RoomClosed {
        #[serde(borrow)]
        ns: Cow<'a, str>,
        #[serde(borrow)]
        reason: Cow<'a, str>,
    },
    Signal {
        #[serde(borrow)]
        from: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_id: Option<String>,
        payload: OpaqueJson<'a>,
    },
    /// A peer that signalled this connection is gone from the hub (its socket closed, for any
    /// reason): sent only to the peers it signalled other than anonymously (through `network`),
    /// naming it as its signals did (`from`, and `from_id` as `id` if it proved an identity). A browser takes it as a hint that a data channel with that peer may
    /// be gone too, without waiting for the connection's own timeouts.
    PeerGone {
        #[serde(borrow)]
        peer: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    IceServers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        ttl_secs: u64,
        ice_servers: Vec<IceServer>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
    },
    /// The `contacts` list was replaced; `count` different ids are in it.
    ContactsSet {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        count: usize,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        #[serde(borrow)]
        code: Cow<'a, str>,
        #[serde(borrow)]
        message: Cow<'a, str>,
    },
}

impl ServerMessage<'_> {
    /// The request id this message answers, if any.
    pub fn rid(&self) -> Option<u64> {
        match self {
            ServerMessage::Welcome { rid, .. }
            | ServerMessage::Authed { rid, .. }
            | ServerMessage::Room { rid, .. }
            | ServerMessage::Joined { rid, .. }
            | ServerMessage::Left { rid, .. }
            | ServerMessage::IceServers { rid, .. }
            | ServerMessage::Pong { rid }
            | ServerMessage::ContactsSet { rid, .. }
            | ServerMessage::Error { rid, .. } => *rid,
            ServerMessage::Presence { .. }
            | ServerMessage::RoomClosed { .. }
            | ServerMessage::Signal { .. }
            | ServerMessage::PeerGone { .. } => None,
        }
    }
}

/// Error codes of [`ServerMessage::Error`] that clients act on (docs/PROTOCOL.md lists them all).
pub mod error_code {
    /// The target of a `signal` is not connected.
    pub const PEER_UNAVAILABLE: &str = "peer_unavailable";
    /// The target of a `signal` accepts signals only from peers sharing a namespace.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// The sender is over the rate limit; the message was dropped.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A network proof on `join` is malformed, forged or expired.
    pub const BAD_PROOF: &str = "bad_proof";
}
