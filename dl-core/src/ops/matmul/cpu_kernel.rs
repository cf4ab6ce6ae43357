//! `GemmKernel for Cpu`: checks the operands, then sends each product to the
//! matrix-vector path (a few rows of A times B^T) or the blocked driver
//! (`blocked.rs`, packed panels and register-blocked micro-kernels).

use super::blocked::{self, Mat, PAR_FLOPS};
use super::kernel::{self, GemmPath};
use super::workspace::PackSlot;
use super::{Activation, Batch, BiasAxis, Gemm, GemmBiasKernel, GemmKernel, GemmWorkspace};
use crate::ops::mono::Host;

use crate::dtype::Float;
use crate::ops::util::UnaryOp;
use rayon::prelude::*;

/// Safe reference product used in tests.
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

/// Checks `Cpu.gemm` against [`gemm_reference`] for `g` on operands drawn
/// uniformly from `[-1, 1)`: element-wise within `tol * (1 + |want|)`. With
/// `beta = 0`, C starts as NaN, which the kernel must not read.
#[cfg(test)]
#[track_caller]
pub(crate) fn check_gemm<E: Float>(rng: &mut crate::Rng, g: Gemm<E>, tol: f64) {
    use crate::GemmKernel;
    let mut v = |len: usize| -> Vec<E> { (0..len).map(|_| E::from_f64(rng.uniform_range(-1.0, 1.0))).collect() };
    let (a, b) = (v(g.m * g.k), v(g.k * g.n));
    let c0 = if g.beta == E::ZERO {
        vec![E::from_f64(f64::NAN); g.m * g.n]
    } else {
        v(g.m * g.n)
    };
    let (mut c, mut r) = (c0.clone(), c0);
    crate::Cpu.gemm(g, &a, &b, &mut c);
    gemm_reference(&g, &a, &b, &mut r);
    for (i, (x, y)) in c.iter().zip(&r).enumerate() {
        let (x, y) = (x.to_f64(), y.to_f64());
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{g:?}: element {i}: {x} vs {y}");
    }
}

/// [`check_gemm`] of `C = alpha op(A) op(B) + beta C` (`m x n`, inner size
/// `k`) for each of the four transpose combinations.
#[cfg(test)]
#[track_caller]
pub(crate) fn check_gemm_transposes(rng: &mut crate::Rng, (m, n, k): (usize, usize, usize), alpha: f64, beta: f64) {
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let g = Gemm {
            alpha,
            beta,
            ..Gemm::new(m, n, k, ta, tb)
        };
        check_gemm(rng, g, 1e-12);
    }
}

/// Products `A B^T` with at most this many rows of A run as dot products.
const GEMV_MAX_M: usize = 4;

/// The fewest output elements of a thread's share in the matrix-vector path.
const GEMV_MIN_SHARE: usize = 32;

/// Matrix-vector products with fewer multiply-adds per row of A than this
/// run on one thread.
const GEMV_PAR_FLOPS: usize = 200_000;

/// Bias and activation applied to `C` after the product (see [`gemm_strided`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a, E> {
    /// A bias added per row (`m` values) or per column (`n` values) of `C`.
    pub bias: Option<(&'a [E], BiasAxis)>,
    /// The activation applied last.
    pub act: Activation,
}

/// How [`gemm_strided`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmOptions {
    /// The micro-kernel path: `None` for [`kernel::default_path`] with the
    /// matrix-vector shortcut for a few rows of `A B^T`; `Some(p)` forces
    /// the blocked driver on path `p` (tests; the portable kernel when the
    /// CPU lacks `p`).
    pub path: Option<GemmPath>,
    /// Split large products over the current rayon pool's threads.
    pub parallel: bool,
}

impl Default for GemmOptions {
    fn default() -> Self {
        Self {
            path: None,
            parallel: true,
        }
    }
}

/// Index of the last element + 1 of a `rows x cols` operand whose rows are
/// `ld` apart (0 when empty), or `None` on overflow.
fn extent(rows: usize, cols: usize, ld: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(ld)?.checked_add(cols)
}

/// Checks one operand stored `rows x cols` with row stride `ld`.
///
/// # Panics
/// When `ld < cols`, a size overflows `usize`, or the slice is too short.
fn check_operand(name: &str, len: usize, rows: usize, cols: usize, ld: usize) {
    assert!(
        ld >= cols || rows <= 1,
        "gemm: {name} row stride {ld} below its {cols} columns"
    );
    let need = extent(rows, cols, ld).unwrap_or_else(|| panic!("gemm: the size of {name} overflows usize"));
    assert!(len >= need, "gemm: {name} has {len} elements, needs {need}");
}

/// `C = act(alpha op(A) op(B) + beta C + bias)` on the CPU, packing into
/// the caller's workspace `ws`, with row strides: `A` is stored `m x k` (or `k x m` when `g.trans_a`) with rows
/// `lda` apart, `B` `k x n` (or `n x k`) with rows `ldb` apart, `C` `m x n`
/// with rows `ldc` apart. Transposed operands are read in place.
///
/// ```
/// use dl_core::ops::matmul::{gemm_strided_ws, Activation, BiasAxis, Epilogue, Gemm, GemmOptions, GemmWorkspace};
/// // The left 2x2 block of a 2x3 A times I, plus a column bias, then ReLU.
/// let a = [1.0f32, -2.0, 9.0, 3.0, 4.0, 9.0];
/// let b = [1.0f32, 0.0, 0.0, 1.0];
/// let mut c = [0.0f32; 4];
/// let ep = Epilogue { bias: Some((&[0.5f32, 0.5][..], BiasAxis::Columns)), act: Activation::Relu };
/// let mut ws = GemmWorkspace::new();
/// gemm_strided_ws(&mut ws, &Gemm::new(2, 2, 2, false, false), &a, 3, &b, 2, &mut c, 2, ep, GemmOptions::default());
/// assert_eq!(c, [1.5, 0.0, 3.5, 4.5]);
/// ```
///
/// # Panics
/// When an operand or the bias does not fit its slice, a row stride is
/// below its row length, or a size overflows `usize`: all checked before
/// anything is written.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided_ws<E: Float>(
    ws: &mut GemmWorkspace,
    g: &Gemm<E>,
    a: &[E],
    lda: usize,
    b: &[E],
    ldb: usize,
    c: &mut [E],
    ldc: usize,
    ep: Epilogue<'_, E>,
    opts: GemmOptions,
) {
    strided(&mut ws.slots(1)[0], g, a, lda, b, ldb, c, ldc, ep, opts)
}

/// [`gemm_strided_ws`] packing into one slot of a workspace.
#[allow(clippy::too_many_arguments)]
fn strided<E: Float>(
    slot: &mut PackSlot,
    g: &Gemm<E>,
    a: &[E],
    lda: usize,
    b: &[E],
    ldb: usize,
    c: &mut [E],
    ldc: usize,
    ep: Epilogue<'_, E>,
    opts: GemmOptions,
) {
    let (m, n, k) = (g.m, g.n, g.k);
    let (ar, ac) = if g.trans_a { (k, m) } else { (m, k) };
    let (br, bc) = if g.trans_b { (n, k) } else { (k, n) };
    check_operand("A", a.len(), ar, ac, lda);
    check_operand("B", b.len(), br, bc, ldb);
    check_operand("C", c.len(), m, n, ldc);
    if let Some((bias, axis)) = ep.bias {
        let need = if axis == BiasAxis::Rows { m } else { n };
        assert!(
            bias.len() >= need,
            "gemm: bias has {} elements, needs {need}",
            bias.len()
        );
    }
    if m == 0 || n == 0 {
        return;
    }
    let (lda, ldb, ldc) = (lda.max(1), ldb.max(1), ldc.max(1));
    if k == 0 {
        for i in 0..m {
            for (j, v) in c[i * ldc..i * ldc + n].iter_mut().enumerate() {
                *v = if g.beta == E::ZERO { E::ZERO } else { g.beta * *v };
                finish(v, ep, i, j);
            }
        }
        return;
    }
    if opts.path.is_none() && g.trans_b && !g.trans_a && m <= GEMV_MAX_M {
        return gemv_bt(g, a, lda, b, ldb, c, ldc, ep, opts.parallel);
    }
    let parallel = opts.parallel && m.saturating_mul(n).saturating_mul(k) >= PAR_FLOPS;
    let path = opts.path.unwrap_or_else(kernel::default_path);
    let (am, bm) = (Mat::op(a, lda, g.trans_a), Mat::op(b, ldb, g.trans_b));
    // SAFETY: `check_operand` showed that element (i, p) of op(A), at
    // i * rs + p * cs, lies inside `a` for i < m, p < k (the last one is
    // extent - 1), likewise for op(B) and C; `c` is borrowed mutably, so it
    // overlaps neither operand nor the bias; the bias holds m or n values.
    unsafe {
        blocked::run(
            kernel::kernel::<E>(path),
            (m, n, k),
            g.alpha,
            am,
            bm,
            g.beta,
            c.as_mut_ptr(),
            ldc,
            ep.bias,
            ep.act,
            parallel,
            slot,
        )
    }
}

/// [`gemm_strided_ws`] with a fresh workspace: **allocates** the packing
/// buffers at every call (for one-off products; a loop keeps a
/// [`GemmWorkspace`] and calls [`gemm_strided_ws`]).
///
/// ```
/// use dl_core::ops::matmul::{gemm_strided, Epilogue, Gemm, GemmOptions};
/// let (a, b, mut c) = ([1.0f32, 2.0], [3.0f32, 4.0], [0.0f32]);
/// gemm_strided(&Gemm::new(1, 1, 2, false, false), &a, 2, &b, 1, &mut c, 1, Epilogue::default(), GemmOptions::default());
/// assert_eq!(c, [11.0]);
/// ```
///
/// # Panics
/// As [`gemm_strided_ws`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided<E: Float>(
    g: &Gemm<E>,
    a: &[E],
    lda: usize,
    b: &[E],
    ldb: usize,
    c: &mut [E],
    ldc: usize,
    ep: Epilogue<'_, E>,
    opts: GemmOptions,
) {
    gemm_strided_ws(&mut GemmWorkspace::new(), g, a, lda, b, ldb, c, ldc, ep, opts)
}

/// The epilogue on one element `(i, j)` outside the micro-kernels.
#[inline(always)]
fn finish<E: Float>(v: &mut E, ep: Epilogue<'_, E>, i: usize, j: usize) {
    match ep.bias {
        Some((b, BiasAxis::Rows)) => *v += b[i],
        Some((b, BiasAxis::Columns)) => *v += b[j],
        None => {}
    }
    match ep.act {
        Activation::None => {}
        Activation::Relu => *v = crate::ops::Relu.f(*v),
        Activation::Gelu => *v = crate::ops::Gelu.f(*v),
    }
}

/// `C = alpha A B^T + beta C` for a few rows of A: each output element is a
/// dot product of a row of A and a row of B (both contiguous), four rows of
/// B at a time. Large enough products split the output row into one equal
/// share per thread: the calling thread keeps the first share and the same
/// worker takes the same other share at every call, so at batch size 1
/// each core keeps its part of the weights in its own L2 cache. Every
/// element is computed the same way whatever the split: the same bits for
/// any number of threads.
#[allow(clippy::too_many_arguments)]
fn gemv_bt<E: Float>(
    g: &Gemm<E>,
    a: &[E],
    lda: usize,
    b: &[E],
    ldb: usize,
    c: &mut [E],
    ldc: usize,
    ep: Epilogue<'_, E>,
    parallel: bool,
) {
    let (n, k) = (g.n, g.k);
    let threads = rayon::current_num_threads();
    for i in 0..g.m {
        let ai = &a[i * lda..i * lda + k];
        let ci = &mut c[i * ldc..i * ldc + n];
        let row = |j: usize| &b[j * ldb..j * ldb + k];
        let store = |out: &mut E, v: E, j: usize| {
            let v = g.alpha * v;
            *out = if g.beta == E::ZERO { v } else { v + g.beta * *out };
            finish(out, ep, i, j);
        };
        let run = |j0: usize, cj: &mut [E]| {
            let j1 = j0 + cj.len() / 4 * 4;
            let mut quads = cj.chunks_exact_mut(4);
            for (q, out) in quads.by_ref().enumerate() {
                let j = j0 + 4 * q;
                let v = E::dot4(ai, [row(j), row(j + 1), row(j + 2), row(j + 3)]);
                for (d, (o, v)) in out.iter_mut().zip(v).enumerate() {
                    store(o, v, j + d);
                }
            }
            for (d, o) in quads.into_remainder().iter_mut().enumerate() {
                store(o, E::dot(ai, row(j1 + d)), j1 + d);
            }
        };
        let split = parallel && threads > 1 && n >= 2 * GEMV_MIN_SHARE && n * k >= GEMV_PAR_FLOPS;
        let share = if split {
            n.div_ceil(threads).next_multiple_of(4).max(GEMV_MIN_SHARE)
        } else {
            n
        };
        crate::cpu::for_each_chunk(ci, share, split, |(p, cj)| run(p * share, cj));
    }
}

/// Sizes of one product's operands, checked for overflow.
fn sizes<E>(g: &Gemm<E>) -> (usize, usize, usize) {
    let mul = |x: usize, y: usize| x.checked_mul(y).expect("gemm: an operand's size overflows usize");
    (mul(g.m, g.k), mul(g.k, g.n), mul(g.m, g.n))
}

/// `offset + last * stride + size`, checked: the end of the last product
/// of a batch in its buffer.
fn batch_end(offset: usize, last: usize, stride: usize, size: usize) -> usize {
    last.checked_mul(stride)
        .and_then(|v| v.checked_add(offset))
        .and_then(|v| v.checked_add(size))
        .expect("gemm_batched: a batch extent overflows usize")
}

/// A batch of products with an epilogue (the convolution's per-row bias),
/// packing into `ws`. One product uses the pool's threads; a larger batch
/// runs single-threaded products in `min(threads, count)` fixed groups of
/// consecutive products, each group on one task with its own slot of `ws`
/// (the products do not depend on the grouping: the same bits for any
/// number of threads).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_batched_fused<E: Float>(
    ws: &mut GemmWorkspace,
    g: Gemm<E>,
    bt: Batch,
    a: &[E],
    b: &[E],
    c: &mut [E],
    ep: Epilogue<'_, E>,
) {
    let (sa, sb, sc) = sizes(&g);
    if bt.count == 0 {
        return;
    }
    let last = bt.count - 1;
    assert!(
        batch_end(bt.a_offset, last, bt.a_stride, sa) <= a.len(),
        "gemm_batched: A out of bounds"
    );
    assert!(
        batch_end(bt.b_offset, last, bt.b_stride, sb) <= b.len(),
        "gemm_batched: B out of bounds"
    );
    assert!(
        batch_end(bt.c_offset, last, bt.c_stride, sc) <= c.len(),
        "gemm_batched: C out of bounds"
    );
    assert!(bt.count == 1 || bt.c_stride >= sc, "gemm_batched: C products overlap");
    if let Some(low) = crate::amp::low_for::<E>() {
        return super::autocast::gemm_low(low, ws, g, bt, a, b, c, ep);
    }
    let (lda, ldb) = (if g.trans_a { g.m } else { g.k }, if g.trans_b { g.k } else { g.n });
    let one = |slot: &mut PackSlot, i: usize, ci: &mut [E], parallel: bool| {
        let opts = GemmOptions { path: None, parallel };
        let (ao, bo) = (bt.a_offset + i * bt.a_stride, bt.b_offset + i * bt.b_stride);
        strided(
            slot,
            &g,
            &a[ao..ao + sa],
            lda,
            &b[bo..bo + sb],
            ldb,
            &mut ci[..sc],
            g.n,
            ep,
            opts,
        );
    };
    if bt.count == 1 {
        return one(&mut ws.slots(1)[0], 0, &mut c[bt.c_offset..bt.c_offset + sc], true);
    }
    let cs = &mut c[bt.c_offset..];
    let flops = g.m.saturating_mul(g.n).saturating_mul(g.k);
    let groups = rayon::current_num_threads().min(bt.count);
    if flops.saturating_mul(bt.count) >= PAR_FLOPS && bt.c_stride > 0 && groups > 1 {
        // Group t holds products t * per .. (t + 1) * per; the C chunk of a
        // group starts at its first product (the last chunk may be short:
        // it still holds its last product, checked above).
        let per = bt.count.div_ceil(groups);
        let groups = bt.count.div_ceil(per);
        cs.par_chunks_mut(per * bt.c_stride)
            .take(groups)
            .zip(ws.slots(groups).par_iter_mut())
            .enumerate()
            .for_each(|(t, (cg, slot))| {
                for (j, ci) in cg.chunks_mut(bt.c_stride).take(per.min(bt.count - t * per)).enumerate() {
                    one(slot, t * per + j, ci, false);
                }
            });
    } else {
        let slot = &mut ws.slots(1)[0];
        for (i, ci) in cs.chunks_mut(bt.c_stride.max(sc).max(1)).take(bt.count).enumerate() {
            one(slot, i, ci, false);
        }
    }
}

impl GemmKernel for Host {
    fn gemm_batched_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        bt: Batch,
        a: &Vec<E>,
        b: &Vec<E>,
        c: &mut Vec<E>,
    ) {
        gemm_batched_fused(ws, g, bt, a, b, c, Epilogue::default())
    }
}

impl GemmBiasKernel for Host {
    #[allow(clippy::too_many_arguments)]
    fn gemm_bias_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        a: &Vec<E>,
        b: &Vec<E>,
        bias: &Vec<E>,
        axis: BiasAxis,
        c: &mut Vec<E>,
    ) {
        let ep = Epilogue {
            bias: Some((bias, axis)),
            act: Activation::None,
        };
        gemm_batched_fused(ws, g, Batch::one(), a, b, c, ep)
    }
}
