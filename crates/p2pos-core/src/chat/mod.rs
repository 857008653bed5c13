//! Chat (`docs/PROTOCOL.md`, "Chat"): the protocol of two people who find each other nearby or
//! reach each other as contacts, prove their identities over a WebRTC data channel and talk.
//! Sans-IO: [`Session`] is one conversation's state machine (request/accept, the identity proof,
//! messages, images, receipts) and [`Rendezvous`] one special contact's recovery states and the
//! `rv:` names to be in; both take the wall clock (unix ms) as an argument and never read it. The
//! web app's twin is `apps/web/src/chat/`; `testvectors/chat.json` pins the bytes both make.
//!
//! A driver owns one [`Session`] per conversation and carries out what it asks:
//!
//! 1. create it: [`Session::request`] (a nearby stranger, by hub peer id), [`Session::asked`] (a
//!    `request` signal arrived), [`Session::call`] (ring a contact), [`Session::called`] (a
//!    contact's `call` arrived);
//! 2. feed it what happens: `handle_signal(from, signal, now)` for each chat signal with its `rq`,
//!    the person's `accept`/`decline`/`cancel`/`close`/`send_text`/…, `local_description` and
//!    `local_candidates` for what WebRTC made, `channel_open(now)`, `handle_text`/`handle_binary`
//!    for each frame, `channel_closed`;
//! 3. `handle_timeout(now)` once `poll_timeout()` has passed;
//! 4. after each call, `poll_output()` until `None`: signals to send, frames, WebRTC steps
//!    ([`Rtc`]) and [`Event`]s for the person.
//!
//! ```
//! use p2pos_core::chat::{ContactSecret, rv_name, slot_of};
//! let secret = ContactSecret::from_bytes([7; 32]);
//! let slot = slot_of(1_767_225_600_000); // 2026-01-01T00:00Z
//! assert_eq!(slot, 2_945_376);
//! assert!(rv_name(&secret, slot).starts_with("rv:"));
//! ```

mod crypto;
mod rendezvous;
mod session;
#[cfg(test)]
mod tests;
mod wire;

pub use crypto::{
    ContactSecret, NEARBY_TAGS, SLOT_MS, binding, derive_secret, known_proof, nearby_tag, nearby_tags,
    normalize_fingerprint, random_b64u16, random_bytes, rv_name, sdp_fingerprint, sign_binding, slot_of,
    verify_binding, verify_known,
};
pub use rendezvous::{ANNOUNCE_MS, PAUSE_AFTER_MS, Rendezvous, RvEvent, RvOutput, RvState, rv_names_at};
pub use session::{CloseReason, Contact, Event, Me, Output, Phase, Rtc, Session, SquatterReason, Timing, Violation};
pub use wire::{
    Ack, AckKind, Binary, CHANNEL_LABEL, Description, Empty, FRAME_CHUNK, FRAME_END, Frame, Hello, Img, MAX_CANDIDATES,
    MAX_CHUNK, MAX_FILE_NAME, MAX_IMAGE, MAX_NAME, MAX_TEXT, Msg, Parsed, SdpKind, Signal, SignalKind, VERSION,
    WireError, parse_binary, parse_frame, valid_name,
};

/// Why a chat step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("{0}")]
    Encoding(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("bad DTLS fingerprint: {0}")]
    Fingerprint(String),
    #[error("both sides have the same identity")]
    SameIdentity,
    /// A command that the session's phase does not allow (e.g. sending before the proof).
    #[error("cannot {action} while the chat is {phase}")]
    State { action: &'static str, phase: &'static str },
    /// What the person asked to send is not a valid frame.
    #[error(transparent)]
    Invalid(#[from] WireError),
}
