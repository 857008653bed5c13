//! age's payload cipher for the browser: one STREAM chunk (ChaCha20-Poly1305, RFC 8439, no
//! associated data) sealed or opened in place. The age header, the key derivation and the
//! chunking stay in the web app (`apps/web/src/lib/ageStream.ts`); this module only does the
//! bytes, which is where the time goes.
//!
//! Why this and not a crate's AEAD: RustCrypto's `chacha20` has no `simd128` backend, so in
//! WebAssembly it runs the scalar code a block at a time (docs/notes/issue-16.md measured 223–272
//! MB/s). Here ChaCha20 runs four blocks per pass in `v128` lanes ([`chacha`]); Poly1305 is
//! RustCrypto's. The tests check every length against RustCrypto's `ChaCha20Poly1305`.
//!
//! The WebAssembly interface (no imports, no allocator calls from JS): [`scratch`] is the address
//! of a buffer laid out as [`KEY_AT`] (32 bytes), [`NONCE_AT`] (12) and [`DATA_AT`] (up to
//! [`CHUNK`] + 16). JS writes the key, the nonce and the chunk there, calls [`seal`] or [`open`],
//! and reads the result back from the same place.
//!
//! It also hashes: the blob id is BLAKE3 of the ciphertext, and the `blake3` crate's SIMD code
//! for wasm32 is faster than what the page had. [`hasher_new`] gives a handle, [`hasher_update`]
//! hashes bytes at [`DATA_AT`] (a chunk just sealed there is hashed where it lies), and
//! [`hasher_finish`] writes the 32-byte hash at [`DATA_AT`] and frees the handle.

mod chacha;
mod lanes;

use std::cell::RefCell;

use chacha::ChaCha20;
use poly1305::Poly1305;
use poly1305::universal_hash::{KeyInit, UniversalHash};

/// age's STREAM chunk: 64 KiB of plaintext.
pub const CHUNK: usize = 64 * 1024;
/// Poly1305's tag.
pub const TAG: usize = 16;
/// Where the key, the nonce and the data sit in the scratch buffer.
pub const KEY_AT: usize = 0;
pub const NONCE_AT: usize = 32;
pub const DATA_AT: usize = 64;
const SCRATCH: usize = DATA_AT + CHUNK + TAG;

/// The tag did not match: the chunk, the key or the nonce is not the one it was sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the chunk does not authenticate")]
pub struct Unauthentic;

/// Encrypt `data` in place; returns the tag that goes after it.
pub fn seal_in_place(key: &[u8; 32], nonce: &[u8; 12], data: &mut [u8]) -> [u8; TAG] {
    let cipher = ChaCha20::new(key, nonce);
    cipher.apply(1, data);
    mac(&cipher, data).into()
}

/// Check `tag` over `data` (the ciphertext), then decrypt it in place. On a mismatch `data` is
/// left as it was.
pub fn open_in_place(key: &[u8; 32], nonce: &[u8; 12], data: &mut [u8], tag: &[u8; TAG]) -> Result<(), Unauthentic> {
    let cipher = ChaCha20::new(key, nonce);
    mac(&cipher, data).ct_eq_tag(tag)?;
    cipher.apply(1, data);
    Ok(())
}

/// Poly1305 over the ciphertext, keyed by block 0 (RFC 8439 §2.8, empty associated data).
fn mac(cipher: &ChaCha20, ciphertext: &[u8]) -> Computed {
    let block0 = cipher.keystream(0);
    let mut key = poly1305::Key::default();
    key[..16].copy_from_slice(&block0[0].to_le_bytes());
    key[16..].copy_from_slice(&block0[1].to_le_bytes());
    let mut poly = Poly1305::new(&key);
    poly.update_padded(ciphertext);
    let mut lengths = poly1305::Block::default();
    lengths[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    poly.update(&[lengths]);
    Computed(poly.finalize().into())
}

struct Computed([u8; TAG]);

impl Computed {
    /// Constant-time comparison: every byte is looked at whatever the first difference.
    fn ct_eq_tag(&self, tag: &[u8; TAG]) -> Result<(), Unauthentic> {
        let diff = self.0.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 { Ok(()) } else { Err(Unauthentic) }
    }
}

impl From<Computed> for [u8; TAG] {
    fn from(computed: Computed) -> Self {
        computed.0
    }
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
    /// Hashers in use, by handle; a finished one leaves its slot free for the next.
    static HASHERS: RefCell<Vec<Option<blake3::Hasher>>> = const { RefCell::new(Vec::new()) };
}

/// The scratch buffer's address in the module's memory (see the module's docs).
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn scratch() -> usize {
    BUFFER.with_borrow_mut(|buffer| buffer.as_mut_ptr() as usize)
}

/// Seal the `len` bytes at [`DATA_AT`] with the key and nonce in the buffer; the tag follows them.
/// Returns `len + 16`, or -1 when `len` is larger than a chunk.
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn seal(len: usize) -> isize {
    if len > CHUNK {
        return -1;
    }
    BUFFER.with_borrow_mut(|buffer| {
        let (key, nonce, rest) = parts(buffer);
        let (data, tail) = rest.split_at_mut(len);
        let tag = seal_in_place(&key, &nonce, data);
        tail[..TAG].copy_from_slice(&tag);
        (len + TAG) as isize
    })
}

/// Open the `len` bytes at [`DATA_AT`] (ciphertext and tag) in place. Returns the plaintext's
/// length, -1 when `len` is out of range, -2 when the chunk does not authenticate.
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn open(len: usize) -> isize {
    if !(TAG..=CHUNK + TAG).contains(&len) {
        return -1;
    }
    BUFFER.with_borrow_mut(|buffer| {
        let (key, nonce, rest) = parts(buffer);
        let (data, tag) = rest[..len].split_at_mut(len - TAG);
        let mut expected = [0u8; TAG];
        expected.copy_from_slice(tag);
        match open_in_place(&key, &nonce, data, &expected) {
            Ok(()) => (len - TAG) as isize,
            Err(Unauthentic) => -2,
        }
    })
}

/// A new BLAKE3 hasher; returns its handle.
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn hasher_new() -> u32 {
    HASHERS.with_borrow_mut(|hashers| {
        let slot = hashers.iter().position(Option::is_none).unwrap_or_else(|| {
            hashers.push(None);
            hashers.len() - 1
        });
        hashers[slot] = Some(blake3::Hasher::new());
        slot as u32
    })
}

/// Hash the `len` bytes at [`DATA_AT`] into hasher `id`. Returns 0, or -1 for a bad handle or length.
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn hasher_update(id: u32, len: usize) -> isize {
    if len > CHUNK + TAG {
        return -1;
    }
    HASHERS.with_borrow_mut(|hashers| match hashers.get_mut(id as usize) {
        Some(Some(hasher)) => {
            BUFFER.with_borrow(|buffer| hasher.update(&buffer[DATA_AT..DATA_AT + len]));
            0
        }
        _ => -1,
    })
}

/// Write hasher `id`'s 32-byte hash at [`DATA_AT`] and free the handle. Returns 32, or -1 for a
/// bad handle.
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn hasher_finish(id: u32) -> isize {
    let Some(hasher) = HASHERS.with_borrow_mut(|hashers| hashers.get_mut(id as usize).and_then(Option::take)) else {
        return -1;
    };
    BUFFER.with_borrow_mut(|buffer| buffer[DATA_AT..DATA_AT + 32].copy_from_slice(hasher.finalize().as_bytes()));
    32
}

/// Free hasher `id` without a hash (a file abandoned halfway).
#[allow(unsafe_code)] // `no_mangle` exports it by name; nothing else here is unsafe
#[unsafe(no_mangle)]
pub extern "C" fn hasher_drop(id: u32) {
    HASHERS.with_borrow_mut(|hashers| {
        if let Some(slot) = hashers.get_mut(id as usize) {
            *slot = None;
        }
    });
}

fn parts(buffer: &mut [u8]) -> ([u8; 32], [u8; 12], &mut [u8]) {
    let mut key = [0u8; 32];
    key.copy_from_slice(&buffer[KEY_AT..KEY_AT + 32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&buffer[NONCE_AT..NONCE_AT + 12]);
    (key, nonce, &mut buffer[DATA_AT..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, Nonce};

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
    }

    /// age's STREAM nonce: an 11-byte big-endian counter and the last-chunk flag.
    fn stream_nonce(counter: u64, last: bool) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        nonce
    }

    #[test]
    fn every_length_matches_rustcrypto_and_round_trips() {
        let key: [u8; 32] = core::array::from_fn(|i| (i * 7 + 1) as u8);
        let reference = ChaCha20Poly1305::new(&key.into());
        let lengths = (0..=1100).chain([4095, 4096, 4097, CHUNK - 1, CHUNK]);
        for (i, len) in lengths.enumerate() {
            let nonce = stream_nonce(i as u64, len % 3 == 0);
            let plain = bytes(len, i as u8);
            let mut ours = plain.clone();
            let tag = seal_in_place(&key, &nonce, &mut ours);
            let mut theirs = plain.clone();
            let their_tag = reference.encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut theirs).unwrap();
            assert_eq!(ours, theirs, "ciphertext, length {len}");
            assert_eq!(tag, their_tag.as_slice(), "tag, length {len}");
            open_in_place(&key, &nonce, &mut ours, &tag).unwrap();
            assert_eq!(ours, plain, "round trip, length {len}");
        }
    }

    #[test]
    fn a_changed_byte_tag_nonce_or_key_is_refused_and_nothing_is_decrypted() {
        let key = [9u8; 32];
        let nonce = stream_nonce(5, false);
        let mut sealed = bytes(1000, 3);
        let tag = seal_in_place(&key, &nonce, &mut sealed);
        let mut flipped = sealed.clone();
        flipped[500] ^= 1;
        let before = flipped.clone();
        assert_eq!(open_in_place(&key, &nonce, &mut flipped, &tag), Err(Unauthentic));
        assert_eq!(flipped, before, "a refused chunk is left as it was");
        let mut bad_tag = tag;
        bad_tag[15] ^= 0x80;
        assert_eq!(open_in_place(&key, &nonce, &mut sealed.clone(), &bad_tag), Err(Unauthentic));
        assert_eq!(open_in_place(&key, &stream_nonce(5, true), &mut sealed.clone(), &tag), Err(Unauthentic));
        assert_eq!(open_in_place(&[8u8; 32], &nonce, &mut sealed.clone(), &tag), Err(Unauthentic));
        assert_eq!(open_in_place(&key, &nonce, &mut sealed, &tag), Ok(()));
    }

    #[test]
    fn the_exported_calls_use_the_scratch_buffer_and_refuse_bad_lengths() {
        let key = [1u8; 32];
        let nonce = stream_nonce(0, true);
        let plain = bytes(300, 1);
        BUFFER.with_borrow_mut(|buffer| {
            buffer[KEY_AT..KEY_AT + 32].copy_from_slice(&key);
            buffer[NONCE_AT..NONCE_AT + 12].copy_from_slice(&nonce);
            buffer[DATA_AT..DATA_AT + 300].copy_from_slice(&plain);
        });
        assert_eq!(seal(300), 316);
        let mut expected = plain.clone();
        let tag = seal_in_place(&key, &nonce, &mut expected);
        expected.extend_from_slice(&tag);
        BUFFER.with_borrow(|buffer| assert_eq!(&buffer[DATA_AT..DATA_AT + 316], &expected[..]));
        assert_eq!(open(316), 300);
        BUFFER.with_borrow(|buffer| assert_eq!(&buffer[DATA_AT..DATA_AT + 300], &plain[..]));
        assert_eq!(open(316), -2, "opening plaintext as ciphertext fails");
        assert_eq!(seal(CHUNK + 1), -1);
        assert_eq!(open(15), -1);
        assert_eq!(open(CHUNK + TAG + 1), -1);
        assert!(scratch() != 0);
    }

    #[test]
    fn hashers_match_blake3_and_free_their_handles() {
        let data = bytes(CHUNK + TAG, 7);
        let (a, b) = (hasher_new(), hasher_new());
        assert_ne!(a, b);
        // Interleaved: a hashes the whole buffer in two calls, b the first 1,000 bytes.
        BUFFER.with_borrow_mut(|buffer| buffer[DATA_AT..DATA_AT + data.len()].copy_from_slice(&data));
        assert_eq!(hasher_update(a, data.len()), 0);
        assert_eq!(hasher_update(b, 1000), 0);
        assert_eq!(hasher_finish(b), 32);
        let b_hash = BUFFER.with_borrow(|buffer| buffer[DATA_AT..DATA_AT + 32].to_vec());
        assert_eq!(b_hash, blake3::hash(&data[..1000]).as_bytes());
        assert_eq!(hasher_update(a, 10), 0);
        assert_eq!(hasher_finish(a), 32);
        let mut whole = data.clone();
        whole.extend_from_slice(&b_hash[..10]);
        let a_hash = BUFFER.with_borrow(|buffer| buffer[DATA_AT..DATA_AT + 32].to_vec());
        assert_eq!(a_hash, blake3::hash(&whole).as_bytes(), "a saw b's hash where the data was");
        // Finished handles are gone, and their slots are used again.
        assert_eq!(hasher_update(a, 1), -1);
        assert_eq!(hasher_finish(a), -1);
        assert_eq!(hasher_update(99, 1), -1);
        assert_eq!(hasher_update(hasher_new(), CHUNK + TAG + 1), -1);
        let c = hasher_new();
        hasher_drop(c);
        assert_eq!(hasher_finish(c), -1);
    }
}
