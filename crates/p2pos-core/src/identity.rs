//! A person's (or node's) secret keys: an Ed25519 signing key and a separate X25519 age identity.
//!
//! The identity file (see `docs/FORMATS.md`) is a valid age identity file whose comment lines also
//! carry the Ed25519 seed, so `age -d -i FILE` works on anything encrypted to the person. It is
//! normally stored encrypted with a passphrase, which is also the browser's backup format.

use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey};
use zeroize::Zeroizing;

use crate::IdentityId;
use crate::agefile::{self, CryptError};

const HEADER: &str = "# p2pos identity (v1). Keep this file secret: it is your signing and decryption key.";
const ID_PREFIX: &str = "# id: ";
const RECIPIENT_PREFIX: &str = "# recipient: ";
const SEED_PREFIX: &str = "# ed25519-seed: ";
const AGE_KEY_PREFIX: &str = "AGE-SECRET-KEY-1";

/// Why an identity file could not be used. The `kind` names match `testvectors/backups.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    #[error("not a p2pos identity file: {0}")]
    Format(String),
    #[error("the identity file is damaged: it names id {stated} but its key is {actual}")]
    IdMismatch { stated: String, actual: String },
    #[error(transparent)]
    Crypt(#[from] CryptError),
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

impl IdentityError {
    pub fn kind(&self) -> &'static str {
        match self {
            IdentityError::Format(_) | IdentityError::IdMismatch { .. } => "identity",
            IdentityError::Crypt(e) => e.kind(),
            IdentityError::Random(_) => "random",
        }
    }
}

/// Secret keys of one identity. Cloning copies secrets; keep clones short-lived.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    age: x25519::Identity,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl Identity {
    /// Fresh keys from the operating system's random generator.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|e| IdentityError::Random(e.to_string()))?;
        Ok(Self { signing: SigningKey::from_bytes(&seed), age: x25519::Identity::generate() })
    }

    /// Deterministic keys from two 32-byte seeds (test vectors, derived node keys).
    pub fn from_seeds(ed25519_seed: [u8; 32], x25519_secret: [u8; 32]) -> Result<Self, IdentityError> {
        Ok(Self { signing: SigningKey::from_bytes(&ed25519_seed), age: age_identity_from_bytes(&x25519_secret)? })
    }

    pub fn id(&self) -> IdentityId {
        IdentityId::from_verifying_key(&self.signing.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn age_identity(&self) -> &x25519::Identity {
        &self.age
    }

    pub fn recipient(&self) -> x25519::Recipient {
        self.age.to_public()
    }

    /// The plain identity file text (secret!).
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(BASE64.encode(self.signing.to_bytes()));
        Zeroizing::new(format!(
            "{HEADER}\n{ID_PREFIX}{}\n{RECIPIENT_PREFIX}{}\n{SEED_PREFIX}{}\n{}\n",
            self.id(),
            self.recipient(),
            seed.as_str(),
            self.age.to_string().expose_secret()
        ))
    }

    /// Parses the plain identity file text, checking the stated id against the keys.
    pub fn from_file_text(text: &str) -> Result<Self, IdentityError> {
        let mut seed = None;
        let mut stated_id = None;
        let mut age_keys = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(value) = line.strip_prefix(SEED_PREFIX) {
                seed = Some(value.trim());
            } else if let Some(value) = line.strip_prefix(ID_PREFIX) {
                stated_id = Some(value.trim());
            } else if line.starts_with(AGE_KEY_PREFIX) {
                age_keys.push(line);
            } else if !line.starts_with('#') {
                return Err(IdentityError::Format("unexpected line (not a comment or an age key)".into()));
            }
        }
        let seed = seed.ok_or_else(|| IdentityError::Format("no ed25519-seed line".into()))?;
        let seed: Zeroizing<Vec<u8>> = Zeroizing::new(
            BASE64.decode(seed).map_err(|_| IdentityError::Format("ed25519-seed is not base64".into()))?,
        );
        let seed: [u8; 32] =
            seed.as_slice().try_into().map_err(|_| IdentityError::Format("ed25519-seed is not 32 bytes".into()))?;
        let [age_key] = age_keys.as_slice() else {
            return Err(IdentityError::Format(format!("expected one AGE-SECRET-KEY line, found {}", age_keys.len())));
        };
        let age = x25519::Identity::from_str(age_key)
            .map_err(|e| IdentityError::Format(format!("bad AGE-SECRET-KEY: {e}")))?;
        let identity = Self { signing: SigningKey::from_bytes(&seed), age };
        if let Some(stated) = stated_id {
            let matches = stated.parse::<IdentityId>().is_ok_and(|id| id == identity.id());
            if !matches {
                return Err(IdentityError::IdMismatch {
                    stated: stated.to_string(),
                    actual: identity.id().to_string(),
                });
            }
        }
        Ok(identity)
    }

    /// The identity file encrypted with a passphrase (armored age, scrypt): the backup format.
    pub fn to_protected_file(&self, passphrase: &SecretString, work_factor: u8) -> Result<String, IdentityError> {
        Ok(agefile::encrypt_with_passphrase(self.to_file_text().as_bytes(), passphrase, work_factor)?)
    }

    /// Opens a passphrase-protected identity file.
    pub fn from_protected_file(file: &[u8], passphrase: &SecretString) -> Result<Self, IdentityError> {
        let plain = agefile::decrypt_with_passphrase(file, passphrase)?;
        let text = std::str::from_utf8(&plain).map_err(|_| IdentityError::Format("not UTF-8 text".into()))?;
        Self::from_file_text(text)
    }

    /// True when the bytes are an encrypted identity file that needs a passphrase.
    pub fn file_is_protected(file: &[u8]) -> bool {
        agefile::looks_like_age(file)
    }
}

fn age_identity_from_bytes(secret: &[u8; 32]) -> Result<x25519::Identity, IdentityError> {
    use bech32::ToBase32;
    let encoded = Zeroizing::new(
        bech32::encode("age-secret-key-", secret.to_base32(), bech32::Variant::Bech32)
            .map_err(|e| IdentityError::Format(e.to_string()))?
            .to_uppercase(),
    );
    x25519::Identity::from_str(&encoded).map_err(|e| IdentityError::Format(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_round_trips() {
        let me = Identity::generate().unwrap();
        let again = Identity::from_file_text(&me.to_file_text()).unwrap();
        assert_eq!(again.id(), me.id());
        assert_eq!(again.recipient().to_string(), me.recipient().to_string());
    }

    #[test]
    fn a_damaged_seed_is_caught_by_the_stated_id() {
        let me = Identity::from_seeds([1; 32], [2; 32]).unwrap();
        let good_seed = BASE64.encode([1u8; 32]);
        let text = me.to_file_text().replace(&good_seed, &BASE64.encode([3u8; 32]));
        assert!(matches!(Identity::from_file_text(&text), Err(IdentityError::IdMismatch { .. })));
    }

    #[test]
    fn protected_file_needs_the_passphrase() {
        let me = Identity::generate().unwrap();
        let pass = SecretString::from("a long enough passphrase".to_string());
        let file = me.to_protected_file(&pass, 10).unwrap();
        assert!(Identity::file_is_protected(file.as_bytes()));
        assert_eq!(Identity::from_protected_file(file.as_bytes(), &pass).unwrap().id(), me.id());
        let wrong = SecretString::from("nope".to_string());
        assert_eq!(Identity::from_protected_file(file.as_bytes(), &wrong).unwrap_err().kind(), "passphrase");
    }
}
