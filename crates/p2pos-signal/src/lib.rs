//! The P2POS hub (`p2pos signal`): introduces peers, relays WebRTC signaling, proves identities,
//! hands out short-lived TURN credentials and enforces limits. It stores nothing and never sees
//! content: signaling payloads are opaque to it.
//!
//! [`hub::Hub`] is the sans-IO core (all state and rules, time as input); [`server`] is the axum
//! driver that owns sockets and timers. The messages themselves are typed in `p2pos-hub-proto`,
//! which the clients share. Protocols: `docs/PROTOCOL.md`.

pub mod beacon;
pub mod embedded_turn;
pub mod hub;
pub mod limits;
mod metrics;
mod native;
mod peerjs;
pub mod server;
pub mod turn;

pub use beacon::BeaconSecret;
pub use hub::{BeaconGrant, ConnId, Hub, HubConfig, HubStats, Namespace, Output, Protocol};
pub use limits::{Limits, Refusal};
pub use turn::{TurnConfig, TurnConfigError};
