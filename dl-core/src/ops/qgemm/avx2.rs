//! AVX2 micro-kernel, exact for every input: the packed `i8` weights are
//! widened with `vpmovsxbw` and multiplied with the (pre-widened) `u8`
//! activations by `vpmaddwd` (`i16 x i16` pairs summed into `i32`, which
//! cannot overflow for 8-bit inputs). `vpmaddubsw` is not used: its `i16`
//! pair sums saturate for `u8 x i8` (`255 * 127 * 2 > 32767`).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::cpu_kernel::TileArgs;
#[cfg(target_arch = "x86_64")]
use super::cpu_kernel::TILE_COLS;

/// `MR` rows by half a panel (8 columns, `half` 0 or 1).
///
/// Each 16-byte quarter of a 64-byte block is 4 columns x 4 `k`; widened,
/// `vpmaddwd` against the row's 4 activations (broadcast as 64 bits) gives
/// two partial sums per column, added at the end.
///
/// # Safety
/// AVX2 available; `a` holds `MR` rows of `4 * k4` `i16` with stride `lda`,
/// `b` one panel of `k4 * 64` bytes; `out` as [`TileArgs`] says.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel<const MR: usize>(a: *const i16, lda: usize, b: *const i8, half: usize, k4: usize, out: *mut i32) {
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    for kk in 0..k4 {
        let base = kk * 64 + half * 32;
        // SAFETY: 32 bytes of block kk inside B.
        let (b0, b1) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(b.add(base) as *const __m128i)),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(b.add(base + 16) as *const __m128i)),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row r, elements 4 kk .. 4 kk + 4 inside A.
            let av = _mm256_set1_epi64x(unsafe { (a.add(r * lda + kk * 4) as *const i64).read_unaligned() });
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(av, b0));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(av, b1));
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let mut pairs = [0i32; 16];
        // SAFETY: 16 i32 of local storage.
        unsafe {
            _mm256_storeu_si256(pairs.as_mut_ptr() as *mut __m256i, acc[0]);
            _mm256_storeu_si256(pairs.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
        }
        for c in 0..8 {
            // SAFETY: r < MR rows, column half * 8 + c < 16 of the tile.
            unsafe { *out.add(r * TILE_COLS + half * 8 + c) = pairs[2 * c].wrapping_add(pairs[2 * c + 1]) };
        }
    }
}

/// `rows <= 4` rows by `np <= 4` panels into `out` (row stride 64), from
/// activations already widened to `i16` (row stride `lda` elements).
///
/// # Safety
/// AVX2 available; `a`, `lda` and `t` as [`TileArgs`] says (`a` in `i16`).
pub(super) unsafe fn tile(a: *const i16, lda: usize, t: TileArgs) {
    #[cfg(target_arch = "x86_64")]
    for p in 0..t.np {
        for half in 0..2 {
            // SAFETY: forwarded contract; panel p and tile columns p * 16.. are in bounds.
            unsafe {
                let (bp, op) = t.panel(p);
                match t.rows {
                    1 => kernel::<1>(a, lda, bp, half, t.k4, op),
                    2 => kernel::<2>(a, lda, bp, half, t.k4, op),
                    3 => kernel::<3>(a, lda, bp, half, t.k4, op),
                    4 => kernel::<4>(a, lda, bp, half, t.k4, op),
                    _ => unreachable!("avx2 tile with {} rows", t.rows),
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, lda, t);
        unreachable!("avx2 on a non-x86 CPU")
    }
}
