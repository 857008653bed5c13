//! Signed records: every metadata change is `{body, signer, sig}`, signed over the exact body bytes.
//!
//! The body travels as base64 of the JSON bytes its author signed, so verifiers never depend on how
//! some other implementation would re-serialise an object. Verification is `verify_strict`:
//! non-canonical `S`, and small-order keys or `R`, are refused.
//!
//! A record's identity in a log is its [`RecordId`]: BLAKE3 of the body bytes, then the signature
//! bytes. It is defined here once; the node's log deduplicates by it.
//!
//! ```
//! use p2pos_core::{Identity, SignedRecord};
//! let me = Identity::generate()?;
//! let record = SignedRecord::sign(&me, &serde_json::json!({"type": "album", "id": "a1"}))?;
//! let verified = record.verify()?;
//! assert_eq!(verified.signer, me.id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signature;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Identity, IdentityId};

/// Why a record was refused. The `kind` names match `testvectors/records.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("malformed record: {0}")]
    Malformed(String),
    #[error("the record's signer is not a valid id: {0}")]
    Signer(#[from] crate::IdError),
    #[error("the signature does not match the body and signer")]
    Signature,
    #[error("the body could not be serialised: {0}")]
    Serialize(serde_json::Error),
}

impl RecordError {
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Malformed(_) | RecordError::Serialize(_) => "malformed",
            RecordError::Signer(_) => "signer",
            RecordError::Signature => "signature",
        }
    }
}

/// A record as it travels and is stored: fields are text so the JSON form is the wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRecord {
    /// Standard base64 (padded) of the exact JSON bytes that were signed.
    pub body: String,
    /// The author's readable id.
    pub signer: String,
    /// Standard base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// A record's identity: BLAKE3 of its body bytes, then its signature bytes. Two copies of one
/// signed record have one id; the same body signed twice (a new signature) has two.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 32]);

impl RecordId {
    /// The id of the record whose exact body bytes and signature bytes are given (as a log stores
    /// them). The signature is always 64 bytes, so the concatenation is unambiguous.
    pub fn of(body: &[u8], sig: &[u8]) -> Self {
        Self(*blake3::Hasher::new().update(body).update(sig).finalize().as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lower-case hex, as in `testvectors/vault-state.json`.
impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&blake3::Hash::from(self.0).to_hex())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// A record whose signature checked out, with its body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRecord {
    pub signer: IdentityId,
    pub body: Vec<u8>,
}

impl VerifiedRecord {
    /// Deserialises the body into the caller's type.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, RecordError> {
        serde_json::from_slice(&self.body).map_err(|e| RecordError::Malformed(format!("body: {e}")))
    }
}

impl SignedRecord {
    /// Serialises `body` once and signs those bytes.
    pub fn sign<T: Serialize>(author: &Identity, body: &T) -> Result<Self, RecordError> {
        let bytes = serde_json::to_vec(body).map_err(RecordError::Serialize)?;
        Self::sign_bytes(author, &bytes)
    }

    /// Signs body bytes that are already JSON; they must hold a JSON object.
    pub fn sign_bytes(author: &Identity, body: &[u8]) -> Result<Self, RecordError> {
        check_body(body)?;
        let sig = author.sign(body);
        Ok(Self { body: BASE64.encode(body), signer: author.id().to_string(), sig: BASE64.encode(sig.to_bytes()) })
    }

    /// This record's [`RecordId`]. Fails only when `body` or `sig` is not standard base64; the
    /// signature is not checked.
    pub fn id(&self) -> Result<RecordId, RecordError> {
        Ok(RecordId::of(&decode_base64(&self.body, "body")?, &decode_base64(&self.sig, "sig")?))
    }

    /// Checks the signature strictly over the decoded body bytes, then that the body is an object.
    pub fn verify(&self) -> Result<VerifiedRecord, RecordError> {
        let body = decode_base64(&self.body, "body")?;
        let sig_bytes: [u8; 64] = decode_base64(&self.sig, "sig")?
            .try_into()
            .map_err(|v: Vec<u8>| RecordError::Malformed(format!("sig is {} bytes, not 64", v.len())))?;
        let signer: IdentityId = self.signer.parse()?;
        signer
            .verifying_key()?
            .verify_strict(&body, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| RecordError::Signature)?;
        check_body(&body)?;
        Ok(VerifiedRecord { signer, body })
    }
}

fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>, RecordError> {
    // The STANDARD engine is strict: padding required, non-zero trailing bits refused.
    BASE64.decode(text).map_err(|e| RecordError::Malformed(format!("{field} is not standard base64: {e}")))
}

fn check_body(body: &[u8]) -> Result<(), RecordError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(RecordError::Malformed("body is JSON but not an object".into())),
        Err(e) => Err(RecordError::Malformed(format!("body is not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn author(seed: u8) -> Identity {
        Identity::from_seeds([seed; 32], [seed.wrapping_add(100); 32]).unwrap()
    }

    #[test]
    fn sign_then_verify_returns_the_exact_body() {
        let record = SignedRecord::sign(&author(1), &json!({"b": 1, "a": "é"})).unwrap();
        let verified = record.verify().unwrap();
        assert_eq!(verified.signer, author(1).id());
        let expected = serde_json::to_vec(&json!({"b": 1, "a": "é"})).unwrap();
        assert_eq!(verified.body, expected);
    }

    #[test]
    fn a_tampered_body_or_another_signer_fails() {
        let mut record = SignedRecord::sign(&author(1), &json!({"n": 1})).unwrap();
        let original = record.clone();
        record.body = BASE64.encode(br#"{"n":2}"#);
        assert_eq!(record.verify().unwrap_err().kind(), "signature");
        let mut other = original;
        other.signer = author(2).id().to_string();
        assert_eq!(other.verify().unwrap_err().kind(), "signature");
    }

    #[test]
    fn the_id_is_blake3_of_the_body_bytes_then_the_signature_bytes() {
        let record = SignedRecord::sign(&author(1), &json!({"n": 1})).unwrap();
        let (body, sig) = (BASE64.decode(&record.body).unwrap(), BASE64.decode(&record.sig).unwrap());
        let expected = *blake3::Hasher::new().update(&body).update(&sig).finalize().as_bytes();
        assert_eq!(record.id().unwrap().as_bytes(), &expected);
        assert_eq!(record.id().unwrap(), RecordId::of(&body, &sig));
        // Another signature over the same body is another record.
        let other = SignedRecord::sign(&author(2), &json!({"n": 1})).unwrap();
        assert_ne!(other.id().unwrap(), record.id().unwrap());
        let broken = SignedRecord { sig: "not base64!".into(), ..record };
        assert_eq!(broken.id().unwrap_err().kind(), "malformed");
    }

    #[test]
    fn non_object_bodies_are_refused() {
        assert_eq!(SignedRecord::sign(&author(1), &json!([1, 2])).unwrap_err().kind(), "malformed");
    }
}
