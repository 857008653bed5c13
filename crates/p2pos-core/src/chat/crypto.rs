//! The chat's cryptography (`docs/PROTOCOL.md`, "Chat", crypto): nearby tags, rendezvous names,
//! the channel binding and its signature, the shared secret of a new contact and the `known`
//! proof of an existing one. Every function here is pinned by `testvectors/chat.json`, which the
//! TypeScript twin (`apps/web/src/chat/crypto.ts`) runs too.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{Signature, Signer};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::ChatError;
use crate::{Identity, IdentityId};

/// Tags in a nearby profile: always exactly this many, padded with random ones.
pub const NEARBY_TAGS: usize = 32;
/// A rendezvous slot, in milliseconds (10 minutes, UTC).
pub const SLOT_MS: u64 = 600_000;

const NEARBY_CONTEXT: &str = "p2pos-chat-nearby-v1|";
const RV_CONTEXT: &str = "p2pos-chat-rv-v1|";
const BINDING_CONTEXT: &str = "p2pos-chat-v1|";
const SECRET_CONTEXT: &str = "p2pos-chat-secret-v1|";
const KNOWN_CONTEXT: &str = "p2pos-chat-known-v1|";

/// The 256-bit secret two contacts share.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ContactSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactSecret(…)")
    }
}

impl ContactSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The stored form (b64u, 43 characters).
    pub fn encode(&self) -> String {
        B64URL.encode(*self.0)
    }

    pub fn parse(text: &str) -> Result<Self, ChatError> {
        Ok(Self::from_bytes(decode_fixed::<32>(text, "a contact secret")?))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, context: &str, text: &str) -> [u8; 32] {
        hmac(&*self.0, &[context.as_bytes(), text.as_bytes()])
    }
}

/// 16 random bytes, b64u: a page session's nonce `s`, a request id `rq`, a message id.
pub fn random_b64u16() -> Result<String, ChatError> {
    Ok(B64URL.encode(random_bytes::<16>()?))
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ChatError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ChatError::Random(e.to_string()))?;
    Ok(bytes)
}

/// `hex(HMAC(secret, "p2pos-chat-nearby-v1|" + s)[..4])`: the tag a contact can find itself by.
pub fn nearby_tag(secret: &ContactSecret, session_nonce: &str) -> String {
    hex(&secret.mac(NEARBY_CONTEXT, session_nonce)[..4])
}

/// The `t` of a nearby profile: a tag per secret (the caller passes the 32 most recently seen),
/// padded with random tags to exactly [`NEARBY_TAGS`] and shuffled, so the count and the order
/// say nothing.
pub fn nearby_tags(secrets: &[ContactSecret], session_nonce: &str) -> Result<Vec<String>, ChatError> {
    let mut tags: Vec<String> = secrets.iter().take(NEARBY_TAGS).map(|s| nearby_tag(s, session_nonce)).collect();
    while tags.len() < NEARBY_TAGS {
        tags.push(hex(&random_bytes::<4>()?));
    }
    // Fisher-Yates with 32-bit draws; the modulo bias over at most 32 items is negligible.
    for i in (1..tags.len()).rev() {
        let j = (u32::from_le_bytes(random_bytes::<4>()?) as usize) % (i + 1);
        tags.swap(i, j);
    }
    Ok(tags)
}

/// The rendezvous slot of a wall-clock time: `floor(unix_ms / 600000)`.
pub fn slot_of(unix_ms: u64) -> u64 {
    unix_ms / SLOT_MS
}

/// `"rv:" + hex(HMAC(secret, "p2pos-chat-rv-v1|" + slot)[..16])`, the slot in decimal.
pub fn rv_name(secret: &ContactSecret, slot: u64) -> String {
    format!("rv:{}", hex(&secret.mac(RV_CONTEXT, &slot.to_string())[..16]))
}

/// What a side signs to bind its DTLS certificate to its identity, from its own point of view:
/// `"p2pos-chat-v1|" + my_id + "|" + their_id + "|" + my_fp + "|" + their_fp`, fingerprints
/// normalised ([`normalize_fingerprint`]). `their_id` is `None` (empty in the text) between new
/// contacts: neither knows the other's id before the hellos cross, and the two fingerprints
/// already tie the signature to this one channel.
pub fn binding(my_id: &IdentityId, their_id: Option<&IdentityId>, my_fp: &str, their_fp: &str) -> String {
    let their_id = their_id.map(ToString::to_string).unwrap_or_default();
    format!("{BINDING_CONTEXT}{my_id}|{their_id}|{my_fp}|{their_fp}")
}

/// The Ed25519 signature of a binding, b64u.
pub fn sign_binding(identity: &Identity, binding: &str) -> String {
    B64URL.encode(identity.signing_key().sign(binding.as_bytes()).to_bytes())
}

/// Checks `sig` (b64u) as `signer`'s signature of `binding`.
pub fn verify_binding(signer: &IdentityId, binding: &str, sig: &str) -> Result<(), ChatError> {
    let key = signer.verifying_key().map_err(|_| ChatError::Signature)?;
    let sig = decode_fixed::<64>(sig, "a signature").map_err(|_| ChatError::Signature)?;
    key.verify_strict(binding.as_bytes(), &Signature::from_bytes(&sig)).map_err(|_| ChatError::Signature)
}

/// The shared secret of two new contacts from the `k` each sent:
/// `HKDF-SHA256(ikm = k_lo || k_hi, salt = "", info = "p2pos-chat-secret-v1|" + id_lo + "|" + id_hi)`,
/// `lo`/`hi` ordering the readable ids by their bytes. Refuses one identity talking to itself.
pub fn derive_secret(a: (&IdentityId, &[u8; 32]), b: (&IdentityId, &[u8; 32])) -> Result<ContactSecret, ChatError> {
    let (a_text, b_text) = (a.0.to_string(), b.0.to_string());
    let ((lo_id, lo_k), (hi_id, hi_k)) = match a_text.cmp(&b_text) {
        std::cmp::Ordering::Less => ((a_text, a.1), (b_text, b.1)),
        std::cmp::Ordering::Greater => ((b_text, b.1), (a_text, a.1)),
        std::cmp::Ordering::Equal => return Err(ChatError::SameIdentity),
    };
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(lo_k);
    ikm[32..].copy_from_slice(hi_k);
    let info = format!("{SECRET_CONTEXT}{lo_id}|{hi_id}");
    let mut out = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(Some(&[]), &*ikm).expand(info.as_bytes(), &mut out);
    let secret = ContactSecret::from_bytes(out);
    out.fill(0);
    Ok(secret)
}

/// `b64u(HMAC(secret, "p2pos-chat-known-v1|" + binding_of_sender))`: an existing contact proves
/// it still holds the shared secret, bound to this very channel.
pub fn known_proof(secret: &ContactSecret, binding_of_sender: &str) -> String {
    B64URL.encode(secret.mac(KNOWN_CONTEXT, binding_of_sender))
}

/// Checks a `known` proof in constant time.
pub fn verify_known(secret: &ContactSecret, binding_of_sender: &str, known: &str) -> bool {
    let Ok(given) = B64URL.decode(known) else { return false };
    let mut mac = hmac_state(secret.as_bytes());
    mac.update(KNOWN_CONTEXT.as_bytes());
    mac.update(binding_of_sender.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// Normalises a DTLS fingerprint (`sha-256 ab:cd:…`) to `sha-256 AB:CD:…`, as the vault's
/// channel does; only sha-256 is accepted.
pub fn normalize_fingerprint(text: &str) -> Result<String, ChatError> {
    let mut parts = text.split_whitespace();
    let (Some(algorithm), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ChatError::Fingerprint(format!("'{text}' is not '<algorithm> <hex>'")));
    };
    let algorithm = algorithm.to_ascii_lowercase();
    if algorithm != "sha-256" {
        return Err(ChatError::Fingerprint(format!("{algorithm} is not supported (only sha-256)")));
    }
    let value = value.to_ascii_uppercase();
    let well_formed = value.split(':').count() == 32
        && value.split(':').all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(ChatError::Fingerprint("a sha-256 fingerprint is 32 hex bytes separated by ':'".into()));
    }
    Ok(format!("{algorithm} {value}"))
}

/// The one DTLS fingerprint an SDP carries, normalised.
pub fn sdp_fingerprint(sdp: &str) -> Result<String, ChatError> {
    let mut found: Option<String> = None;
    for line in sdp.lines() {
        let Some(rest) = line.trim().strip_prefix("a=fingerprint:") else { continue };
        let fingerprint = normalize_fingerprint(rest)?;
        match &found {
            Some(f) if *f != fingerprint => {
                return Err(ChatError::Fingerprint("the SDP carries several DTLS fingerprints".into()));
            }
            _ => found = Some(fingerprint),
        }
    }
    found.ok_or_else(|| ChatError::Fingerprint("the SDP carries no DTLS fingerprint".into()))
}

/// Decodes b64u of exactly `N` bytes.
pub(crate) fn decode_fixed<const N: usize>(text: &str, what: &str) -> Result<[u8; N], ChatError> {
    B64URL
        .decode(text)
        .ok()
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or_else(|| ChatError::Encoding(format!("{what} is not {N} bytes of base64url")))
}

fn hmac_state(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_state(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
