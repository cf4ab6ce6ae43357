//! Dot products for the CPU GEMM's matrix-vector path (`m` of 1 to 4 with
//! B transposed: a `Linear` forward at batch size 1, where packing the
//! operands for the blocked kernels would cost more than the product).
//!
//! The sum runs over 32 interleaved partial sums that are then added in a
//! fixed order, so the result depends only on the inputs (not on the
//! thread or the instruction set: the AVX and AVX-512 builds vectorise
//! exactly these lanes, with separate multiplies and adds).
//!
//! [`dot4_f32`] takes four rows of B against one vector: each element of
//! the vector is loaded once for four rows, and the lanes' final sums run
//! in registers. At batch size 1 a `Linear` forward is bound by how fast
//! the weights stream in, and the one-row form's scalar sum of the lanes
//! cost a fifth of B3's time on one thread.

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

/// [`dot_portable`] of `a` with each of four rows `b`, any float type.
pub fn dot4_portable<E: Copy + Default + std::ops::Add<Output = E> + std::ops::Mul<Output = E>>(
    a: &[E],
    b: [&[E]; 4],
) -> [E; 4] {
    b.map(|r| dot_lanes(a, r))
}

/// [`dot_f32`] of `a` with each of four rows `b` (the common prefix of `a`
/// and each row), with AVX-512 where the CPU has it: the same result bit
/// for bit as four calls of [`dot_portable`].
pub fn dot4_f32(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            let n = b.iter().fold(a.len(), |n, r| n.min(r.len()));
            // SAFETY: AVX-512 F and DQ are available (checked just above);
            // `a` and every row hold at least `n` elements.
            return unsafe { dot4_avx512(&a[..n], b.map(|r| &r[..n])) };
        }
    }
    b.map(|r| dot_f32(a, r))
}

/// The lanes of [`dot_lanes`] as two 16-wide AVX-512 registers per row, four
/// rows at a time (multiply, then add).
///
/// # Safety
/// The CPU supports AVX-512 F and DQ; every row of `b` is as long as `a`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn dot4_avx512(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = a.len();
    let full = n - n % LANES;
    let mut r = [[_mm512_setzero_ps(); 2]; 4];
    let mut p = 0;
    while p < full {
        // SAFETY: p + LANES <= full <= n, the length of `a` and of every row.
        unsafe {
            let x0 = _mm512_loadu_ps(a.as_ptr().add(p));
            let x1 = _mm512_loadu_ps(a.as_ptr().add(p + 16));
            for (rj, bj) in r.iter_mut().zip(&b) {
                rj[0] = _mm512_add_ps(rj[0], _mm512_mul_ps(x0, _mm512_loadu_ps(bj.as_ptr().add(p))));
                rj[1] = _mm512_add_ps(rj[1], _mm512_mul_ps(x1, _mm512_loadu_ps(bj.as_ptr().add(p + 16))));
            }
        }
        p += LANES;
    }
    let mut out = [0f32; 4];
    for ((o, rj), bj) in out.iter_mut().zip(r).zip(&b) {
        // SAFETY: AVX-512 F and DQ (this function's features); the tails
        // are the last n - full < LANES elements of `a` and of the row.
        *o = unsafe { finish_avx512(rj[0], rj[1], &a[full..], &bj[full..]) };
    }
    out
}

/// [`finish`] on two registers of 16 lanes: the tail (fewer than 32
/// elements) is multiplied and added into its lanes under a mask (the other
/// lanes untouched, as in the scalar form), then the lanes are summed
/// pairwise in the same order: lane l + lane l + 16, then + 8, + 4, + 2, + 1.
///
/// # Safety
/// The CPU supports AVX-512 F and DQ; `at` and `bt` hold the same number of
/// elements, fewer than 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn finish_avx512(r0: std::arch::x86_64::__m512, r1: std::arch::x86_64::__m512, at: &[f32], bt: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (mut r0, mut r1) = (r0, r1);
    let t = at.len().min(bt.len());
    if t > 0 {
        let mask = |len: usize| ((1u32 << len.min(16)) - 1) as __mmask16;
        // SAFETY: masked loads read only the first t (< 32) elements, which
        // both tails hold.
        unsafe {
            let m0 = mask(t);
            let x = _mm512_maskz_loadu_ps(m0, at.as_ptr());
            let y = _mm512_maskz_loadu_ps(m0, bt.as_ptr());
            r0 = _mm512_mask_add_ps(r0, m0, r0, _mm512_mul_ps(x, y));
            if t > 16 {
                let m1 = mask(t - 16);
                let x = _mm512_maskz_loadu_ps(m1, at.as_ptr().add(16));
                let y = _mm512_maskz_loadu_ps(m1, bt.as_ptr().add(16));
                r1 = _mm512_mask_add_ps(r1, m1, r1, _mm512_mul_ps(x, y));
            }
        }
    }
    let s = _mm512_add_ps(r0, r1);
    let s8 = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps::<1>(s));
    let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2)))
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

    /// Every path of the four-row form gives the bits of four portable dot
    /// products, with tails of every length.
    #[test]
    fn four_rows_match_the_portable_bits_on_every_path() {
        #[cfg(target_arch = "x86_64")]
        let avx512 = std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq");
        #[cfg(target_arch = "x86_64")]
        if !avx512 {
            println!("AVX-512 path not run: this CPU lacks avx512f/avx512dq");
        }
        for n in [0usize, 1, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 100, 784] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let rows: Vec<Vec<f32>> = (0..4)
                .map(|j| (0..n).map(|i| ((i * (j + 3)) as f32 * 0.11).cos()).collect())
                .collect();
            let b = [&rows[0][..], &rows[1], &rows[2], &rows[3]];
            let want = dot4_portable(&a, b).map(f32::to_bits);
            assert_eq!(dot4_f32(&a, b).map(f32::to_bits), want, "n={n}: the default path");
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: the features were checked above; the rows are as long as `a`.
                let got = unsafe { dot4_avx512(&a, b) };
                assert_eq!(got.map(f32::to_bits), want, "n={n}: AVX-512");
            }
        }
    }
}
