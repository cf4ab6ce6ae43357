//! The CPU backend: `Vec` storage, rayon parallelism, `gemm` for matrix products.
//!
//! Kernels are deterministic for a given thread count: work is split into
//! fixed-size chunks and no reduction depends on scheduling.

use crate::backend::Storage;
use crate::dtype::Float;
use rayon::prelude::*;

/// The CPU device. Threads come from rayon's global pool
/// (`RAYON_NUM_THREADS` sets their number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu;

/// Elements below which element-wise kernels stay on one thread.
pub const PAR_THRESHOLD: usize = 1 << 15;
/// Chunk size of parallel element-wise kernels.
pub const PAR_CHUNK: usize = 1 << 13;

impl Storage for Cpu {
    type Buf<E: Float> = Vec<E>;
    type Idx = Vec<u32>;

    fn name(&self) -> String {
        "cpu".into()
    }
    fn zeros<E: Float>(&self, len: usize) -> Vec<E> {
        vec![E::ZERO; len]
    }
    fn from_slice<E: Float>(&self, data: &[E]) -> Vec<E> {
        data.to_vec()
    }
    fn to_vec<E: Float>(&self, buf: &Vec<E>) -> Vec<E> {
        buf.clone()
    }
    fn write<E: Float>(&self, buf: &mut Vec<E>, data: &[E]) {
        buf.copy_from_slice(data);
    }
    fn len<E: Float>(&self, buf: &Vec<E>) -> usize {
        buf.len()
    }
    fn resize<E: Float>(&self, buf: &mut Vec<E>, len: usize) {
        buf.resize(len, E::ZERO);
    }
    fn fill<E: Float>(&self, buf: &mut Vec<E>, v: E) {
        buf.iter_mut().for_each(|x| *x = v);
    }
    fn copy<E: Float>(&self, src: &Vec<E>, dst: &mut Vec<E>) {
        dst.clear();
        dst.extend_from_slice(src);
    }
    fn idx_from_slice(&self, data: &[u32]) -> Vec<u32> {
        data.to_vec()
    }
    fn idx_to_vec(&self, idx: &Vec<u32>) -> Vec<u32> {
        idx.clone()
    }
}

/// Applies `f` to each element pair `(x[i], &mut y[i])`, in parallel when large.
pub fn par_zip_map<E: Float>(x: &[E], y: &mut [E], f: impl Fn(E) -> E + Sync) {
    debug_assert_eq!(x.len(), y.len());
    if x.len() < PAR_THRESHOLD {
        y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x));
    } else {
        y.par_chunks_mut(PAR_CHUNK)
            .zip(x.par_chunks(PAR_CHUNK))
            .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x)));
    }
}

/// Calls `f((i, chunk))` for each `size`-element chunk `i` of `buf` (the
/// last may be shorter): on the pool's threads when `parallel`, else in
/// order on this thread. Each chunk is written by one call alone, so the
/// result does not depend on the thread count.
#[inline]
pub(crate) fn for_each_chunk<T: Send>(
    buf: &mut [T],
    size: usize,
    parallel: bool,
    f: impl Fn((usize, &mut [T])) + Sync + Send,
) {
    if parallel {
        buf.par_chunks_mut(size).enumerate().for_each(f);
    } else {
        buf.chunks_mut(size).enumerate().for_each(f);
    }
}

/// Sets `out[i] = f(a[i], b[i], c[i])`, in parallel when large.
pub fn par_zip3_map<E: Float>(a: &[E], b: &[E], c: &[E], out: &mut [E], f: impl Fn(E, E, E) -> E + Sync) {
    debug_assert!(a.len() == out.len() && b.len() == out.len() && c.len() == out.len());
    let run = |o: &mut [E], a: &[E], b: &[E], c: &[E]| {
        for i in 0..o.len() {
            o[i] = f(a[i], b[i], c[i]);
        }
    };
    if out.len() < PAR_THRESHOLD {
        run(out, a, b, c);
    } else {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(a.par_chunks(PAR_CHUNK))
            .zip(b.par_chunks(PAR_CHUNK).zip(c.par_chunks(PAR_CHUNK)))
            .for_each(|((o, a), (b, c))| run(o, a, b, c));
    }
}

/// Number of threads the CPU backend uses (rayon's global pool).
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` on one of the CPU backend's worker threads and returns its result.
///
/// A kernel called from outside rayon's pool hands its parallel work to the
/// pool's global injector queue, whose segmented list allocates a block
/// every 63 jobs and wakes a sleeping worker each time; called from a worker,
/// the same kernel pushes onto that worker's own deque and runs part of the
/// work itself. A training loop inside `in_pool` therefore allocates nothing
/// per step (`tests/alloc_free_step.rs`) and pays no cross-thread hand-off
/// for each parallel kernel.
///
/// ```
/// let sum: u64 = dl_core::cpu::in_pool(|| (1..=4u64).sum());
/// assert_eq!(sum, 10);
/// ```
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let mut out = None;
    rayon::scope(|_| out = Some(f()));
    out.expect("rayon::scope runs its closure")
}
