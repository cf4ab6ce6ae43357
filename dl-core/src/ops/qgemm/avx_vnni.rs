//! AVX-VNNI micro-kernel: `vpdpbusd ymm` (VEX encoded, Alder Lake and
//! later, Zen 5): 8 `i32` lanes per instruction, one panel (two registers)
//! by up to 6 rows per step. Compiled everywhere, run and tested only where
//! the CPU has it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::cpu_kernel::TileArgs;
#[cfg(target_arch = "x86_64")]
use super::cpu_kernel::TILE_COLS;

/// `MR` rows by one panel.
///
/// # Safety
/// AVX2 and AVX-VNNI available; `a` holds `MR` rows, `b` one panel, `out` as [`TileArgs`] says.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn kernel<const MR: usize>(a: *const u8, lda: usize, b: *const i8, k4: usize, out: *mut i32) {
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    for kk in 0..k4 {
        // SAFETY: block kk of the panel: 64 bytes inside B.
        let b0 = unsafe { _mm256_loadu_si256(b.add(kk * 64) as *const __m256i) };
        // SAFETY: as above.
        let b1 = unsafe { _mm256_loadu_si256(b.add(kk * 64 + 32) as *const __m256i) };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row r, bytes 4 kk .. 4 kk + 4 inside A.
            let av = _mm256_set1_epi32(unsafe { (a.add(r * lda + kk * 4) as *const i32).read_unaligned() });
            acc[0] = _mm256_dpbusd_avx_epi32(acc[0], av, b0);
            acc[1] = _mm256_dpbusd_avx_epi32(acc[1], av, b1);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: r < MR <= 6 rows, 16 columns of the tile.
        unsafe {
            _mm256_storeu_si256(out.add(r * TILE_COLS) as *mut __m256i, acc[0]);
            _mm256_storeu_si256(out.add(r * TILE_COLS + 8) as *mut __m256i, acc[1]);
        }
    }
}

/// `rows <= 6` rows by `np <= 4` panels into `out` (row stride 64).
///
/// # Safety
/// AVX2 and AVX-VNNI available; `a`, `lda` and `t` as [`TileArgs`] says.
pub(super) unsafe fn tile(a: *const u8, lda: usize, t: TileArgs) {
    #[cfg(target_arch = "x86_64")]
    for p in 0..t.np {
        // SAFETY: forwarded contract; panel p and tile columns p * 16.. are in bounds.
        unsafe {
            let (bp, op) = t.panel(p);
            match t.rows {
                1 => kernel::<1>(a, lda, bp, t.k4, op),
                2 => kernel::<2>(a, lda, bp, t.k4, op),
                3 => kernel::<3>(a, lda, bp, t.k4, op),
                4 => kernel::<4>(a, lda, bp, t.k4, op),
                5 => kernel::<5>(a, lda, bp, t.k4, op),
                6 => kernel::<6>(a, lda, bp, t.k4, op),
                _ => unreachable!("avxvnni tile with {} rows", t.rows),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, lda, t);
        unreachable!("avxvnni on a non-x86 CPU")
    }
}
