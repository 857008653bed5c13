//! Four `u32` lanes: WebAssembly's `v128` when the module is built with `simd128`, a plain array
//! everywhere else (the native tests, and a wasm build without SIMD). Only what ChaCha20 needs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        i8x16_shuffle, i32x4_shuffle, i64x2_shuffle, u32x4, u32x4_add, u32x4_shl, u32x4_shr, v128, v128_or, v128_xor,
    };

    #[derive(Clone, Copy, Debug)]
    pub struct U32x4(v128);

    impl U32x4 {
        #[inline(always)]
        pub fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self(u32x4(a, b, c, d))
        }

        #[inline(always)]
        pub fn splat(x: u32) -> Self {
            Self::new(x, x, x, x)
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            Self(u32x4_add(self.0, other.0))
        }

        #[inline(always)]
        pub fn xor(self, other: Self) -> Self {
            Self(v128_xor(self.0, other.0))
        }

        /// Rotate each lane left by 16 (a byte shuffle).
        #[inline(always)]
        pub fn rotl16(self) -> Self {
            Self(i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(self.0, self.0))
        }

        /// Rotate each lane left by 8 (a byte shuffle).
        #[inline(always)]
        pub fn rotl8(self) -> Self {
            Self(i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(self.0, self.0))
        }

        #[inline(always)]
        pub fn rotl12(self) -> Self {
            Self(v128_or(u32x4_shl(self.0, 12), u32x4_shr(self.0, 20)))
        }

        #[inline(always)]
        pub fn rotl7(self) -> Self {
            Self(v128_or(u32x4_shl(self.0, 7), u32x4_shr(self.0, 25)))
        }

        /// Rows in, columns out: `out[j]` holds lane `j` of `a`, `b`, `c`, `d`.
        #[inline(always)]
        pub fn transpose([a, b, c, d]: [Self; 4]) -> [Self; 4] {
            let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0);
            let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c.0, d.0);
            let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0);
            let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c.0, d.0);
            [
                Self(i64x2_shuffle::<0, 2>(ab_lo, cd_lo)),
                Self(i64x2_shuffle::<1, 3>(ab_lo, cd_lo)),
                Self(i64x2_shuffle::<0, 2>(ab_hi, cd_hi)),
                Self(i64x2_shuffle::<1, 3>(ab_hi, cd_hi)),
            ]
        }

        #[inline(always)]
        pub fn to_le_bytes(self) -> [u8; 16] {
            // SAFETY: a v128 is 16 bytes with no invalid bit patterns, in WebAssembly's little-endian
            // lane order.
            #[allow(unsafe_code)]
            unsafe {
                core::mem::transmute::<v128, [u8; 16]>(self.0)
            }
        }

        #[inline(always)]
        pub fn from_le_bytes(bytes: [u8; 16]) -> Self {
            // SAFETY: as in `to_le_bytes`, the other way.
            #[allow(unsafe_code)]
            unsafe {
                Self(core::mem::transmute::<[u8; 16], v128>(bytes))
            }
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    #[derive(Clone, Copy, Debug)]
    pub struct U32x4([u32; 4]);

    impl U32x4 {
        #[inline(always)]
        pub fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self([a, b, c, d])
        }

        #[inline(always)]
        pub fn splat(x: u32) -> Self {
            Self([x; 4])
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            Self(core::array::from_fn(|i| self.0[i].wrapping_add(other.0[i])))
        }

        #[inline(always)]
        pub fn xor(self, other: Self) -> Self {
            Self(core::array::from_fn(|i| self.0[i] ^ other.0[i]))
        }

        #[inline(always)]
        pub fn rotl16(self) -> Self {
            self.rotl(16)
        }

        #[inline(always)]
        pub fn rotl8(self) -> Self {
            self.rotl(8)
        }

        #[inline(always)]
        pub fn rotl12(self) -> Self {
            self.rotl(12)
        }

        #[inline(always)]
        pub fn rotl7(self) -> Self {
            self.rotl(7)
        }

        #[inline(always)]
        fn rotl(self, n: u32) -> Self {
            Self(self.0.map(|x| x.rotate_left(n)))
        }

        /// Rows in, columns out: `out[j]` holds lane `j` of `a`, `b`, `c`, `d`.
        #[inline(always)]
        pub fn transpose(rows: [Self; 4]) -> [Self; 4] {
            core::array::from_fn(|j| Self(core::array::from_fn(|i| rows[i].0[j])))
        }

        #[inline(always)]
        pub fn to_le_bytes(self) -> [u8; 16] {
            let mut out = [0u8; 16];
            for (bytes, word) in out.chunks_exact_mut(4).zip(self.0) {
                bytes.copy_from_slice(&word.to_le_bytes());
            }
            out
        }

        #[inline(always)]
        pub fn from_le_bytes(bytes: [u8; 16]) -> Self {
            Self(core::array::from_fn(|i| {
                u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
            }))
        }
    }
}

pub use imp::U32x4;

#[cfg(test)]
mod tests {
    use super::U32x4;

    #[test]
    fn rotations_and_transpose_match_scalar_code() {
        let x = U32x4::new(0x0123_4567, 0x89ab_cdef, 0xdead_beef, 1);
        let words = |v: U32x4| -> [u32; 4] {
            let bytes = v.to_le_bytes();
            core::array::from_fn(|i| {
                u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
            })
        };
        let base = words(x);
        assert_eq!(words(U32x4::from_le_bytes(x.to_le_bytes())), base);
        assert_eq!(words(x.rotl16()), base.map(|w| w.rotate_left(16)));
        assert_eq!(words(x.rotl12()), base.map(|w| w.rotate_left(12)));
        assert_eq!(words(x.rotl8()), base.map(|w| w.rotate_left(8)));
        assert_eq!(words(x.rotl7()), base.map(|w| w.rotate_left(7)));
        let rows = [0u32, 4, 8, 12].map(|r| U32x4::new(r, r + 1, r + 2, r + 3));
        let cols = U32x4::transpose(rows).map(words);
        assert_eq!(cols, [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]);
    }
}
