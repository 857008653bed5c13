//! WebSocket close codes the hub uses (docs/PROTOCOL.md). 1000–1009 are the standard codes; 4000+
//! are the hub's own, so a client can tell why it was closed without parsing the reason text.

/// The peer said goodbye (PeerJS `LEAVE`), or the client closes normally.
pub const NORMAL: u16 = 1000;
/// The hub is shutting down.
pub const GOING_AWAY: u16 = 1001;
/// A binary frame (the hub speaks text frames only).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Refused by policy (PeerJS: bad key, id or token; id taken).
pub const POLICY: u16 = 1008;
/// A message over the size limit.
pub const TOO_BIG: u16 = 1009;
/// Nothing heard within the idle timeout.
pub const IDLE: u16 = 4000;
/// No `hello` within the hello timeout.
pub const NO_HELLO: u16 = 4001;
/// A protocol violation (no `hello` first, unsupported version).
pub const PROTOCOL: u16 = 4002;
/// Far over the rate limit.
pub const FLOOD: u16 = 4003;
/// A newer connection took this one's PeerJS id.
pub const REPLACED: u16 = 4004;
/// The client does not read fast enough; its queue at the hub filled.
pub const SLOW_READER: u16 = 4005;
/// A `join` of `network` or `rv:` without a valid beacon token for the page's origin (missing,
/// malformed, forged, stale, or made for another origin); the reason says which.
pub const BEACON: u16 = 4012;
