use super::{AttentionKernel, HeadDims, ScoreDims};
use crate::cpu::for_each_chunk;
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// Lanes of the row reductions below: independent accumulators that the
/// compiler keeps in vector registers, combined in a fixed order at the
/// end (a single accumulator chains every add behind the previous one).
const LANES: usize = 16;

/// `op`-fold of `r` in `LANES` partial results combined in a fixed order.
#[inline(always)]
fn lane_fold<E: Float>(r: &[E], init: E, op: impl Fn(E, E) -> E) -> E {
    let mut acc = [init; LANES];
    let chunks = r.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = op(*a, v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(rem) {
        *a = op(*a, v);
    }
    acc.iter().fold(init, |m, &v| op(m, v))
}

/// Largest element (NaN-ignoring, like `f32::max`; exact, so the lane split
/// does not change the result).
fn row_max<E: Float>(r: &[E]) -> E {
    lane_fold(r, E::NEG_INFINITY, E::max)
}

/// `sum(a[i])` in `LANES` partial sums added in a fixed order.
fn row_sum<E: Float>(r: &[E]) -> E {
    lane_fold(r, E::ZERO, |s, v| s + v)
}

fn softmax_row<E: Float>(lo: usize, hi: usize, row: &mut [E]) {
    if lo >= hi {
        row.iter_mut().for_each(|v| *v = E::ZERO);
        return;
    }
    let m = row_max(&row[lo..hi]);
    for v in &mut row[lo..hi] {
        *v = (*v - m).exp();
    }
    let inv = E::ONE / row_sum(&row[lo..hi]);
    row[lo..hi].iter_mut().for_each(|v| *v *= inv);
    row[..lo].iter_mut().for_each(|v| *v = E::ZERO);
    row[hi..].iter_mut().for_each(|v| *v = E::ZERO);
}

fn softmax_backward_row<E: Float>(lo: usize, hi: usize, p: &[E], dp: &mut [E]) {
    if lo < hi {
        // The GEMV path's fixed-order (and, for f32, AVX) dot product.
        let dot = E::dot(&p[lo..hi], &dp[lo..hi]);
        for j in lo..hi {
            dp[j] = p[j] * (dp[j] - dot);
        }
    }
    dp[..lo.min(hi)].iter_mut().for_each(|v| *v = E::ZERO);
    dp[hi..].iter_mut().for_each(|v| *v = E::ZERO);
}

/// Runs `f(query_row, row)` over the rows of `count` `[tq, tk]` matrices,
/// one matrix per task when the buffer is large.
fn for_rows<E: Float>(count: usize, tq: usize, tk: usize, s: &mut [E], f: impl Fn(usize, &mut [E]) + Sync) {
    let per = tq * tk;
    let mat = |m: &mut [E]| m.chunks_mut(tk).enumerate().for_each(|(i, r)| f(i, r));
    if count * per >= PAR_THRESHOLD && count > 1 {
        s.par_chunks_mut(per).for_each(mat);
    } else {
        s.chunks_mut(per).for_each(mat);
    }
}

impl AttentionKernel for Host {
    fn masked_softmax_forward<E: Float>(&self, d: ScoreDims, s: &mut Vec<E>) {
        let ScoreDims { count, tq, tk, mask } = d;
        let n = d.check("masked_softmax_forward", &[s.len()]);
        if n == 0 {
            return;
        }
        for_rows(count, tq, tk, &mut s[..n], |i, row| {
            let (lo, hi) = mask.key_range(i, tk);
            softmax_row(lo, hi, row);
        });
    }

    fn masked_softmax_backward<E: Float>(&self, d: ScoreDims, p: &Vec<E>, dp: &mut Vec<E>) {
        let ScoreDims { count, tq, tk, mask } = d;
        let n = d.check("masked_softmax_backward", &[p.len(), dp.len()]);
        if n == 0 {
            return;
        }
        let per = tq * tk;
        let mat = |(c, m): (usize, &mut [E])| {
            for (i, r) in m.chunks_mut(tk).enumerate() {
                let (lo, hi) = mask.key_range(i, tk);
                let off = c * per + i * tk;
                softmax_backward_row(lo, hi, &p[off..off + tk], r);
            }
        };
        let dp = &mut dp[..n];
        for_each_chunk(dp, per, n >= PAR_THRESHOLD && count > 1, mat);
    }

    fn split_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &Vec<E>, dst: &mut Vec<E>) {
        assert!(chunk < d.chunks, "split_heads: chunk {chunk} of {}", d.chunks);
        assert!(src.len() >= d.packed_len(), "split_heads: source too small");
        let len = d.head_major_len();
        dst.resize(len, E::ZERO);
        let (dh, width) = (d.head_dim, d.chunks * d.heads * d.head_dim);
        if len == 0 {
            return;
        }
        // One (head, sample) block of `t * dh` elements per task.
        let block = |(hn, out): (usize, &mut [E])| {
            let (h, n) = (hn / d.n, hn % d.n);
            let col = (chunk * d.heads + h) * dh;
            for (t, o) in out.chunks_mut(dh).enumerate() {
                let s = (n * d.t + t) * width + col;
                o.copy_from_slice(&src[s..s + dh]);
            }
        };
        let per = (d.t * dh).max(1);
        for_each_chunk(dst, per, len >= PAR_THRESHOLD, block);
    }

    fn merge_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &Vec<E>, dst: &mut Vec<E>) {
        assert!(chunk < d.chunks, "merge_heads: chunk {chunk} of {}", d.chunks);
        assert!(src.len() >= d.head_major_len(), "merge_heads: source too small");
        dst.resize(d.packed_len(), E::ZERO);
        let (dh, width) = (d.head_dim, d.chunks * d.heads * d.head_dim);
        if d.packed_len() == 0 {
            return;
        }
        // One token row of the packed buffer per task.
        let row = |(nt, out): (usize, &mut [E])| {
            let (n, t) = (nt / d.t, nt % d.t);
            for h in 0..d.heads {
                let s = ((h * d.n + n) * d.t + t) * dh;
                let o = (chunk * d.heads + h) * dh;
                out[o..o + dh].copy_from_slice(&src[s..s + dh]);
            }
        };
        for_each_chunk(dst, width, d.packed_len() >= PAR_THRESHOLD, row);
    }
}
