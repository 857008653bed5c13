//! Age helpers: the only way P2POS encrypts content (photos, thumbnails, album keys, backups).
//!
//! Everything here produces and reads standard age v1 files, so the stock `age` CLI can decrypt
//! them too. Encryption and decryption stream through `Read`/`Write`; inputs may be binary or
//! ASCII-armored.
//!
//! ```
//! use p2pos_core::agefile::{self, Armor};
//! let alice = age::x25519::Identity::generate();
//! let file = agefile::encrypt_to(&[alice.to_public()], Armor::No, &b"hello"[..], Vec::new())?;
//! let mut plain = Vec::new();
//! agefile::decrypt_to(&[alice], &file[..], &mut plain)?;
//! assert_eq!(plain, b"hello");
//! # Ok::<(), agefile::CryptError>(())
//! ```

use std::io::{self, Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use age::x25519;
use zeroize::Zeroizing;

/// The scrypt work factor (log2 N) for passphrase files: the age CLI's default, about a second here
/// and affordable for a browser.
pub const DEFAULT_SCRYPT_WORK_FACTOR: u8 = 18;
/// The largest work factor we agree to spend on a passphrase file someone hands us (~1 GiB × 4 s).
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 20;

/// Why encryption or decryption failed. The `kind` names match `testvectors/age.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptError {
    #[error("none of the given identities can open this file")]
    NoIdentity,
    #[error("wrong passphrase")]
    Passphrase,
    #[error("the file is damaged or not an age file ({0})")]
    Corrupt(String),
    #[error("the file asks for scrypt work factor {required}, more than the {allowed} we accept")]
    TooMuchWork { required: u8, allowed: u8 },
    #[error("a file needs at least one recipient")]
    NoRecipients,
    #[error(transparent)]
    Io(io::Error),
}

impl CryptError {
    pub fn kind(&self) -> &'static str {
        match self {
            CryptError::NoIdentity => "no-identity",
            CryptError::Passphrase => "passphrase",
            CryptError::Corrupt(_) | CryptError::TooMuchWork { .. } => "corrupt",
            CryptError::NoRecipients => "recipients",
            CryptError::Io(_) => "io",
        }
    }
}

impl From<age::DecryptError> for CryptError {
    fn from(e: age::DecryptError) -> Self {
        use age::DecryptError as D;
        match e {
            D::NoMatchingKeys => CryptError::NoIdentity,
            D::ExcessiveWork { required, target } => CryptError::TooMuchWork { required, allowed: target },
            D::Io(io) => from_stream_error(io),
            other => CryptError::Corrupt(other.to_string()),
        }
    }
}

/// Errors while streaming a payload are `io::Error`s; authentication failures and truncation
/// surface as `InvalidData` / `UnexpectedEof`.
fn from_stream_error(e: io::Error) -> CryptError {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => CryptError::Corrupt(e.to_string()),
        _ => CryptError::Io(e),
    }
}

/// Whether to write the ASCII-armored (PEM-like) form, for text channels and downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Armor {
    No,
    Yes,
}

/// True when `bytes` start like an age file, binary or armored.
pub fn looks_like_age(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.starts_with(b"age-encryption.org/v1") || trimmed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

/// Streams `input` into an age file for `recipients`, written to `output`, which is returned.
pub fn encrypt_to<R: Read, W: Write>(
    recipients: &[x25519::Recipient],
    armor: Armor,
    mut input: R,
    output: W,
) -> Result<W, CryptError> {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| CryptError::NoRecipients)?;
    write_with(encryptor, armor, &mut input, output)
}

/// Encrypts `plaintext` with a passphrase (scrypt) as an armored file.
pub fn encrypt_with_passphrase(
    plaintext: &[u8],
    passphrase: &SecretString,
    work_factor: u8,
) -> Result<String, CryptError> {
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(work_factor);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|_| CryptError::NoRecipients)?;
    let bytes = write_with(encryptor, Armor::Yes, &mut &plaintext[..], Vec::new())?;
    String::from_utf8(bytes).map_err(|e| CryptError::Corrupt(e.to_string()))
}

fn write_with<W: Write>(
    encryptor: age::Encryptor,
    armor: Armor,
    input: &mut dyn Read,
    output: W,
) -> Result<W, CryptError> {
    let format = match armor {
        Armor::No => Format::Binary,
        Armor::Yes => Format::AsciiArmor,
    };
    let armored = ArmoredWriter::wrap_output(output, format).map_err(CryptError::Io)?;
    let mut writer = encryptor.wrap_output(armored).map_err(CryptError::Io)?;
    io::copy(input, &mut writer).map_err(CryptError::Io)?;
    let armored = writer.finish().map_err(CryptError::Io)?;
    armored.finish().map_err(CryptError::Io)
}

/// Opens an age file (binary or armored) with any of `identities`, returning a plaintext reader.
/// The header is authenticated before this returns; payload chunks are authenticated as they are
/// read, so a reader error means the rest of the file must not be trusted.
pub fn decrypting_reader<'a, R: Read + 'a>(
    identities: &[x25519::Identity],
    input: R,
) -> Result<impl Read + 'a, CryptError> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(input))?;
    if decryptor.is_scrypt() {
        return Err(CryptError::NoIdentity);
    }
    Ok(decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity))?)
}

/// Streams the plaintext of an age file to `output`; returns the number of plaintext bytes.
pub fn decrypt_to<R: Read, W: Write>(
    identities: &[x25519::Identity],
    input: R,
    mut output: W,
) -> Result<u64, CryptError> {
    let mut reader = decrypting_reader(identities, input)?;
    copy_plaintext(&mut reader, &mut output)
}

/// Decrypts a passphrase file completely (they are small: keys and backups).
pub fn decrypt_with_passphrase(file: &[u8], passphrase: &SecretString) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(file))?;
    if !decryptor.is_scrypt() {
        return Err(CryptError::Corrupt("the file is not passphrase-encrypted".into()));
    }
    let mut identity = age::scrypt::Identity::new(passphrase.clone());
    identity.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
    let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| match e {
        // The scrypt stanza's key fails to unwrap exactly when the passphrase is wrong.
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => CryptError::Passphrase,
        other => other.into(),
    })?;
    let mut plain = Zeroizing::new(Vec::new());
    copy_plaintext(&mut reader, &mut *plain)?;
    Ok(plain)
}

fn copy_plaintext(reader: &mut dyn Read, output: &mut dyn Write) -> Result<u64, CryptError> {
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(from_stream_error(e)),
        };
        output.write_all(&buf[..n]).map_err(CryptError::Io)?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_chunk_files_round_trip_to_each_recipient() {
        let (a, b) = (x25519::Identity::generate(), x25519::Identity::generate());
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for armor in [Armor::No, Armor::Yes] {
            let file = encrypt_to(&[a.to_public(), b.to_public()], armor, &plain[..], Vec::new()).unwrap();
            for who in [&a, &b] {
                let mut out = Vec::new();
                decrypt_to(std::slice::from_ref(who), &file[..], &mut out).unwrap();
                assert_eq!(out, plain);
            }
        }
    }

    #[test]
    fn a_stranger_or_a_flipped_bit_is_refused() {
        let a = x25519::Identity::generate();
        let mut file = encrypt_to(&[a.to_public()], Armor::No, &[9u8; 70_000][..], Vec::new()).unwrap();
        let stranger = x25519::Identity::generate();
        assert_eq!(decrypt_to(&[stranger], &file[..], io::sink()).unwrap_err().kind(), "no-identity");
        let last = file.len() - 1;
        file[last] ^= 1;
        assert_eq!(decrypt_to(&[a], &file[..], io::sink()).unwrap_err().kind(), "corrupt");
    }

    #[test]
    fn passphrase_files_open_only_with_the_passphrase() {
        let right = SecretString::from("correct horse battery".to_string());
        let file = encrypt_with_passphrase(b"secret", &right, 10).unwrap();
        assert!(file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(&*decrypt_with_passphrase(file.as_bytes(), &right).unwrap(), b"secret");
        let wrong = SecretString::from("wrong".to_string());
        assert_eq!(decrypt_with_passphrase(file.as_bytes(), &wrong).unwrap_err().kind(), "passphrase");
    }
}
