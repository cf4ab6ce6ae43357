//! AVX2 + FMA micro-kernels: 6 rows by two 256-bit vectors (12 accumulator
//! registers of the 16), one broadcast of A per row and step.

use super::{simd_kernel, Kernel};

simd_kernel!(
    /// `f32`, 6 x 16 tile.
    f32_6x16, "avx2,fma", f32, 8, 6, 2,
    load = _mm256_loadu_ps, store = _mm256_storeu_ps, set1 = _mm256_set1_ps, zero = _mm256_setzero_ps,
    fma = _mm256_fmadd_ps, mul = _mm256_mul_ps, add = _mm256_add_ps, cmp = _mm256_cmp_ps,
    sel = _mm256_and_ps
);

simd_kernel!(
    /// `f64`, 6 x 8 tile.
    f64_6x8, "avx2,fma", f64, 4, 6, 2,
    load = _mm256_loadu_pd, store = _mm256_storeu_pd, set1 = _mm256_set1_pd, zero = _mm256_setzero_pd,
    fma = _mm256_fmadd_pd, mul = _mm256_mul_pd, add = _mm256_add_pd, cmp = _mm256_cmp_pd,
    sel = _mm256_and_pd
);

/// The `f32` kernel.
pub(super) const F32: Kernel<f32> = Kernel::new::<6, 16>(f32_6x16, 256, 144, 4096);

/// The `f64` kernel.
pub(super) const F64: Kernel<f64> = Kernel::new::<6, 8>(f64_6x8, 256, 96, 2048);
