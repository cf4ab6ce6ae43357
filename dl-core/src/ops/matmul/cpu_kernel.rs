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
