//! Wire types of the native protocol v1 (`/v1/ws`) and of the PeerJS server protocol (`/peerjs`).
//! Every message is one JSON object per WebSocket text frame; `docs/PROTOCOL.md` documents each.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::turn::IceServer;

/// The protocol version this hub speaks on `/v1/ws`.
pub const VERSION: u32 = 1;

/// What an identity signs to prove itself on a connection: this prefix, then the challenge text.
pub const AUTH_CONTEXT: &str = "p2pos-hub-auth-v1|";

/// A client message on `/v1/ws`. One flat shape for all types keeps parsing to a single pass;
/// the handler for each `type` checks which fields it needs.
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
}

/// Limits a client should know to stay within them.
#[derive(Debug, Clone, Serialize)]
pub struct AnnouncedLimits {
    pub max_message_bytes: usize,
    pub rate_per_sec: f64,
    pub burst: f64,
    pub heartbeat_secs: u64,
    pub idle_timeout_secs: u64,
}

/// A peer as others see it: hub-assigned id, proven identity if any, and its chosen public profile.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo<'a> {
    pub peer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'a RawValue>,
}

/// Messages from the hub on `/v1/ws`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Welcome {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        v: u32,
        peer: &'a str,
        challenge: &'a str,
        limits: AnnouncedLimits,
    },
    Authed {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        id: String,
    },
    Room {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        code: &'a str,
        ns: String,
        expires_in_secs: u64,
    },
    Joined {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        ns: &'a str,
        peers: Vec<PeerInfo<'a>>,
    },
    Left {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        ns: &'a str,
    },
    Presence {
        ns: &'a str,
        event: &'a str,
        peer: PeerInfo<'a>,
    },
    RoomClosed {
        ns: &'a str,
        reason: &'a str,
    },
    Signal {
        from: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        from_id: Option<String>,
        payload: &'a RawValue,
    },
    IceServers {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        ttl_secs: u64,
        ice_servers: Vec<IceServer>,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        rid: Option<u64>,
        code: &'a str,
        message: &'a str,
    },
}

/// A message on the PeerJS endpoint. Unknown fields are ignored, as the PeerJS server does.
#[derive(Debug, Deserialize)]
pub struct PeerJsMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub dst: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: Option<&'a RawValue>,
}

/// A message the hub sends on the PeerJS endpoint.
#[derive(Debug, Serialize)]
pub struct PeerJsOut<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a RawValue>,
}

/// Serialises a server message. Our types always serialise; an empty object is a safe fallback.
pub fn to_text<T: Serialize>(message: &T) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| "{}".to_string())
}

/// `{"type": T, "payload": {"msg": M}}`, the PeerJS server's shape for errors and ID-TAKEN.
pub fn peerjs_notice(kind: &str, msg: &str) -> String {
    serde_json::json!({"type": kind, "payload": {"msg": msg}}).to_string()
}
