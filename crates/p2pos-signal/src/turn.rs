//! TURN REST credentials (the coturn `use-auth-secret` scheme) and the ICE server list.
//!
//! `username = "<expiry unix seconds>:<opaque id>"`, `password = base64(HMAC-SHA1(secret, username))`.
//! The same credentials work on coturn and on the hub's embedded TURN server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

/// Shorter shared secrets are refused: they could be brute-forced from one observed credential.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnConfigError {
    #[error(
        "the TURN secret is {found} bytes; it must be at least {MIN_SECRET_BYTES} \
         (set P2POS_TURN_SECRET or --turn-secret; generate one with `openssl rand -base64 48`, or run `p2pos signal --dev`)"
    )]
    SecretTooShort { found: usize },
}

/// TURN settings of the hub.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    secret: String,
    /// TURN URLs handed to clients, e.g. `turn:turn.example.org:3478?transport=udp`.
    pub urls: Vec<String>,
    /// Lifetime of issued credentials in seconds. Default 600.
    pub ttl_secs: u64,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig").field("urls", &self.urls).field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl TurnConfig {
    pub const DEFAULT_TTL_SECS: u64 = 600;

    pub fn new(secret: String, urls: Vec<String>, ttl_secs: u64) -> Result<Self, TurnConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TurnConfigError::SecretTooShort { found: secret.len() });
        }
        Ok(Self { secret, urls, ttl_secs })
    }

    /// Credentials valid until `now_unix + ttl` for an opaque id (never a person's identity).
    pub fn credentials(&self, opaque_id: &str, now_unix: u64) -> TurnCredentials {
        let username = format!("{}:{opaque_id}", now_unix + self.ttl_secs);
        let credential = password(&self.secret, &username);
        TurnCredentials { username, credential }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TurnCredentials {
    pub username: String,
    pub credential: String,
}

/// `base64(HMAC-SHA1(secret, username))`.
pub fn password(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(username.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Checks a REST credential as a TURN server does: right password and not expired.
pub fn verify(secret: &str, username: &str, password_given: &str, now_unix: u64) -> bool {
    let Some((expiry, _)) = username.split_once(':') else {
        return false;
    };
    let Ok(expiry) = expiry.parse::<u64>() else {
        return false;
    };
    if expiry < now_unix {
        return false;
    }
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(username.as_bytes());
    match BASE64.decode(password_given) {
        Ok(given) => mac.verify_slice(&given).is_ok(),
        Err(_) => false,
    }
}

/// The long-term key a TURN server needs for a REST username (`MD5(username:realm:password)`),
/// or `None` when the username is malformed or expired at `now_unix`.
pub fn rest_auth_key(secret: &str, username: &str, realm: &str, now_unix: u64) -> Option<Vec<u8>> {
    let expiry: u64 = username.split_once(':')?.0.parse().ok()?;
    if expiry < now_unix {
        return None;
    }
    Some(::turn::auth::generate_auth_key(username, realm, &password(secret, username)))
}

pub use p2pos_hub_proto::IceServer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_vector() {
        assert_eq!(password("north", "1700000000:alice"), "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
    }

    #[test]
    fn short_secrets_are_refused_with_guidance() {
        let err = TurnConfig::new("short".into(), vec![], 600).unwrap_err();
        assert!(err.to_string().contains("at least 32"));
        assert!(err.to_string().contains("--dev"));
    }

    #[test]
    fn issued_credentials_verify_until_they_expire() {
        let turn = TurnConfig::new("s".repeat(32), vec!["turn:127.0.0.1:3478".into()], 600).unwrap();
        let c = turn.credentials("abc", 1_000);
        assert_eq!(c.username, "1600:abc");
        assert!(verify(turn.secret(), &c.username, &c.credential, 1_599));
        assert!(!verify(turn.secret(), &c.username, &c.credential, 1_601), "expired");
        assert!(!verify(turn.secret(), "9999:abc", &c.credential, 1_000), "forged expiry");
        assert!(!verify("x".repeat(32).as_str(), &c.username, &c.credential, 1_000), "other secret");
    }
}
