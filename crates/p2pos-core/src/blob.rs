//! Content addresses: a blob's id is the BLAKE3 hash of its (cipher)text, written as 64 hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a blob id is 64 lowercase hex digits")]
pub struct BlobIdError;

/// BLAKE3 of a blob's bytes. Recomputed on every ingest; never trusted from the sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId([u8; 32]);

impl BlobId {
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The id from its 32 bytes (as stored in a database).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_hash(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Incremental hashing for streams: feed chunks, then [`BlobHasher::finish`].
    pub fn hasher() -> BlobHasher {
        BlobHasher(blake3::Hasher::new())
    }
}

/// Streaming BLAKE3 for large blobs.
#[derive(Debug, Clone, Default)]
pub struct BlobHasher(blake3::Hasher);

impl BlobHasher {
    pub fn update(&mut self, chunk: &[u8]) -> &mut Self {
        self.0.update(chunk);
        self
    }

    pub fn finish(&self) -> BlobId {
        BlobId::from_hash(self.0.finalize())
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&blake3::Hash::from(self.0).to_hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

impl FromStr for BlobId {
    type Err = BlobIdError;
    fn from_str(s: &str) -> Result<Self, BlobIdError> {
        // Only the canonical lowercase form, so one blob has exactly one name (and one file path).
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(BlobIdError);
        }
        blake3::Hash::from_hex(s).map(Self::from_hash).map_err(|_| BlobIdError)
    }
}

impl Serialize for BlobId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_and_one_shot_agree() {
        let data = vec![42u8; 300_000];
        let mut h = BlobId::hasher();
        data.chunks(65_536).for_each(|c| {
            h.update(c);
        });
        assert_eq!(h.finish(), BlobId::of(&data));
    }

    #[test]
    fn only_canonical_hex_parses() {
        let id = BlobId::of(b"x");
        assert_eq!(id.to_string().parse::<BlobId>(), Ok(id));
        assert!(id.to_string().to_uppercase().parse::<BlobId>().is_err());
        assert!("abc".parse::<BlobId>().is_err());
    }
}
