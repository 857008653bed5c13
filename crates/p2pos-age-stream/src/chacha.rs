//! ChaCha20 (RFC 8439: 256-bit key, 96-bit nonce, 32-bit block counter), four blocks at a time:
//! each lane of the 16 state vectors belongs to one block, so one pass of the rounds makes 256
//! bytes of keystream. With `simd128` the lanes are one `v128` each.

use crate::lanes::U32x4;

/// Bytes of keystream one pass makes.
pub const BATCH: usize = 4 * 64;

pub struct ChaCha20 {
    state: [u32; 16],
}

impl ChaCha20 {
    pub fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for (word, bytes) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
            *word = le_u32(bytes);
        }
        for (word, bytes) in state[13..16].iter_mut().zip(nonce.chunks_exact(4)) {
            *word = le_u32(bytes);
        }
        Self { state }
    }

    /// The keystream of blocks `counter` to `counter + 3`, 16 bytes per vector, in order.
    #[inline(always)]
    pub fn keystream(&self, counter: u32) -> [U32x4; 16] {
        let s = &self.state;
        let mut x: [U32x4; 16] = core::array::from_fn(|i| U32x4::splat(s[i]));
        x[12] = U32x4::new(counter, counter.wrapping_add(1), counter.wrapping_add(2), counter.wrapping_add(3));
        let start = x;
        for _ in 0..10 {
            quarter(&mut x, 0, 4, 8, 12);
            quarter(&mut x, 1, 5, 9, 13);
            quarter(&mut x, 2, 6, 10, 14);
            quarter(&mut x, 3, 7, 11, 15);
            quarter(&mut x, 0, 5, 10, 15);
            quarter(&mut x, 1, 6, 11, 12);
            quarter(&mut x, 2, 7, 8, 13);
            quarter(&mut x, 3, 4, 9, 14);
        }
        let mut out = x;
        for group in 0..4 {
            let rows = core::array::from_fn(|i| x[4 * group + i].add(start[4 * group + i]));
            // Column j is words 4·group..4·group+3 of block j: bytes 64·j + 16·group onwards.
            for (block, column) in U32x4::transpose(rows).into_iter().enumerate() {
                out[4 * block + group] = column;
            }
        }
        out
    }

    /// XOR `data` with the keystream that starts at block `counter`.
    pub fn apply(&self, counter: u32, data: &mut [u8]) {
        let mut counter = counter;
        for piece in data.chunks_mut(BATCH) {
            let stream = self.keystream(counter);
            if piece.len() == BATCH {
                for (bytes, key) in piece.chunks_exact_mut(16).zip(stream) {
                    let mut word = [0u8; 16];
                    word.copy_from_slice(bytes);
                    bytes.copy_from_slice(&U32x4::from_le_bytes(word).xor(key).to_le_bytes());
                }
            } else {
                for (bytes, key) in piece.chunks_mut(16).zip(stream) {
                    for (byte, k) in bytes.iter_mut().zip(key.to_le_bytes()) {
                        *byte ^= k;
                    }
                }
            }
            counter = counter.wrapping_add(4);
        }
    }
}

#[inline(always)]
fn quarter(x: &mut [U32x4; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].add(x[b]);
    x[d] = x[d].xor(x[a]).rotl16();
    x[c] = x[c].add(x[d]);
    x[b] = x[b].xor(x[c]).rotl12();
    x[a] = x[a].add(x[b]);
    x[d] = x[d].xor(x[a]).rotl8();
    x[c] = x[c].add(x[d]);
    x[b] = x[b].xor(x[c]).rotl7();
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::ChaCha20;

    /// RFC 8439 §2.4.2: the "sunscreen" plaintext, counter 1.
    #[test]
    fn rfc8439_encryption_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let mut data = text.to_vec();
        ChaCha20::new(&key, &nonce).apply(1, &mut data);
        let expected = "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d";
        assert_eq!(hex(&data), expected);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
