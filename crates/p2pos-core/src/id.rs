//! Readable identity ids: an Ed25519 public key written so people can read it aloud and compare.
//!
//! The text form is Syncthing's device-id form (see `docs/FORMATS.md`): base32 of the key in four
//! quarters, each closed by a Luhn mod 32 check character, in eight groups of seven.
//!
//! ```
//! use p2pos_core::{Identity, IdentityId};
//! let id = Identity::generate()?.id();
//! let text = id.to_string(); // e.g. "MFRGGZD-IMFRGGZ-..."; 8 groups of 7
//! assert_eq!(text.to_lowercase().parse::<IdentityId>()?, id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const QUARTER: usize = 13;
const READABLE_LEN: usize = 4 * (QUARTER + 1);

/// Why a text is not a readable id. The `kind` names match the shared test vectors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("an id has 56 letters and digits (8 groups of 7), this has {found}")]
    Length { found: usize },
    #[error("'{character}' cannot appear in an id (only A-Z and 2-7)")]
    Character { character: char },
    #[error("the {} quarter of the id has a typo (its check letter does not match)", ordinal(*quarter))]
    Check { quarter: usize },
    #[error("the id is well formed but is not a usable public key")]
    Key,
}

impl IdError {
    /// The error kind used by `testvectors/ids.json`.
    pub fn kind(&self) -> &'static str {
        match self {
            IdError::Length { .. } => "length",
            IdError::Character { .. } => "character",
            IdError::Check { .. } => "check",
            IdError::Key => "key",
        }
    }
}

fn ordinal(n: usize) -> &'static str {
    ["1st", "2nd", "3rd", "4th"].get(n.wrapping_sub(1)).copied().unwrap_or("?")
}

/// A person's identity: their Ed25519 public key (checked usable at construction; kept as its
/// 32 bytes so ids are cheap map keys).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId([u8; 32]);

/// A node's identity: the Ed25519 public key in its data dir. Same text form as [`IdentityId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 32]);

macro_rules! readable_key_id {
    ($ty:ident) => {
        impl $ty {
            /// Wraps a public key, refusing encodings that are not usable keys (see [`IdError::Key`]).
            pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdError> {
                usable_key(&bytes).map(|_| Self(bytes))
            }

            /// Wraps the public half of a key pair this process holds (always usable).
            pub fn from_verifying_key(key: &VerifyingKey) -> Self {
                Self(key.to_bytes())
            }

            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The key, for verifying signatures (decompressed on each call).
            pub fn verifying_key(&self) -> Result<VerifyingKey, IdError> {
                usable_key(&self.0)
            }

            /// The first group of the readable form: short, for file names and log lines.
            pub fn short(&self) -> String {
                encode_readable(self.as_bytes())[..7].to_string()
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_bytes(parse_readable(s)?)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_readable(self.as_bytes()))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

readable_key_id!(IdentityId);
readable_key_id!(NodeId);

/// A key is usable when it is a canonical point encoding that is not of small order; a small
/// order key lets anyone produce signatures that lax verifiers accept.
fn usable_key(bytes: &[u8; 32]) -> Result<VerifyingKey, IdError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| IdError::Key)?;
    // Decompression accepts a few non-canonical encodings (y >= p); re-encoding exposes them.
    if key.is_weak() || key.to_edwards().compress().to_bytes() != *bytes {
        return Err(IdError::Key);
    }
    Ok(key)
}

fn luhn32(chunk: &[u8]) -> u8 {
    let mut factor = 1u32;
    let mut sum = 0u32;
    for &c in chunk {
        let code = ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32;
        let addend = factor * code;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    ALPHABET[((32 - sum % 32) % 32) as usize]
}

/// The readable form of any 32 bytes, whether or not they are a usable key (test vectors use this
/// to spell unusable keys; everything else goes through [`IdentityId`]'s `Display`).
pub fn encode_readable(key: &[u8; 32]) -> String {
    let b32 = BASE32_NOPAD.encode(key);
    let mut checked = Vec::with_capacity(READABLE_LEN);
    for chunk in b32.as_bytes().chunks(QUARTER) {
        checked.extend_from_slice(chunk);
        checked.push(luhn32(chunk));
    }
    checked.chunks(7).map(|g| std::str::from_utf8(g).unwrap_or_default()).collect::<Vec<_>>().join("-")
}

fn parse_readable(text: &str) -> Result<[u8; 32], IdError> {
    let cleaned: Vec<char> = text
        .trim()
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| match c.to_ascii_uppercase() {
            '0' => 'O',
            '1' => 'I',
            '8' => 'B',
            other => other,
        })
        .collect();
    if cleaned.len() != READABLE_LEN {
        return Err(IdError::Length { found: cleaned.len() });
    }
    if let Some(&bad) = cleaned.iter().find(|c| !c.is_ascii() || !ALPHABET.contains(&(**c as u8))) {
        return Err(IdError::Character { character: bad });
    }
    let bytes: Vec<u8> = cleaned.iter().map(|&c| c as u8).collect();
    let mut b32 = Vec::with_capacity(4 * QUARTER);
    for (i, quarter) in bytes.chunks(QUARTER + 1).enumerate() {
        let (data, check) = quarter.split_at(QUARTER);
        if luhn32(data) != check[0] {
            return Err(IdError::Check { quarter: i + 1 });
        }
        b32.extend_from_slice(data);
    }
    // 52 base32 characters carry 260 bits; the last 4 must be zero for a canonical 32-byte key.
    let decoded = BASE32_NOPAD.decode(&b32).map_err(|_| IdError::Key)?;
    let key: [u8; 32] = decoded.try_into().map_err(|_| IdError::Key)?;
    if BASE32_NOPAD.encode(&key).as_bytes() != b32.as_slice() {
        return Err(IdError::Key);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn sample() -> IdentityId {
        IdentityId::from_verifying_key(&SigningKey::from_bytes(&[7u8; 32]).verifying_key())
    }

    #[test]
    fn readable_form_round_trips_and_has_eight_groups_of_seven() {
        let id = sample();
        let text = id.to_string();
        assert_eq!(text.len(), 8 * 7 + 7);
        assert!(text.split('-').all(|g| g.len() == 7));
        assert_eq!(text.parse::<IdentityId>(), Ok(id));
    }

    #[test]
    fn parser_forgives_case_dashes_and_read_aloud_digits() {
        let id = sample();
        let sloppy = id.to_string().to_lowercase().replace('-', " ").replace('o', "0");
        assert_eq!(sloppy.parse::<IdentityId>(), Ok(id));
    }

    #[test]
    fn a_single_typo_is_caught_and_located() {
        let text = sample().to_string();
        let mut chars: Vec<char> = text.chars().collect();
        // Position 20 is inside the second quarter (characters 15..29 including dashes).
        chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(typo.parse::<IdentityId>(), Err(IdError::Check { quarter: 2 }));
    }

    #[test]
    fn small_order_keys_are_refused() {
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(IdentityId::from_bytes(identity_point), Err(IdError::Key));
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!("ABC".parse::<IdentityId>().unwrap_err().kind(), "length");
        let bad = format!("{}!", &sample().to_string().replace('-', "")[..55]);
        assert_eq!(bad.parse::<IdentityId>().unwrap_err().kind(), "character");
    }
}
