//! Wire types of the native protocol v1 (`/v1/ws`) and of the PeerJS server protocol (`/peerjs`).
//! Every message is one JSON object per WebSocket text frame; `docs/PROTOCOL.md` documents each.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::turn::IceServer;

/// The protocol version this hub speaks on `/v1/ws`.
pub const VERSION: u32 = 1;

/// What an identity signs to prove itself on a connection: this prefix, then the hub's origin,
/// `|` and the challenge text ([`auth_message`]).
pub const AUTH_CONTEXT: &str = "p2pos-hub-auth-v2|";

/// The exact text an identity signs to log in at the hub reached at `origin` ([`hub_origin`]),
/// answering `challenge`. Naming the hub means a rogue hub that passes a real hub's challenge on
/// to a client gets a signature for itself, which the real hub refuses.
pub fn auth_message(origin: &str, challenge: &str) -> String {
    format!("{AUTH_CONTEXT}{origin}|{challenge}")
}

/// The origin of a hub URL, as clients name it when they log in: `scheme://host[:port]`, where
/// `ws` becomes `http` and `wss` becomes `https`, the host is lower case and a default port (80,
/// 443) is left out — what a browser's `new URL(url)` gives. `None` for anything that is not an
/// absolute ws, wss, http or https URL with a host.
///
/// `wss://Hub.Example.org:443/v1/ws` → `https://hub.example.org`; `ws://127.0.0.1:7800/v1/ws` →
/// `http://127.0.0.1:7800`.
pub fn hub_origin(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.trim().parse().ok()?;
    let (scheme, default_port) = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
        "ws" | "http" => ("http", 80),
        "wss" | "https" => ("https", 443),
        _ => return None,
    };
    let authority = uri.authority()?;
    origin(scheme, default_port, authority.host(), authority.port_u16())
}

/// The origins a request addressed to `host` (its `Host` header, `name[:port]`) may have come
/// from: the same name over http and over https, since a TLS proxy in front of the hub is
/// invisible here. Empty when `host` is not a valid authority.
pub fn origins_of_host(host: &str) -> Vec<String> {
    let Ok(authority) = host.trim().parse::<axum::http::uri::Authority>() else {
        return Vec::new();
    };
    if authority.as_str().contains('@') {
        return Vec::new();
    }
    let port = authority.port_u16();
    [("http", 80), ("https", 443)]
        .into_iter()
        .filter_map(|(scheme, default_port)| origin(scheme, default_port, authority.host(), port))
        .collect()
}

fn origin(scheme: &str, default_port: u16, host: &str, port: Option<u16>) -> Option<String> {
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_origins_are_what_a_browser_names() {
        // The same cases are in crates/p2pos-net/src/hub.rs and apps/web/src/lib/hubClient.test.ts.
        let cases = [
            ("wss://hub.example.org/v1/ws", Some("https://hub.example.org")),
            ("wss://Hub.Example.ORG:443/v1/ws", Some("https://hub.example.org")),
            ("wss://hub.example.org:8443/v1/ws", Some("https://hub.example.org:8443")),
            ("ws://127.0.0.1:7800/v1/ws", Some("http://127.0.0.1:7800")),
            ("ws://127.0.0.1:80/v1/ws", Some("http://127.0.0.1")),
            ("ws://[::1]:7800/v1/ws", Some("http://[::1]:7800")),
            ("https://hub.example.org/", Some("https://hub.example.org")),
            ("http://hub.example.org:8080", Some("http://hub.example.org:8080")),
            ("ftp://hub.example.org/", None),
            ("/v1/ws", None),
            ("not a url", None),
        ];
        for (url, origin) in cases {
            assert_eq!(hub_origin(url).as_deref(), origin, "{url}");
        }
        assert_eq!(
            auth_message("https://hub.example.org", "Y2hhbGxlbmdl"),
            "p2pos-hub-auth-v2|https://hub.example.org|Y2hhbGxlbmdl"
        );
    }

    #[test]
    fn a_host_header_names_its_origin_over_either_scheme() {
        assert_eq!(origins_of_host("Hub.Example.org"), ["http://hub.example.org", "https://hub.example.org"]);
        assert_eq!(origins_of_host("127.0.0.1:7800"), ["http://127.0.0.1:7800", "https://127.0.0.1:7800"]);
        assert_eq!(origins_of_host("hub.example.org:443"), ["http://hub.example.org:443", "https://hub.example.org"]);
        assert_eq!(origins_of_host("[::1]:80"), ["http://[::1]", "https://[::1]:80"]);
        assert!(origins_of_host("").is_empty());
        assert!(origins_of_host("a b").is_empty());
        assert!(origins_of_host("user@hub.example.org").is_empty());
    }
}
