//! AVX-512 VNNI micro-kernel: `vpdpbusd zmm` (64 `u8 x i8` products into
//! 16 `i32` lanes per instruction), up to 6 rows by 4 panels (24
//! accumulators) per step.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::cpu_kernel::TileArgs;
#[cfg(target_arch = "x86_64")]
use super::cpu_kernel::TILE_COLS;

/// `MR` rows by `NV` panels.
///
/// # Safety
/// AVX-512 F/BW/VNNI available; `t` as in [`tile`] with `t.rows == MR`, `t.np == NV`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn kernel<const MR: usize, const NV: usize>(a: *const u8, lda: usize, t: TileArgs) {
    let TileArgs {
        b,
        panel_stride,
        k4,
        out,
        ..
    } = t;
    let mut acc = [[_mm512_setzero_si512(); NV]; MR];
    for kk in 0..k4 {
        let mut bv = [_mm512_setzero_si512(); NV];
        for (v, bv) in bv.iter_mut().enumerate() {
            // SAFETY: panel v, block kk: 64 bytes inside B.
            *bv = unsafe { _mm512_loadu_si512(b.add(v * panel_stride + kk * 64) as *const _) };
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row r, bytes 4 kk .. 4 kk + 4 inside A.
            let av = _mm512_set1_epi32(unsafe { (a.add(r * lda + kk * 4) as *const i32).read_unaligned() });
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_dpbusd_epi32(*acc, av, bv);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &acc) in acc.iter().enumerate() {
            // SAFETY: r < MR <= 6 rows, v * 16 + 16 <= 64 columns of the tile.
            unsafe { _mm512_storeu_si512(out.add(r * TILE_COLS + v * 16) as *mut _, acc) };
        }
    }
}

/// `rows <= 6` rows by `np <= 4` panels into `out` (row stride 64).
///
/// # Safety
/// AVX-512 F/BW/VNNI available; `a`, `lda` and `t` as [`TileArgs`] says.
pub(super) unsafe fn tile(a: *const u8, lda: usize, t: TileArgs) {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! dispatch {
            ($($mr:literal),*) => {
                match (t.rows, t.np) {
                    $(
                        // SAFETY: forwarded contract of `tile`.
                        ($mr, 1) => unsafe { kernel::<$mr, 1>(a, lda, t) },
                        // SAFETY: forwarded contract of `tile`.
                        ($mr, 2) => unsafe { kernel::<$mr, 2>(a, lda, t) },
                        // SAFETY: forwarded contract of `tile`.
                        ($mr, 3) => unsafe { kernel::<$mr, 3>(a, lda, t) },
                        // SAFETY: forwarded contract of `tile`.
                        ($mr, 4) => unsafe { kernel::<$mr, 4>(a, lda, t) },
                    )*
                    _ => unreachable!("avx512vnni tile {}x{}", t.rows, t.np),
                }
            };
        }
        dispatch!(1, 2, 3, 4, 5, 6)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, lda, t);
        unreachable!("avx512vnni on a non-x86 CPU")
    }
}
