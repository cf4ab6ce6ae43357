//! Dot products for the CPU GEMM's matrix-vector path (`m` of 1 to 4 with
//! B transposed: a `Linear` forward at batch size 1, where packing the
//! operands for the blocked kernels would cost more than the product).
//!
//! The sum runs over 32 interleaved partial sums that are then added in a
//! fixed order, so the result depends only on the inputs (not on the
//! thread or the instruction set: the AVX build vectorises exactly these
//! lanes, with separate multiplies and adds).

const LANES: usize = 32;

/// `sum(a[i] * b[i])` over 32 lanes, combined in a fixed order.
#[inline(always)]
fn dot_lanes<E: Copy + Default + std::ops::Add<Output = E> + std::ops::Mul<Output = E>>(a: &[E], b: &[E]) -> E {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [E::default(); LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] = acc[l] + x[l] * y[l];
        }
    }
    finish(acc, ar, br)
}

/// Adds the ragged tail into the first lanes, then sums the lanes pairwise
/// in a fixed order.
#[inline(always)]
fn finish<E: Copy + std::ops::Add<Output = E> + std::ops::Mul<Output = E>>(
    mut acc: [E; LANES],
    ar: &[E],
    br: &[E],
) -> E {
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[l] = acc[l] + *x * *y;
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] = acc[l] + acc[l + w];
        }
    }
    acc[0]
}

/// Dot product of the common prefix of `a` and `b`, any float type.
pub fn dot_portable<E: Copy + Default + std::ops::Add<Output = E> + std::ops::Mul<Output = E>>(a: &[E], b: &[E]) -> E {
    dot_lanes(a, b)
}

/// [`dot_portable`] for `f32`, with AVX where the CPU has it (same lanes,
/// same order: the same result bit for bit).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available (checked just above), the only
            // requirement of `dot_avx`.
            return unsafe { dot_avx(a, b) };
        }
    }
    dot_lanes(a, b)
}

/// The lanes of [`dot_lanes`] as four 8-wide AVX registers (multiply, then
/// add: no fused multiply-add, so the result equals the portable one).
///
/// # Safety
/// The CPU supports AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let mut r = [_mm256_setzero_ps(); LANES / 8];
    for (x, y) in ac.zip(bc) {
        for (q, rq) in r.iter_mut().enumerate() {
            // SAFETY: `x` and `y` hold exactly LANES elements, so the
            // unaligned 8-element loads at offset 8 * q < LANES are in bounds.
            unsafe {
                let xq = _mm256_loadu_ps(x.as_ptr().add(8 * q));
                let yq = _mm256_loadu_ps(y.as_ptr().add(8 * q));
                *rq = _mm256_add_ps(*rq, _mm256_mul_ps(xq, yq));
            }
        }
    }
    let mut acc = [0f32; LANES];
    for (q, rq) in r.iter().enumerate() {
        // SAFETY: `acc` holds LANES elements; the store at 8 * q covers
        // elements 8 * q .. 8 * q + 8 <= LANES.
        unsafe { _mm256_storeu_ps(acc.as_mut_ptr().add(8 * q), *rq) };
    }
    finish(acc, ar, br)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_sum_and_the_portable_path() {
        for n in [0usize, 1, 7, 15, 16, 17, 31, 33, 100, 784] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32 * 0.25).collect();
            // Small integers and quarters: every partial sum is exact.
            let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot_f32(&a, &b), want, "n={n}");
            assert_eq!(dot_portable(&a, &b), want, "n={n}");
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            assert_eq!(dot_f32(&a, &b).to_bits(), dot_portable(&a, &b).to_bits(), "n={n}");
        }
    }
}
