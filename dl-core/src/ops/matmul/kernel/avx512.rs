//! AVX-512F micro-kernels: 12 rows by two 512-bit vectors (24 accumulator
//! registers of the 32), one broadcast of A per row and step.

use super::{simd_kernel, Kernel};

simd_kernel!(
    /// `f32`, 12 x 32 tile.
    f32_12x32, "avx512f", f32, 16, 12, 2,
    load = _mm512_loadu_ps, store = _mm512_storeu_ps, set1 = _mm512_set1_ps, zero = _mm512_setzero_ps,
    fma = _mm512_fmadd_ps, mul = _mm512_mul_ps, add = _mm512_add_ps, cmp = _mm512_cmp_ps_mask,
    sel = _mm512_maskz_mov_ps
);

simd_kernel!(
    /// `f64`, 12 x 16 tile.
    f64_12x16, "avx512f", f64, 8, 12, 2,
    load = _mm512_loadu_pd, store = _mm512_storeu_pd, set1 = _mm512_set1_pd, zero = _mm512_setzero_pd,
    fma = _mm512_fmadd_pd, mul = _mm512_mul_pd, add = _mm512_add_pd, cmp = _mm512_cmp_pd_mask,
    sel = _mm512_maskz_mov_pd
);

/// The `f32` kernel: a 256-deep B sliver is 32 KiB (L1), a 192-row A block
/// 192 KiB (L2).
pub(super) const F32: Kernel<f32> = Kernel::new::<12, 32>(f32_12x32, 256, 192, 4096);

/// The `f64` kernel.
pub(super) const F64: Kernel<f64> = Kernel::new::<12, 16>(f64_12x16, 192, 144, 2048);
