//! Beacon tokens and network proofs: the hub's short-lived MACs that gate the `network` namespace
//! and `rv:` names (docs/PROTOCOL.md, "Beacon").
//!
//! - A **beacon token** `b1.<slot>.<mac>` says "this hub handed a page of `origin` a token in
//!   10-minute slot `slot`". It is valid in its slot and the next, and only on a WebSocket whose
//!   `Origin` is the origin it was made for. It is spam mitigation, not DRM: any script can fetch
//!   one and send any `Origin`.
//! - A **network proof** `n1.<expiry>.<addr>.<mac>` says "a request from the address key `addr`
//!   (IPv4 /32 or IPv6 /64) reached this hub", valid until `expiry` (Unix seconds). A browser
//!   that reaches the hub over IPv4 and over IPv6 fetches one over the other family and joins
//!   both network namespaces with it.
//!
//! Pure functions of a key, the text and the Unix time passed in: no clock is read here.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::address_key;

/// Length of a beacon slot.
pub const SLOT_SECS: u64 = 600;
/// How long a network proof is valid.
pub const PROOF_TTL_SECS: u64 = 60;
/// Shortest configured beacon secret.
pub const MIN_SECRET_BYTES: usize = 32;
/// Bytes of HMAC kept in a token or proof (128 bits).
const MAC_BYTES: usize = 16;

/// The key of beacon tokens and network proofs: at least [`MIN_SECRET_BYTES`] bytes, shared by
/// every hub behind one name (so a token from one is good at the others). Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct BeaconSecret(Vec<u8>);

/// A configured beacon secret is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a beacon secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

impl BeaconSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    pub(crate) fn random(rng: &mut impl rand::Rng) -> Self {
        let bytes: [u8; 32] = rng.random();
        Self(bytes.to_vec())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for BeaconSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeaconSecret(..)")
    }
}

/// Why a beacon token was refused; the text is the close reason the client sees (code 4012).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BeaconError {
    #[error("beacon token missing: joining network or rv: needs one from GET /v1/beacon")]
    Missing,
    #[error("malformed beacon token (b1.<slot>.<mac>)")]
    Malformed,
    #[error("no Origin header: beacon tokens are for pages of this hub")]
    NoOrigin,
    #[error("beacon token made for another origin")]
    ForeignOrigin,
    #[error("forged beacon token: its MAC does not verify")]
    Forged,
    #[error("stale beacon token: reload the page")]
    Stale,
    #[error("beacon token from a future slot: the hub's clock went back")]
    Future,
}

/// Why a network proof was refused (answered with `error` `bad_proof`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("malformed network proof (n1.<expiry>.<addr>.<mac>)")]
    Malformed,
    #[error("forged network proof: its MAC does not verify")]
    Forged,
    #[error("expired network proof: fetch a fresh one from GET /v1/network-proof")]
    Expired,
}

/// The beacon slot of a Unix time.
pub fn slot(unix_secs: u64) -> u64 {
    unix_secs / SLOT_SECS
}

/// Seconds until a token made at `unix_secs` stops being valid (the end of the next slot).
pub fn expires_in_secs(unix_secs: u64) -> u64 {
    (slot(unix_secs) + 2) * SLOT_SECS - unix_secs
}

fn mac(key: &[u8], text: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the error case cannot happen.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(text.as_bytes());
    mac
}

fn beacon_text(slot: u64, origin: &str) -> String {
    format!("p2pos-beacon-v1|{slot}|{origin}")
}

fn proof_text(expiry: u64, addr: IpAddr) -> String {
    format!("p2pos-network-proof-v1|{expiry}|{addr}")
}

fn truncated(mac: Hmac<Sha256>) -> String {
    B64U.encode(&mac.finalize().into_bytes()[..MAC_BYTES])
}

/// The token for a page of `origin` in `slot`.
pub fn token(key: &[u8], slot: u64, origin: &str) -> String {
    format!("b1.{slot}.{}", truncated(mac(key, &beacon_text(slot, origin))))
}

/// Splits `b1.<slot>.<mac>`.
fn parse_token(token: &str) -> Option<(u64, [u8; MAC_BYTES])> {
    let rest = token.strip_prefix("b1.")?;
    let (slot, mac) = rest.split_once('.')?;
    if slot.is_empty() || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mac: [u8; MAC_BYTES] = B64U.decode(mac).ok()?.try_into().ok()?;
    Some((slot.parse().ok()?, mac))
}

fn verifies(key: &[u8], slot: u64, origin: &str, tag: &[u8]) -> bool {
    mac(key, &beacon_text(slot, origin)).verify_truncated_left(tag).is_ok()
}

/// Checks `token` on a WebSocket whose `Origin` header was `origin`, at `unix_secs`. `own_origins`
/// are the hub's other origins, only to tell a token made for one of them from a forgery.
pub fn check_token(
    key: &[u8],
    token: Option<&str>,
    origin: Option<&str>,
    own_origins: &[String],
    unix_secs: u64,
) -> Result<(), BeaconError> {
    let token = token.ok_or(BeaconError::Missing)?;
    let (token_slot, tag) = parse_token(token).ok_or(BeaconError::Malformed)?;
    let origin = origin.ok_or(BeaconError::NoOrigin)?;
    if !verifies(key, token_slot, origin, &tag) {
        let made_elsewhere = own_origins.iter().any(|o| o != origin && verifies(key, token_slot, o, &tag));
        return Err(if made_elsewhere || !own_origins.iter().any(|o| o == origin) {
            BeaconError::ForeignOrigin
        } else {
            BeaconError::Forged
        });
    }
    let current = slot(unix_secs);
    if token_slot > current {
        return Err(BeaconError::Future);
    }
    if token_slot + 1 < current {
        return Err(BeaconError::Stale);
    }
    Ok(())
}

/// A proof that a request came from `ip`'s address key, valid until `unix_secs + PROOF_TTL_SECS`.
pub fn network_proof(key: &[u8], ip: IpAddr, unix_secs: u64) -> String {
    let addr = address_key(ip);
    let expiry = unix_secs + PROOF_TTL_SECS;
    format!("n1.{expiry}.{addr}.{}", truncated(mac(key, &proof_text(expiry, addr))))
}

/// The address key a network proof vouches for, if it is genuine and unexpired at `unix_secs`.
pub fn check_network_proof(key: &[u8], proof: &str, unix_secs: u64) -> Result<IpAddr, ProofError> {
    let rest = proof.strip_prefix("n1.").ok_or(ProofError::Malformed)?;
    let (expiry, rest) = rest.split_once('.').ok_or(ProofError::Malformed)?;
    // An IPv4 address has dots of its own; the MAC (base64url) has none.
    let (addr, tag) = rest.rsplit_once('.').ok_or(ProofError::Malformed)?;
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProofError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| ProofError::Malformed)?;
    let addr: IpAddr = addr.parse().map_err(|_| ProofError::Malformed)?;
    let tag = B64U.decode(tag).map_err(|_| ProofError::Malformed)?;
    if tag.len() != MAC_BYTES || address_key(addr) != addr {
        return Err(ProofError::Malformed);
    }
    mac(key, &proof_text(expiry, addr)).verify_truncated_left(&tag).map_err(|_| ProofError::Forged)?;
    if unix_secs > expiry {
        return Err(ProofError::Expired);
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const HUB: &str = "https://hub.example.org";

    #[test]
    fn a_secret_is_at_least_32_bytes_and_never_printed() {
        assert_eq!(BeaconSecret::new(vec![1; 31]), Err(SecretTooShort(31)));
        let secret = BeaconSecret::new(KEY).unwrap();
        assert_eq!(format!("{secret:?}"), "BeaconSecret(..)");
    }

    #[test]
    fn a_token_names_its_slot_and_origin() {
        let t = token(KEY, 3_000_000, HUB);
        assert!(t.starts_with("b1.3000000."), "{t}");
        assert_eq!(t.len(), "b1.3000000.".len() + 22, "16 bytes of MAC in base64url");
        let now = 3_000_000 * SLOT_SECS + 5;
        assert_eq!(check_token(KEY, Some(&t), Some(HUB), &[HUB.into()], now), Ok(()));
        assert_eq!(expires_in_secs(now), 2 * SLOT_SECS - 5);
    }

    #[test]
    fn malformed_tokens_and_proofs_are_named() {
        let own = [HUB.to_string()];
        for bad in ["", "b1", "b1.", "b1.12", "b1.x.AAAAAAAAAAAAAAAAAAAAAA", "b2.1.AAAAAAAAAAAAAAAAAAAAAA", "b1.1.AAAA"]
        {
            assert_eq!(check_token(KEY, Some(bad), Some(HUB), &own, 0), Err(BeaconError::Malformed), "{bad:?}");
        }
        for bad in ["", "n1.5.1.2.3.4", "n1.x.192.0.2.1.AAAAAAAAAAAAAAAAAAAAAA", "n1.5.notanip.AAAAAAAAAAAAAAAAAAAAAA"]
        {
            assert_eq!(check_network_proof(KEY, bad, 0), Err(ProofError::Malformed), "{bad:?}");
        }
        // An IPv6 address that is not its own /64 key is not what the hub makes.
        assert_eq!(check_network_proof(KEY, "n1.5.2001:db8::1.AAAAAAAAAAAAAAAAAAAAAA", 0), Err(ProofError::Malformed));
    }

    #[test]
    fn network_proofs_bind_the_address_key_for_a_minute() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let proof = network_proof(KEY, v6, 1000);
        assert!(proof.starts_with("n1.1060.2001:db8:1:2::."), "{proof}");
        assert_eq!(check_network_proof(KEY, &proof, 1060), Ok("2001:db8:1:2::".parse().unwrap()));
        assert_eq!(check_network_proof(KEY, &proof, 1061), Err(ProofError::Expired));
        assert_eq!(check_network_proof(b"another key, just as long as it..", &proof, 1000), Err(ProofError::Forged));
        let v4 = network_proof(KEY, "192.0.2.7".parse().unwrap(), 1000);
        assert_eq!(check_network_proof(KEY, &v4, 1000), Ok("192.0.2.7".parse().unwrap()));
        let moved = v4.replace("192.0.2.7", "192.0.2.8");
        assert_eq!(check_network_proof(KEY, &moved, 1000), Err(ProofError::Forged));
    }
}
