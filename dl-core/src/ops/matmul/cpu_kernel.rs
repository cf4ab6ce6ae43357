use super::{Batch, Gemm, GemmKernel};
use crate::cpu::Cpu;
use crate::dtype::Float;
use gemm::Parallelism;
use rayon::prelude::*;

/// Products with fewer multiply-adds than this run on one thread.
const PAR_FLOPS: usize = 64 * 64 * 64;

/// Extent (max index + 1) of a row-major `rows x cols` operand stored
/// transposed or not.
fn extent(rows: usize, cols: usize) -> usize {
    rows * cols
}

/// Safe reference product used for degenerate sizes and in tests.
#[cfg(test)]
pub(crate) fn gemm_reference<E: Float>(g: &Gemm<E>, a: &[E], b: &[E], c: &mut [E]) {
    for i in 0..g.m {
        for j in 0..g.n {
            let mut acc = E::ZERO;
            for p in 0..g.k {
                let av = if g.trans_a { a[p * g.m + i] } else { a[i * g.k + p] };
                let bv = if g.trans_b { b[j * g.k + p] } else { b[p * g.n + j] };
                acc += av * bv;
            }
            let old = if g.beta == E::ZERO {
                E::ZERO
            } else {
                g.beta * c[i * g.n + j]
            };
            c[i * g.n + j] = old + g.alpha * acc;
        }
    }
}

/// Products `A B^T` with all of m, n, k at least this large transpose B first.
const TRANSPOSE_MIN: usize = 32;

/// Products `A B^T` with at most this many rows of A run as dot products.
const GEMV_MAX_M: usize = 4;

/// Output elements per parallel job of the matrix-vector path.
const GEMV_CHUNK: usize = 64;

/// Matrix-vector products with fewer multiply-adds per row of A than this
/// run on one thread.
const GEMV_PAR_FLOPS: usize = 200_000;

/// `C = alpha A B^T + beta C` for a few rows of A: each output element is a
/// dot product of a row of A and a row of B (both contiguous). Parallel
/// over fixed chunks of the output row, so the result does not depend on
/// the number of threads.
fn gemv_bt<E: Float>(g: &Gemm<E>, a: &[E], b: &[E], c: &mut [E], par: Parallelism) {
    let (n, k) = (g.n, g.k);
    for (i, ci) in c[..g.m * n].chunks_mut(n).enumerate() {
        let ai = &a[i * k..i * k + k];
        let run = |j0: usize, cj: &mut [E]| {
            for (j, out) in cj.iter_mut().enumerate() {
                let jj = j0 + j;
                let v = g.alpha * E::dot(ai, &b[jj * k..jj * k + k]);
                *out = if g.beta == E::ZERO { v } else { v + g.beta * *out };
            }
        };
        if matches!(par, Parallelism::None) || n <= GEMV_CHUNK || n * k < GEMV_PAR_FLOPS {
            run(0, ci);
        } else {
            ci.par_chunks_mut(GEMV_CHUNK)
                .enumerate()
                .for_each(|(p, cj)| run(p * GEMV_CHUNK, cj));
        }
    }
}

fn gemm_one<E: Float>(g: &Gemm<E>, a: &[E], b: &[E], c: &mut [E], par: Parallelism) {
    assert!(
        a.len() >= extent(g.m, g.k),
        "gemm: A has {} elements, needs {}",
        a.len(),
        g.m * g.k
    );
    assert!(
        b.len() >= extent(g.k, g.n),
        "gemm: B has {} elements, needs {}",
        b.len(),
        g.k * g.n
    );
    assert!(
        c.len() >= extent(g.m, g.n),
        "gemm: C has {} elements, needs {}",
        c.len(),
        g.m * g.n
    );
    if g.m == 0 || g.n == 0 {
        return;
    }
    if g.k == 0 {
        for v in &mut c[..g.m * g.n] {
            *v = if g.beta == E::ZERO { E::ZERO } else { g.beta * *v };
        }
        return;
    }
    if g.trans_b && !g.trans_a && g.m <= GEMV_MAX_M {
        return gemv_bt(g, a, b, c, par);
    }
    if g.trans_b && !g.trans_a && g.m >= TRANSPOSE_MIN && g.n >= TRANSPOSE_MIN && g.k >= TRANSPOSE_MIN {
        // `gemm` runs `A B^T` (a Linear forward, with the weight stored
        // `[out, in]` as PyTorch does) at a third to a half of the speed of
        // `A B` on these shapes; a transposed copy of B costs far less than
        // the difference.
        return E::with_scratch(g.k * g.n, |bt| {
            super::transpose::transpose_par(&b[..g.k * g.n], g.n, g.k, bt, !matches!(par, Parallelism::None));
            let nn = Gemm { trans_b: false, ..*g };
            gemm_one(&nn, a, bt, c, par)
        });
    }
    let (m, n, k) = (g.m as isize, g.n as isize, g.k as isize);
    // (column stride, row stride) of each operand as the product sees it.
    let (a_cs, a_rs) = if g.trans_a { (m, 1) } else { (1, k) };
    let (b_cs, b_rs) = if g.trans_b { (k, 1) } else { (1, n) };
    // SAFETY: the asserts above guarantee that every index the product
    // touches, row * rs + col * cs for rows < m (or k) and cols < k (or n),
    // lies inside the slices: each operand spans exactly rows * cols elements
    // in either orientation. `c` is borrowed mutably and does not alias `a`
    // or `b` (Rust borrows guarantee it). The `gemm` crate reads `dst` only
    // when `read_dst` is true, and its alpha scales dst and beta the product.
    unsafe {
        gemm::gemm(
            g.m,
            g.n,
            g.k,
            c.as_mut_ptr(),
            1,
            n,
            g.beta != E::ZERO,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            g.beta,
            g.alpha,
            false,
            false,
            false,
            par,
        );
    }
}

impl GemmKernel for Cpu {
    fn gemm_batched<E: Float>(&self, g: Gemm<E>, bt: Batch, a: &Vec<E>, b: &Vec<E>, c: &mut Vec<E>) {
        let (sa, sb, sc) = (g.m * g.k, g.k * g.n, g.m * g.n);
        if bt.count == 0 {
            return;
        }
        let last = bt.count - 1;
        assert!(
            bt.a_offset + last * bt.a_stride + sa <= a.len(),
            "gemm_batched: A out of bounds"
        );
        assert!(
            bt.b_offset + last * bt.b_stride + sb <= b.len(),
            "gemm_batched: B out of bounds"
        );
        assert!(
            bt.c_offset + last * bt.c_stride + sc <= c.len(),
            "gemm_batched: C out of bounds"
        );
        assert!(bt.count == 1 || bt.c_stride >= sc, "gemm_batched: C products overlap");
        let flops = g.m * g.n * g.k;
        if bt.count == 1 {
            let par = if flops >= PAR_FLOPS {
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            };
            let c = &mut c[bt.c_offset..bt.c_offset + sc];
            return gemm_one(
                &g,
                &a[bt.a_offset..bt.a_offset + sa],
                &b[bt.b_offset..bt.b_offset + sb],
                c,
                par,
            );
        }
        let cs = &mut c[bt.c_offset..];
        let run = |i: usize, ci: &mut [E]| {
            let ao = bt.a_offset + i * bt.a_stride;
            let bo = bt.b_offset + i * bt.b_stride;
            gemm_one(&g, &a[ao..ao + sa], &b[bo..bo + sb], &mut ci[..sc], Parallelism::None);
        };
        if flops * bt.count >= PAR_FLOPS && bt.c_stride > 0 {
            cs.par_chunks_mut(bt.c_stride)
                .take(bt.count)
                .enumerate()
                .for_each(|(i, ci)| run(i, ci));
        } else {
            cs.chunks_mut(bt.c_stride.max(sc))
                .take(bt.count)
                .enumerate()
                .for_each(|(i, ci)| run(i, ci));
        }
    }
}
