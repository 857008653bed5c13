//! Drop, the view-once transfer (`docs/PROTOCOL.md`, "Drop"): its link, the MAC-authenticated
//! ephemeral key exchange, the sealed frames, and the session protocol of both ends as sans-IO
//! state machines, [`Sender`] and [`Receiver`]. The CLI (`p2pos send`/`receive`) drives them over
//! the hub and a WebRTC data channel; the web app's twin is `apps/web/src/drop/`.
//!
//! A driver owns one machine and carries out what it asks:
//!
//! 1. create it: the sender after `create_room` (it waits for a hello), the receiver after
//!    `join` found the sender (its hello is the first output);
//! 2. feed it what happens, with the current time where it matters: `handle_signal(from, signal)`
//!    for each drop signal from the hub, `local_description`/`local_candidate` for what WebRTC
//!    made, `channel_open(now)`, `handle_frame(frame, now)`, `frame_sent(now)` (sender),
//!    `channel_closed`, `room_closed`, `hub_lost`, `cancel()` when the person cancels, and
//!    `viewed()` (receiver) once the image was shown or saved;
//! 3. `handle_timeout(now)` once `poll_timeout()` has passed (a stall);
//! 4. after each call, `poll_output()` until `None`: signals to send through the hub, frames for
//!    the data channel, WebRTC steps ([`Rtc`]) and events for the person;
//! 5. stop once `is_finished()`: a viewed drop, or one that [`Ended`].
//!
//! Keys and the secret are handed in, and time is passed in, so tests drive a sender and a
//! receiver back to back in virtual time (`tests.rs`).
//!
//! ```
//! use p2pos_core::drop::{DropSecret, EphemeralKey, Role, Sealer, Opener, FRAME_CHUNK};
//! let secret = DropSecret::generate()?;
//! let (sender, receiver) = (EphemeralKey::generate()?, EphemeralKey::generate()?);
//! let mac = secret.hello_mac(Role::Receiver, &receiver.public_b64(), "Ben", None);
//! assert!(secret.verify_hello(Role::Receiver, &receiver.public_b64(), "Ben", None, &mac));
//! let k1 = sender.session_key(&receiver.public_bytes(), &secret, &sender.public_b64(), &receiver.public_b64())?;
//! let k2 = receiver.session_key(&sender.public_bytes(), &secret, &sender.public_b64(), &receiver.public_b64())?;
//! let sealed = Sealer::new(&k1).seal(FRAME_CHUNK, b"pixels")?;
//! assert_eq!(sealed[0], FRAME_CHUNK); // the frame: kind, then the sealed bytes
//! assert_eq!(Opener::new(&k2).open(FRAME_CHUNK, &sealed[1..])?, b"pixels");
//! # Ok::<(), p2pos_core::drop::DropError>(())
//! ```

mod receiver;
mod sender;
#[cfg(test)]
mod tests;
mod wire;

pub use receiver::{PROGRESS_EVERY, Receiver, ReceiverEvent};
pub use sender::{Image, ImageError, Sender, SenderEvent};
pub use wire::{
    BrokenBy, Ended, Meta, Output, Rtc, STALLED_REASON, Signal, Timing, cancel_frame, progress_frame, viewed_frame,
};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Frame kinds on the `p2pos/drop` data channel.
pub const FRAME_META: u8 = 1;
pub const FRAME_CHUNK: u8 = 2;
pub const FRAME_CANCEL: u8 = 4;
pub const FRAME_PROGRESS: u8 = 5;
pub const FRAME_VIEWED: u8 = 6;
/// Largest plaintext in one `chunk` frame.
pub const CHUNK_PLAINTEXT: usize = 61_440;
/// Largest image a drop carries.
pub const MAX_SIZE: u64 = 32 * 1024 * 1024;
/// The view time a sender may choose, in seconds.
pub const SECONDS: std::ops::RangeInclusive<u32> = 5..=60;
/// The data channel's label.
pub const CHANNEL_LABEL: &str = "p2pos/drop";

/// Why a drop step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropError {
    #[error("this drop link is incomplete or damaged: {0}")]
    BadLink(String),
    #[error("the other side's key is unusable (all-zero shared secret)")]
    WeakKey,
    #[error("a frame did not decrypt: it was damaged, replayed or reordered")]
    Open,
    #[error("could not seal a frame")]
    Seal,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Which side of a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sender,
    Receiver,
}

/// The 128-bit secret in the link's fragment.
#[derive(Clone)]
pub struct DropSecret(Zeroizing<[u8; 16]>);

impl std::fmt::Debug for DropSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropSecret(…)")
    }
}

impl DropSecret {
    pub fn generate() -> Result<Self, DropError> {
        let mut bytes = Zeroizing::new([0u8; 16]);
        getrandom::fill(&mut *bytes).map_err(|e| DropError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses the fragment form (base64url, no padding, 22 characters).
    pub fn parse(text: &str) -> Result<Self, DropError> {
        let text = text.trim();
        if text.len() != 22 {
            let found = text.len();
            return Err(DropError::BadLink(format!(
                "the secret after '#' has {found} characters, not 22 (the link was cut short?)"
            )));
        }
        let bytes =
            B64URL.decode(text).map_err(|_| DropError::BadLink("the secret after '#' is not base64url".into()))?;
        let bytes: [u8; 16] = bytes
            .try_into()
            .map_err(|_| DropError::BadLink("the secret after '#' is not 16 bytes (the link was cut short?)".into()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The fragment form.
    pub fn encode(&self) -> String {
        B64URL.encode(*self.0)
    }

    /// `HKDF-SHA256(secret, info "p2pos-drop-v1 auth")`.
    pub fn auth_key(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(None, &*self.0).expand(b"p2pos-drop-v1 auth", &mut *out);
        out
    }

    /// The MAC of a `hello`: the receiver's over its key and name, the sender's over both keys
    /// (`receiver_pub` is `Some` for the sender's hello). Base64.
    pub fn hello_mac(&self, role: Role, own_pub_b64: &str, name: &str, receiver_pub_b64: Option<&str>) -> String {
        B64.encode(self.mac(role, own_pub_b64, name, receiver_pub_b64).finalize().into_bytes())
    }

    /// Checks a `hello` MAC in constant time.
    pub fn verify_hello(
        &self,
        role: Role,
        own_pub_b64: &str,
        name: &str,
        receiver_pub_b64: Option<&str>,
        mac_b64: &str,
    ) -> bool {
        let Ok(given) = B64.decode(mac_b64) else { return false };
        self.mac(role, own_pub_b64, name, receiver_pub_b64).verify_slice(&given).is_ok()
    }

    fn mac(&self, role: Role, own_pub_b64: &str, name: &str, receiver_pub_b64: Option<&str>) -> Hmac<Sha256> {
        let text = match role {
            Role::Receiver => format!("p2pos-drop-v1|receiver|{own_pub_b64}|{name}"),
            Role::Sender => format!("p2pos-drop-v1|sender|{own_pub_b64}|{}", receiver_pub_b64.unwrap_or_default()),
        };
        let key = self.auth_key();
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(text.as_bytes());
        mac
    }
}

/// One side's ephemeral X25519 key.
pub struct EphemeralKey(StaticSecret);

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EphemeralKey").field(&self.public_b64()).finish()
    }
}

impl EphemeralKey {
    pub fn generate() -> Result<Self, DropError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *bytes).map_err(|e| DropError::Random(e.to_string()))?;
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// A fixed key, for test vectors.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    pub fn public_bytes(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }

    /// The public key as it travels in a `hello` (standard base64).
    pub fn public_b64(&self) -> String {
        B64.encode(self.public_bytes())
    }

    /// The AES-256-GCM key both sides derive:
    /// `HKDF-SHA256(ikm = X25519, salt = secret, info = "p2pos-drop-v1 key|<pub_s>|<pub_r>")`.
    pub fn session_key(
        &self,
        other: &[u8; 32],
        secret: &DropSecret,
        sender_pub_b64: &str,
        receiver_pub_b64: &str,
    ) -> Result<Zeroizing<[u8; 32]>, DropError> {
        let shared = self.0.diffie_hellman(&PublicKey::from(*other));
        if !shared.was_contributory() {
            return Err(DropError::WeakKey);
        }
        let info = format!("p2pos-drop-v1 key|{sender_pub_b64}|{receiver_pub_b64}");
        let mut out = Zeroizing::new([0u8; 32]);
        let _ = Hkdf::<Sha256>::new(Some(&*secret.0), shared.as_bytes()).expand(info.as_bytes(), &mut *out);
        Ok(out)
    }
}

/// Decodes a public key from a `hello`.
pub fn parse_public(b64: &str) -> Result<[u8; 32], DropError> {
    B64.decode(b64)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| DropError::BadLink("a hello carried a malformed key".into()))
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// Seals the sender's frames in order (counter 0 for `meta`, then the chunks).
pub struct Sealer {
    cipher: Aes256Gcm,
    counter: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()), counter: 0 }
    }

    /// A whole frame: `kind | AES-256-GCM(plaintext, nonce = counter, aad = kind)`.
    pub fn seal(&mut self, kind: u8, plaintext: &[u8]) -> Result<Vec<u8>, DropError> {
        let nonce = nonce(self.counter);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &[kind] })
            .map_err(|_| DropError::Seal)?;
        self.counter += 1;
        let mut frame = Vec::with_capacity(1 + sealed.len());
        frame.push(kind);
        frame.extend_from_slice(&sealed);
        Ok(frame)
    }
}

/// Opens the sender's frames, in the order they were sealed.
pub struct Opener {
    cipher: Aes256Gcm,
    counter: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl Opener {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()), counter: 0 }
    }

    /// The plaintext of a frame's body (the frame without its kind byte).
    pub fn open(&mut self, kind: u8, body: &[u8]) -> Result<Vec<u8>, DropError> {
        let nonce = nonce(self.counter);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: body, aad: &[kind] })
            .map_err(|_| DropError::Open)?;
        self.counter += 1;
        Ok(plain)
    }
}

/// A drop link: `<web origin>/drop/<room code>#<secret>`.
#[derive(Debug, Clone)]
pub struct DropLink {
    /// `scheme://host[:port]` and any base path, without a trailing slash.
    pub origin: String,
    pub room: String,
    pub secret: DropSecret,
}

impl DropLink {
    pub fn parse(text: &str) -> Result<Self, DropError> {
        let text = text.trim();
        let (before, fragment) = text
            .split_once('#')
            .ok_or_else(|| DropError::BadLink("the link has no secret after '#' (it was cut short?)".into()))?;
        let secret = DropSecret::parse(fragment)?;
        let (origin, room) = before
            .rsplit_once("/drop/")
            .ok_or_else(|| DropError::BadLink("a drop link contains /drop/<room>".into()))?;
        let room = room.trim_end_matches('/');
        let well_formed = !room.is_empty() && room.len() <= 64 && room.bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Err(DropError::BadLink("the room code after /drop/ is malformed".into()));
        }
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return Err(DropError::BadLink("a drop link starts with http:// or https://".into()));
        }
        Ok(Self { origin: origin.to_string(), room: room.to_string(), secret })
    }

    /// The hub's native WebSocket URL for this link's origin.
    pub fn hub_url(&self) -> String {
        let rest = self.origin.strip_prefix("https://").map(|r| format!("wss://{r}"));
        let ws = rest.unwrap_or_else(|| format!("ws://{}", self.origin.trim_start_matches("http://")));
        format!("{ws}/v1/ws")
    }
}

impl std::fmt::Display for DropLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/drop/{}#{}", self.origin, self.room, self.secret.encode())
    }
}

#[cfg(test)]
mod crypto_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pair() -> (DropSecret, EphemeralKey, EphemeralKey) {
        (DropSecret::from_bytes([7; 16]), EphemeralKey::from_bytes([1; 32]), EphemeralKey::from_bytes([2; 32]))
    }

    #[test]
    fn both_sides_derive_the_same_key_and_frames_open_in_order_only() {
        let (secret, s, r) = pair();
        let (ps, pr) = (s.public_b64(), r.public_b64());
        let k1 = s.session_key(&r.public_bytes(), &secret, &ps, &pr).unwrap();
        let k2 = r.session_key(&s.public_bytes(), &secret, &ps, &pr).unwrap();
        assert_eq!(*k1, *k2);
        let mut sealer = Sealer::new(&k1);
        let meta = sealer.seal(FRAME_META, b"{}").unwrap();
        let chunk = sealer.seal(FRAME_CHUNK, b"abc").unwrap();
        let mut opener = Opener::new(&k2);
        // Out of order, or under another kind: refused.
        assert_eq!(opener.open(FRAME_CHUNK, &chunk[1..]), Err(DropError::Open));
        assert_eq!(opener.open(FRAME_CHUNK, &meta[1..]), Err(DropError::Open));
        assert_eq!(opener.open(FRAME_META, &meta[1..]).unwrap(), b"{}");
        assert_eq!(opener.open(FRAME_CHUNK, &chunk[1..]).unwrap(), b"abc");
        // Replayed: the counter moved on.
        assert_eq!(opener.open(FRAME_CHUNK, &chunk[1..]), Err(DropError::Open));
    }

    #[test]
    fn a_swapped_key_fails_the_mac() {
        let (secret, s, r) = pair();
        let mallory = EphemeralKey::from_bytes([3; 32]);
        let mac = secret.hello_mac(Role::Receiver, &r.public_b64(), "Ben", None);
        assert!(secret.verify_hello(Role::Receiver, &r.public_b64(), "Ben", None, &mac));
        assert!(!secret.verify_hello(Role::Receiver, &mallory.public_b64(), "Ben", None, &mac));
        assert!(!secret.verify_hello(Role::Receiver, &r.public_b64(), "Eve", None, &mac));
        let back = secret.hello_mac(Role::Sender, &s.public_b64(), "", Some(&r.public_b64()));
        assert!(secret.verify_hello(Role::Sender, &s.public_b64(), "", Some(&r.public_b64()), &back));
        assert!(!secret.verify_hello(Role::Sender, &s.public_b64(), "", Some(&mallory.public_b64()), &back));
        // Another secret (a wrong link) fails too.
        let other = DropSecret::from_bytes([8; 16]);
        assert!(!other.verify_hello(Role::Receiver, &r.public_b64(), "Ben", None, &mac));
        // The all-zero point is refused.
        assert_eq!(s.session_key(&[0; 32], &secret, "", "").err(), Some(DropError::WeakKey));
    }

    #[test]
    fn links_round_trip_and_damaged_ones_say_why() {
        let link = DropLink::parse("https://hub.example.org/drop/ABC123#BwcHBwcHBwcHBwcHBwcHBw").unwrap();
        assert_eq!((link.origin.as_str(), link.room.as_str()), ("https://hub.example.org", "ABC123"));
        assert_eq!(link.hub_url(), "wss://hub.example.org/v1/ws");
        assert_eq!(link.to_string(), "https://hub.example.org/drop/ABC123#BwcHBwcHBwcHBwcHBwcHBw");
        let local = DropLink::parse("http://127.0.0.1:7700/drop/X#BwcHBwcHBwcHBwcHBwcHBw").unwrap();
        assert_eq!(local.hub_url(), "ws://127.0.0.1:7700/v1/ws");
        for (bad, why) in [
            ("https://h/drop/ABC", "no secret"),
            ("https://h/drop/ABC#BwcHBwcHBwcHBwcH", "cut short"),
            ("https://h/drop/ABC#!!!!!!!!!!!!!!!!!!!!!!", "not base64url"),
            ("https://h/x/ABC#BwcHBwcHBwcHBwcHBwcHBw", "/drop/"),
            ("https://h/drop/#BwcHBwcHBwcHBwcHBwcHBw", "malformed"),
        ] {
            let error = DropLink::parse(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
