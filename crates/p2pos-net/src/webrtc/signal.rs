//! What two endpoints say to each other through the hub to set up a connection, and how the
//! DTLS certificate of each side is bound to its node key.
//!
//! Every payload is a JSON object with `"p2pos": "rtc"` and a `kind`:
//!
//! | kind | fields | meaning |
//! |---|---|---|
//! | `offer` | `session`, `sdp`, `fingerprint`, `sig` | a new connection, from the offerer |
//! | `answer` | `session`, `sdp`, `fingerprint`, `sig` | the answerer accepts it |
//! | `candidates` | `session`, `candidates` | trickled ICE candidates (`RTCIceCandidateInit` JSON) |
//! | `close` | `session`, `code`, `message` | the sender gave up or refused this session |
//!
//! `session` is a random id the offerer picks; it names one connection attempt.
//!
//! **Binding.** `fingerprint` is the sender's DTLS certificate fingerprint as it appears in its
//! SDP, normalised to `sha-256 AB:CD:…` (algorithm lowercase, hex uppercase). `sig` is the
//! sender's node key's Ed25519 signature (base64) over `p2pos-rtc-v1|<from>|<to>|<fingerprint>`
//! with both node ids in their text form. The receiver verifies it against the node id the hub
//! proved for the sender, with itself as `to`, and checks that the SDP carries exactly that
//! fingerprint. DTLS then refuses any certificate that does not match the SDP's fingerprint, so
//! the data channel can only end at the holder of the node key. A replayed offer or answer is
//! useless: completing DTLS needs the certificate's private key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey};
use p2pos_core::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webrtc::peer_connection::RTCIceCandidateInit;

/// The `p2pos` field value that marks a hub signal as belonging to the WebRTC transport.
pub const SIGNAL_TAG: &str = "rtc";

/// Prefix of the signed binding message.
pub const BINDING_CONTEXT: &str = "p2pos-rtc-v1|";

/// Whether a hub signal's payload belongs to the WebRTC transport (`"p2pos": "rtc"`).
pub fn is_rtc_signal(payload: &Value) -> bool {
    payload.get("p2pos").and_then(Value::as_str) == Some(SIGNAL_TAG)
}

/// One WebRTC signaling message (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RtcSignal {
    Offer { session: String, sdp: String, fingerprint: String, sig: String },
    Answer { session: String, sdp: String, fingerprint: String, sig: String },
    Candidates { session: String, candidates: Vec<RTCIceCandidateInit> },
    Close { session: String, code: String, message: String },
}

impl RtcSignal {
    pub fn session(&self) -> &str {
        match self {
            RtcSignal::Offer { session, .. }
            | RtcSignal::Answer { session, .. }
            | RtcSignal::Candidates { session, .. }
            | RtcSignal::Close { session, .. } => session,
        }
    }

    /// The payload to hand to the hub: this message plus `"p2pos": "rtc"`.
    pub fn to_payload(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("p2pos".into(), Value::String(SIGNAL_TAG.into()));
        }
        value
    }

    /// Parses a hub payload; `None` when it is not a WebRTC signal at all.
    pub fn from_payload(payload: &Value) -> Option<Result<Self, serde_json::Error>> {
        if !is_rtc_signal(payload) {
            return None;
        }
        Some(serde_json::from_value(payload.clone()))
    }
}

/// Why the other side's DTLS certificate is not bound to the expected node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    #[error("the SDP carries no DTLS fingerprint")]
    NoFingerprint,
    #[error("the SDP carries several different DTLS fingerprints")]
    SeveralFingerprints,
    #[error("unsupported fingerprint algorithm '{0}' (only sha-256)")]
    UnsupportedAlgorithm(String),
    #[error("the signed fingerprint ({signed}) is not the one in the SDP ({sdp})")]
    FingerprintMismatch { signed: String, sdp: String },
    #[error("the DTLS fingerprint signature does not verify for {0}")]
    BadSignature(NodeId),
    #[error("malformed binding: {0}")]
    Malformed(String),
}

impl BindingError {
    /// A stable code, sent to the other side in a `close` signal.
    pub fn code(&self) -> &'static str {
        match self {
            BindingError::NoFingerprint | BindingError::SeveralFingerprints => "bad_sdp_fingerprint",
            BindingError::UnsupportedAlgorithm(_) => "unsupported_fingerprint",
            BindingError::FingerprintMismatch { .. } => "fingerprint_mismatch",
            BindingError::BadSignature(_) => "bad_fingerprint_signature",
            BindingError::Malformed(_) => "bad_binding",
        }
    }
}

/// Normalises a fingerprint (`sha-256 ab:cd:…`) to `sha-256 AB:CD:…`.
pub fn normalize_fingerprint(text: &str) -> Result<String, BindingError> {
    let mut parts = text.split_whitespace();
    let (Some(algorithm), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BindingError::Malformed(format!("fingerprint '{text}' is not '<algorithm> <hex>'")));
    };
    let algorithm = algorithm.to_ascii_lowercase();
    if algorithm != "sha-256" {
        return Err(BindingError::UnsupportedAlgorithm(algorithm));
    }
    let value = value.to_ascii_uppercase();
    let well_formed = value.split(':').count() == 32
        && value.split(':').all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(BindingError::Malformed("a sha-256 fingerprint is 32 hex bytes separated by ':'".into()));
    }
    Ok(format!("{algorithm} {value}"))
}

/// The one DTLS fingerprint an SDP carries (session or media level), normalised.
pub fn sdp_fingerprint(sdp: &str) -> Result<String, BindingError> {
    let mut found: Option<String> = None;
    for line in sdp.lines() {
        let Some(rest) = line.trim().strip_prefix("a=fingerprint:") else { continue };
        let fingerprint = normalize_fingerprint(rest)?;
        match &found {
            Some(f) if *f != fingerprint => return Err(BindingError::SeveralFingerprints),
            _ => found = Some(fingerprint),
        }
    }
    found.ok_or(BindingError::NoFingerprint)
}

/// The exact bytes a node signs to bind its DTLS certificate to its key.
pub fn binding_message(from: &NodeId, to: &NodeId, fingerprint: &str) -> Vec<u8> {
    format!("{BINDING_CONTEXT}{from}|{to}|{fingerprint}").into_bytes()
}

/// Signs the fingerprint of `sdp` (this node's own description) for `to`. Returns the normalised
/// fingerprint and the base64 signature.
pub fn sign_binding(key: &SigningKey, to: &NodeId, sdp: &str) -> Result<(String, String), BindingError> {
    let fingerprint = sdp_fingerprint(sdp)?;
    let from = NodeId::from_verifying_key(&key.verifying_key());
    let sig = key.sign(&binding_message(&from, to, &fingerprint));
    Ok((fingerprint, B64.encode(sig.to_bytes())))
}

/// Checks the other side's binding: `sig` is `from`'s signature for `to` over `fingerprint`, and
/// `sdp` (the description received from `from`) carries exactly that fingerprint.
pub fn verify_binding(from: &NodeId, to: &NodeId, sdp: &str, fingerprint: &str, sig: &str) -> Result<(), BindingError> {
    let signed = normalize_fingerprint(fingerprint)?;
    let in_sdp = sdp_fingerprint(sdp)?;
    let key = from.verifying_key().map_err(|e| BindingError::Malformed(e.to_string()))?;
    let sig = B64
        .decode(sig)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| BindingError::Malformed("signature is not 64 bytes of base64".into()))?;
    // The signature covers the fingerprint exactly as sent; normalising first would let a
    // differently spelled but equal fingerprint through, which is harmless, but keep it strict.
    key.verify_strict(&binding_message(from, to, fingerprint), &sig).map_err(|_| BindingError::BadSignature(*from))?;
    if signed != in_sdp {
        return Err(BindingError::FingerprintMismatch { signed, sdp: in_sdp });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn id(k: &SigningKey) -> NodeId {
        NodeId::from_verifying_key(&k.verifying_key())
    }

    const FP_A: &str =
        "sha-256 0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9";
    const FP_B: &str =
        "sha-256 FF:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9";

    fn sdp(fp: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\na=fingerprint:{fp}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:{fp}\r\n"
        )
    }

    #[test]
    fn a_signed_binding_verifies_for_the_right_pair_only() {
        let (oak, pine, elm) = (key(1), key(2), key(3));
        let offer = sdp(FP_A);
        let (fingerprint, sig) = sign_binding(&oak, &id(&pine), &offer).unwrap();
        assert!(fingerprint.starts_with("sha-256 0A:1B"));
        verify_binding(&id(&oak), &id(&pine), &offer, &fingerprint, &sig).unwrap();
        // Someone else claims it, or it is relayed to another node.
        assert_eq!(
            verify_binding(&id(&elm), &id(&pine), &offer, &fingerprint, &sig),
            Err(BindingError::BadSignature(id(&elm)))
        );
        assert_eq!(
            verify_binding(&id(&oak), &id(&elm), &offer, &fingerprint, &sig),
            Err(BindingError::BadSignature(id(&oak)))
        );
    }

    #[test]
    fn an_sdp_with_another_certificate_is_refused() {
        let (oak, pine) = (key(1), key(2));
        let (fingerprint, sig) = sign_binding(&oak, &id(&pine), &sdp(FP_A)).unwrap();
        let swapped = sdp(FP_B);
        assert!(matches!(
            verify_binding(&id(&oak), &id(&pine), &swapped, &fingerprint, &sig),
            Err(BindingError::FingerprintMismatch { .. })
        ));
        let two = format!("{}a=fingerprint:{FP_B}\r\n", sdp(FP_A));
        assert_eq!(sdp_fingerprint(&two), Err(BindingError::SeveralFingerprints));
        assert_eq!(sdp_fingerprint("v=0\r\n"), Err(BindingError::NoFingerprint));
        assert!(matches!(
            normalize_fingerprint("sha-1 0A:1B"),
            Err(BindingError::UnsupportedAlgorithm(a)) if a == "sha-1"
        ));
    }

    #[test]
    fn payloads_round_trip_with_the_tag() {
        let signal = RtcSignal::Close { session: "s1".into(), code: "glare".into(), message: "m".into() };
        let payload = signal.to_payload();
        assert_eq!(payload["p2pos"], "rtc");
        assert_eq!(payload["kind"], "close");
        assert_eq!(RtcSignal::from_payload(&payload).unwrap().unwrap(), signal);
        assert!(RtcSignal::from_payload(&serde_json::json!({"p2pos": "enrol"})).is_none());
    }
}
