//! The hub's wire protocol (docs/PROTOCOL.md), and nothing else: what the hub and its clients say
//! to each other, as types. No sockets, no clock, no tokio. The hub (`p2pos-signal`) and the Rust
//! client (`p2pos-net::hub`) both import it; neither is imported by it (as Syncthing's
//! `lib/protocol` knows nothing of its model). The web app's `hubClient.ts` speaks the same JSON,
//! pinned by the tests in `tests/wire.rs`.
//!
//! - [`native`]: `/v1/ws`, one JSON object per WebSocket text frame. [`native::ClientRequest`] is
//!   what a client writes; [`native::ClientMessage`] is how the hub reads any client message
//!   (one flat, lenient pass; each handler checks the fields it needs); [`native::ServerMessage`]
//!   is what the hub writes and clients read.
//! - [`peerjs`]: the PeerJS server protocol on `/peerjs`.
//! - [`close`]: the WebSocket close codes the hub uses.
//! - [`login`]: what an identity signs to log in, and the origin rule that names the hub in it.
//!
//! ```
//! use p2pos_hub_proto::native::{ClientRequest, VERSION};
//!
//! let hello = ClientRequest::Hello { rid: None, v: VERSION, profile: None };
//! assert_eq!(serde_json::to_string(&hello).unwrap(), r#"{"type":"hello","v":1}"#);
//! ```

pub mod close;
pub mod login;
pub mod native;
pub mod peerjs;

pub use login::{AUTH_CONTEXT, auth_message, hub_origin, origins_of_host};
pub use native::{IceServer, OpaqueJson, VERSION};

/// Serialises a message. Our message types always serialise (string keys, no maps of other
/// keys, no failing `Serialize` impls); an empty object is a safe fallback all the same.
pub fn to_text<T: serde::Serialize>(message: &T) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| "{}".to_string())
}
