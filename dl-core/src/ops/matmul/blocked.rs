//! The blocked CPU GEMM driver (BLIS loop order).
//!
//! ```text
//! for jc in 0..n step NC            (B panel: kc x NC, packed once, shared; L3)
//!   for pc in 0..k step KC          (sequential: each C element sums its k in order)
//!     for ic0 in 0..m step CHUNK    (MC rows on one thread, 2 MC per thread otherwise)
//!       pack A[ic0.., pc..] (and B[pc.., jc..] with the first chunk), in
//!                                   parallel over slivers: copies only; shared
//!       parallel over tasks = (MC row block) x (group of NR slivers)
//!         for each NR sliver of the group, for each MR sliver of the block:
//!           micro-kernel on an MR x NR tile of C (registers; B sliver in L1, A block in L2)
//! ```
//!
//! The first `pc` block applies `beta`, later ones add to `C`; the last
//! applies the fused epilogue (bias, ReLU in registers; GELU on the tile
//! just written, while it is in L1). Threads split `C`, never `k`, and a
//! tile's values do not depend on its position, so the result is the same
//! for any number of threads.
//!
//! Packing memory comes from the caller's [`super::GemmWorkspace`]: one
//! slot per product (the packed B panel, shared by the product's tasks, and
//! the packed A rows, one MC block per task); its buffers only grow, so a
//! caller that keeps its workspace allocates nothing after the first
//! products.

use super::kernel::{Epi, Kernel, MAX_EDGE, MAX_TILE};
use super::workspace::PackSlot;
use super::{Activation, BiasAxis};
use crate::dtype::Float;
use crate::ops::util::UnaryOp;
use rayon::prelude::*;

/// A raw pointer that may cross threads: each task writes a disjoint
/// block of `C` and reads the shared packed panel (see the SAFETY notes at
/// the uses).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: the driver hands each parallel task a disjoint set of C tiles and
// only shared reads of the packed B panel and the operands; the pointers
// outlive the parallel region (it ends before `run` returns).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so that closures capture the `SendPtr`).
    fn get(self) -> *mut T {
        self.0
    }
}

/// An operand read in place: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<E> {
    /// First element.
    pub ptr: *const E,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl<E> Mat<E> {
    /// `op(x)` for `x` stored row-major with row stride `ld`: `x` itself,
    /// or its transpose when `trans`.
    pub(crate) fn op(x: &[E], ld: usize, trans: bool) -> Self {
        let (rs, cs) = if trans { (1, ld) } else { (ld, 1) };
        Self {
            ptr: x.as_ptr(),
            rs,
            cs,
        }
    }
}

// SAFETY: a `Mat` only reads an operand the caller borrows immutably for
// the whole product (see `run`).
unsafe impl<E: Sync> Send for Mat<E> {}
// SAFETY: as above.
unsafe impl<E: Sync> Sync for Mat<E> {}

impl<E> Mat<E> {
    /// Element `(i, j)`.
    ///
    /// # Safety
    /// The offset `i * rs + j * cs` lies inside the operand's allocation.
    unsafe fn at(self, i: usize, j: usize) -> *const E {
        // SAFETY: by the caller's contract.
        unsafe { self.ptr.add(i * self.rs + j * self.cs) }
    }
}

/// Everything a task needs, shared by reference across threads.
struct Job<E> {
    kern: Kernel<E>,
    n: usize,
    a: Mat<E>,
    c: SendPtr<E>,
    ldc: usize,
    bias: Option<(SendPtr<E>, BiasAxis)>,
    act: Activation,
}

/// Products with at least this many multiply-adds run on the pool's threads.
pub(crate) const PAR_FLOPS: usize = 64 * 64 * 64;

/// Panels with at least this many elements are packed in parallel.
const PAR_PACK: usize = 1 << 17;

/// `C = act(alpha op(A) op(B) + beta C + bias)` for `m x n x k`, `k > 0`,
/// packing into `slot`.
///
/// # Safety
/// `a.at(i, p)` is valid for reads for `i < m`, `p < k`; `b.at(p, j)` for
/// `p < k`, `j < n`; `c + i * ldc + j` for reads and writes for `i < m`,
/// `j < n`, not overlapping `a`, `b` or the bias; each operand lies in one
/// initialised slice (from its first to its last element) that nothing
/// writes during the call; a bias holds `m` (rows) or `n` (columns) elements.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run<E: Float>(
    kern: Kernel<E>,
    (m, n, k): (usize, usize, usize),
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: *mut E,
    ldc: usize,
    bias: Option<(&[E], BiasAxis)>,
    act: Activation,
    parallel: bool,
    slot: &mut PackSlot,
) {
    let nr = kern.nr;
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let par = threads > 1;
    let kc_max = kern.kc.min(k);
    let nc_max = kern.nc.min(n.div_ceil(nr) * nr);
    let job = Job {
        kern,
        n,
        a,
        c: SendPtr(c),
        ldc,
        bias: bias.map(|(v, ax)| (SendPtr(v.as_ptr().cast_mut()), ax)),
        act,
    };
    // Rows of op(A) packed at once: one MC block on one thread (it stays in
    // L2), a few blocks per thread otherwise (packed in parallel, shared).
    let chunk = if par { kern.mc * 2 * threads } else { kern.mc };
    let chunk_max = chunk.min(m).div_ceil(kern.mr) * kern.mr;
    let (ap, bp) = slot.buffers::<E>(kc_max * chunk_max, kc_max * nc_max);
    let (panel, apack) = (SendPtr(bp), SendPtr(ap));
    for jc in (0..n).step_by(kern.nc) {
        let nc = kern.nc.min(n - jc);
        let slivers = nc.div_ceil(nr);
        for pc in (0..k).step_by(kern.kc) {
            let kc = kern.kc.min(k - pc);
            let pack_b = |s: usize| {
                let j0 = s * nr;
                // SAFETY: columns jc + j0 .. jc + j0 + w <= n and rows
                // pc .. pc + kc <= k of B are valid (the caller's
                // contract); sliver s of the panel (kc * nr elements
                // at s * kc * nr) lies inside its kc_max * nc_max
                // elements, disjoint from the other slivers.
                unsafe {
                    let dst = panel.get().add(s * kc * nr);
                    (kern.pack_b)(b.at(pc, jc + j0), b.rs, b.cs, nr.min(nc - j0), kc, dst)
                };
            };
            let ep = Epi {
                alpha,
                beta: if pc == 0 { beta } else { E::ONE },
                bias_row: std::ptr::null(),
                bias_col: std::ptr::null(),
                relu: false,
            };
            let last = pc + kc == k;
            for i0 in (0..m).step_by(chunk) {
                let rows = chunk.min(m - i0);
                let mr = kern.mr;
                let pack_a = |t: usize| {
                    // SAFETY: rows i0 + t * mr .. + h <= m and columns
                    // pc .. pc + kc <= k of op(A) are valid; A sliver t
                    // (kc * mr elements at t * kc * mr) lies inside the
                    // kc_max * chunk_max elements, disjoint from the others.
                    unsafe {
                        let dst = apack.get().add(t * kc * mr);
                        (kern.pack_a)(
                            job.a.at(i0 + t * mr, pc),
                            job.a.rs,
                            job.a.cs,
                            mr.min(rows - t * mr),
                            kc,
                            dst,
                        )
                    };
                };
                // The B panel with the first A chunk, in one
                // parallel region (each region costs thread wake-ups).
                let nb = if i0 == 0 { slivers } else { 0 };
                let pack = |t: usize| if t < nb { pack_b(t) } else { pack_a(t - nb) };
                let count = nb + rows.div_ceil(mr);
                if par && kc * (rows + nb * nr) >= PAR_PACK {
                    (0..count).into_par_iter().for_each(pack);
                } else {
                    (0..count).for_each(pack);
                }
                // Row blocks of equal height (whole MR slivers, at most MC),
                // so that the tasks are of equal size: 256 rows are two
                // blocks of 132 and 124, not 192 and 64.
                let mb = rows.div_ceil(kern.mc);
                let mc = rows.div_ceil(mb).div_ceil(mr) * mr;
                let mb = rows.div_ceil(mc);
                // Enough tasks to keep every thread busy, and a number of
                // them that the threads share evenly where the slivers allow.
                let groups = if par {
                    let mut g = (4 * threads).div_ceil(mb).min(slivers);
                    while g < slivers && (mb * g) % threads != 0 {
                        g += 1;
                    }
                    g
                } else {
                    1
                };
                let per = slivers.div_ceil(groups);
                let groups = slivers.div_ceil(per);
                let task = |t: usize| {
                    let (ib, g) = (t / groups, t % groups);
                    let s0 = g * per;
                    let s1 = (s0 + per).min(slivers);
                    let r0 = ib * mc;
                    let at = Tiles {
                        ic: i0 + r0,
                        rows: mc.min(rows - r0),
                        jc,
                        s0,
                        s1,
                        kc,
                    };
                    // SAFETY: task t covers rows i0 + r0 .. + mc of C
                    // and slivers s0..s1, disjoint from every other
                    // task; both panels are packed before the tasks
                    // start and only read by them; A block ib starts
                    // at sliver r0 / mr (mc is a multiple of mr, and
                    // mb * mc covers the chunk's rows).
                    unsafe { block(&job, at, apack.get().add(r0 * kc), panel.get(), ep, last) };
                };
                if par && mb * groups > 1 {
                    (0..mb * groups).into_par_iter().for_each(task);
                } else {
                    (0..mb * groups).for_each(task);
                }
            }
        }
    }
}

/// The tiles of one task: rows `ic .. ic + rows` of C, slivers `s0..s1`
/// of the B panel that starts at column `jc`, depth `kc`.
#[derive(Clone, Copy)]
struct Tiles {
    ic: usize,
    rows: usize,
    jc: usize,
    s0: usize,
    s1: usize,
    kc: usize,
}

/// One task: the micro-kernel over the packed A block at `ap` (slivers of
/// `MR` rows) and slivers `s0..s1` of the packed B panel at `bp`.
///
/// # Safety
/// See [`run`]; `ap` holds `ceil(rows / MR)` packed slivers of depth `kc`,
/// `bp` the panel's slivers; no other task touches these tiles of C.
unsafe fn block<E: Float>(job: &Job<E>, at: Tiles, ap: *const E, bp: *const E, ep: Epi<E>, last: bool) {
    let k = &job.kern;
    let (mr, nr, kc) = (k.mr, k.nr, at.kc);
    for s in at.s0..at.s1 {
        let j = at.jc + s * nr;
        let w = nr.min(job.n - j);
        // SAFETY: sliver s of the panel (kc * nr elements).
        let bs = unsafe { bp.add(s * kc * nr) };
        for (t, i0) in (0..at.rows).step_by(mr).enumerate() {
            let i = at.ic + i0;
            let h = mr.min(at.rows - i0);
            let mut e = ep;
            if last {
                if let Some((bias, axis)) = job.bias {
                    match axis {
                        // SAFETY: a row bias holds m elements (i + h <= m).
                        BiasAxis::Rows => e.bias_row = unsafe { bias.get().add(i) },
                        // SAFETY: a column bias holds n elements (j + w <= n).
                        BiasAxis::Columns => e.bias_col = unsafe { bias.get().add(j) },
                    }
                }
                e.relu = job.act == Activation::Relu;
            }
            // SAFETY: A sliver t of the block, B sliver bs; tile rows i..i + h
            // and columns j..j + w of C are inside m x n and this task's.
            unsafe {
                let c = job.c.get().add(i * job.ldc + j);
                tile(k, kc, ap.add(t * kc * mr), bs, c, job.ldc, h, w, e);
                if last && job.act == Activation::Gelu {
                    for r in 0..h {
                        for v in std::slice::from_raw_parts_mut(c.add(r * job.ldc), w) {
                            *v = crate::ops::Gelu.f(*v);
                        }
                    }
                }
            }
        }
    }
}

/// Runs the kernel on an `h x w` tile of C at `c` (`h <= MR`, `w <= NR`);
/// an edge tile goes through a full-size copy, so that every tile runs the
/// same instructions.
///
/// # Safety
/// `a`, `b` are packed slivers of depth `kc`; `c + r * ldc + q` is valid
/// for `r < h`, `q < w`; a bias pointer in `ep` is valid for `h` (row) or
/// `w` (column) reads.
#[allow(clippy::too_many_arguments)]
unsafe fn tile<E: Float>(
    k: &Kernel<E>,
    kc: usize,
    a: *const E,
    b: *const E,
    c: *mut E,
    ldc: usize,
    h: usize,
    w: usize,
    ep: Epi<E>,
) {
    let (mr, nr) = (k.mr, k.nr);
    if h == mr && w == nr {
        // SAFETY: a full tile: the caller's ranges are the kernel's.
        return unsafe { (k.f)(kc, a, b, c, ldc, ep) };
    }
    let mut t = [E::ZERO; MAX_TILE];
    let mut br = [E::ZERO; MAX_EDGE];
    let mut bc = [E::ZERO; MAX_EDGE];
    let mut e = ep;
    // SAFETY: reads and writes of C stay in r < h, q < w; the biases are
    // read for h (rows) or w (columns) elements; the kernel works on `t`
    // (mr * nr <= MAX_TILE elements, row stride nr) and the padded copies
    // of the biases (MAX_EDGE >= mr, nr).
    unsafe {
        if ep.beta != E::ZERO {
            for r in 0..h {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), t.as_mut_ptr().add(r * nr), w);
            }
        }
        if !ep.bias_row.is_null() {
            std::ptr::copy_nonoverlapping(ep.bias_row, br.as_mut_ptr(), h);
            e.bias_row = br.as_ptr();
        }
        if !ep.bias_col.is_null() {
            std::ptr::copy_nonoverlapping(ep.bias_col, bc.as_mut_ptr(), w);
            e.bias_col = bc.as_ptr();
        }
        (k.f)(kc, a, b, t.as_mut_ptr(), nr, e);
        for r in 0..h {
            std::ptr::copy_nonoverlapping(t.as_ptr().add(r * nr), c.add(r * ldc), w);
        }
    }
}
