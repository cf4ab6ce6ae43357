//! Attention plumbing: a masked, in-place softmax over score matrices and
//! the head split/merge permutations of multi-head attention.
//!
//! Scores are `count` row-major matrices `[tq, tk]` (one per batch element
//! and head). An [`AttnMask`] allows, for query row `i`, a contiguous range
//! of keys: all keys, keys `j <= i` (causal), keys with `|i - j| <= w`
//! (local window), or both. Masked logits count as `-inf`: their
//! probabilities are exactly zero and so are their gradients. The kernels
//! skip the masked part of each row instead of filling it with `-inf` and
//! exponentiating.
//!
//! Heads: a projection `[n, t, chunks * heads * dh]` (for example the
//! `[q | k | v]` output of an input projection, `chunks = 3`) is split into
//! head-major `[heads, n, t, dh]` buffers, one per chunk, so that every
//! (head, sample) matrix is contiguous and batched GEMMs run over
//! `heads * n` products with plain strides; merging is the inverse.
//!
//! **PyTorch equivalent**: the masking and softmax inside
//! `F.scaled_dot_product_attention(q, k, v, attn_mask, is_causal=...)`, and
//! the `view(n, t, h, dh).transpose(1, 2)` reshapes of `nn.MultiheadAttention`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// Which keys each query may attend to. The default allows all.
///
/// ```
/// use dl_core::ops::attention::AttnMask;
/// let m = AttnMask { causal: true, window: Some(1) };
/// assert_eq!(m.key_range(3, 6), (2, 4)); // keys 2 and 3
/// assert_eq!(AttnMask::default().key_range(3, 6), (0, 6));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttnMask {
    /// Query `i` attends only keys `j <= i` (top-left aligned, as PyTorch's
    /// `is_causal`).
    pub causal: bool,
    /// Query `i` attends only keys with `|i - j| <= w`.
    pub window: Option<usize>,
}

impl AttnMask {
    /// No window and each of `windows`, each without and with `causal`:
    /// `[none, causal, window w0, causal and w0, ...]`, the masks a test
    /// runs through.
    ///
    /// ```
    /// use dl_core::ops::attention::AttnMask;
    /// let m = AttnMask::combinations(&[2]);
    /// assert_eq!(m.len(), 4);
    /// assert_eq!(m[3], AttnMask { causal: true, window: Some(2) });
    /// ```
    pub fn combinations(windows: &[usize]) -> Vec<AttnMask> {
        let windows = std::iter::once(None).chain(windows.iter().map(|&w| Some(w)));
        windows
            .flat_map(|window| [false, true].map(|causal| AttnMask { causal, window }))
            .collect()
    }

    /// The allowed keys `lo..hi` of query row `i` among `tk` keys (empty
    /// when `lo >= hi`).
    pub fn key_range(&self, i: usize, tk: usize) -> (usize, usize) {
        let mut lo = 0;
        let mut hi = tk;
        if self.causal {
            hi = hi.min(i.saturating_add(1));
        }
        if let Some(w) = self.window {
            lo = i.saturating_sub(w);
            hi = hi.min(i.saturating_add(w).saturating_add(1));
        }
        (lo.min(hi), hi)
    }
    /// Whether query `i` may attend key `j`.
    pub fn allows(&self, i: usize, j: usize) -> bool {
        (!self.causal || j <= i) && self.window.is_none_or(|w| i.abs_diff(j) <= w)
    }
}

/// Layout of a head split: a `[n, t, chunks * heads * head_dim]` buffer and
/// `chunks` head-major `[heads, n, t, head_dim]` buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadDims {
    /// Samples (the batch).
    pub n: usize,
    /// Sequence length.
    pub t: usize,
    /// Number of heads.
    pub heads: usize,
    /// Features per head.
    pub head_dim: usize,
    /// Number of stacked projections in the packed buffer (3 for `q | k | v`).
    pub chunks: usize,
}

impl HeadDims {
    /// Elements of one head-major buffer: `heads * n * t * head_dim`.
    pub fn head_major_len(&self) -> usize {
        self.heads * self.n * self.t * self.head_dim
    }
    /// Elements of the packed buffer: `n * t * chunks * heads * head_dim`.
    pub fn packed_len(&self) -> usize {
        self.chunks * self.head_major_len()
    }
}

/// The runtime shape of the masked softmax kernels: `count` matrices of
/// `tq` query rows by `tk` key columns, masked by `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreDims {
    /// Number of matrices (batch times heads).
    pub count: usize,
    /// Query rows of each matrix.
    pub tq: usize,
    /// Key columns of each matrix.
    pub tk: usize,
    /// The keys each query row may attend to.
    pub mask: AttnMask,
}

impl ScoreDims {
    /// `count` matrices `[tq, tk]` under `mask`.
    pub const fn new(count: usize, tq: usize, tk: usize, mask: AttnMask) -> Self {
        Self { count, tq, tk, mask }
    }
    /// Elements of the scores, `count * tq * tk`.
    pub const fn elems(&self) -> usize {
        self.count * self.tq * self.tk
    }
    /// The kernels' size contract: every buffer of `lens` holds
    /// [`ScoreDims::elems`] elements (a smaller one is a bug in the caller
    /// and panics, naming `kernel`). Returns that count.
    #[track_caller]
    pub(crate) fn check(&self, kernel: &str, lens: &[usize]) -> usize {
        crate::ops::util::assert_lens(kernel, lens, self.elems())
    }
}

/// Attention kernels of a backend.
pub trait AttentionKernel: Storage {
    /// In place over `d.count` matrices `[tq, tk]` of logits: each row `i`
    /// becomes the softmax of its allowed keys ([`AttnMask::key_range`]),
    /// zero elsewhere. A row with no allowed key becomes all zeros.
    ///
    /// # Panics
    /// If `s` holds fewer than [`ScoreDims::elems`] elements.
    fn masked_softmax_forward<E: Float>(&self, d: ScoreDims, s: &mut Self::Buf<E>);

    /// In place: turns the gradient `dp` with respect to the probabilities
    /// `p` (the output of [`AttentionKernel::masked_softmax_forward`]) into
    /// the gradient with respect to the logits,
    /// `dp_ij <- p_ij (dp_ij - sum_k p_ik dp_ik)` on allowed keys, 0 on masked ones.
    ///
    /// # Panics
    /// If a buffer holds fewer than [`ScoreDims::elems`] elements.
    fn masked_softmax_backward<E: Float>(&self, d: ScoreDims, p: &Self::Buf<E>, dp: &mut Self::Buf<E>);

    /// `dst[h, n, t, j] = src[n, t, (chunk * heads + h) * head_dim + j]`;
    /// `dst` is resized to [`HeadDims::head_major_len`].
    ///
    /// # Panics
    /// If `chunk >= d.chunks` or `src` is shorter than [`HeadDims::packed_len`].
    fn split_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &Self::Buf<E>, dst: &mut Self::Buf<E>);

    /// The inverse of [`AttentionKernel::split_heads`]: writes chunk `chunk`
    /// of the packed `dst`, resized to [`HeadDims::packed_len`] (the other
    /// chunks keep their values).
    ///
    /// # Panics
    /// If `chunk >= d.chunks` or `src` is shorter than [`HeadDims::head_major_len`].
    fn merge_heads<E: Float>(&self, d: HeadDims, chunk: usize, src: &Self::Buf<E>, dst: &mut Self::Buf<E>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::ops::util::testing::assert_close;
    use crate::{Cpu, Rng};

    /// Every mask kind (a superset of the masks of dl-nn's tests).
    fn masks() -> Vec<AttnMask> {
        AttnMask::combinations(&[1, 2])
    }

    /// Reference: fill masked logits with -inf, then a plain stable softmax.
    fn reference(tq: usize, tk: usize, mask: AttnMask, s: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; s.len()];
        for (r, row) in s.chunks(tk).enumerate() {
            let i = r % tq;
            let l: Vec<f64> = (0..tk)
                .map(|j| if mask.allows(i, j) { row[j] } else { f64::NEG_INFINITY })
                .collect();
            let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                continue;
            }
            let z: f64 = l.iter().map(|v| (v - m).exp()).sum();
            for j in 0..tk {
                out[r * tk + j] = (l[j] - m).exp() / z;
            }
        }
        out
    }

    #[test]
    fn key_range_matches_allows() {
        for m in masks() {
            for tk in [1, 4, 7] {
                for i in 0..9 {
                    let (lo, hi) = m.key_range(i, tk);
                    for j in 0..tk {
                        assert_eq!((lo..hi).contains(&j), m.allows(i, j), "{m:?} i={i} j={j} tk={tk}");
                    }
                }
            }
        }
    }

    #[test]
    fn forward_matches_minus_inf_reference() {
        let mut rng = Rng::new(3);
        let (count, tq, tk) = (3, 5, 6);
        let s: Vec<f64> = (0..count * tq * tk).map(|_| 3.0 * rng.normal()).collect();
        for m in masks() {
            let mut p = s.clone();
            Cpu.masked_softmax_forward(ScoreDims::new(count, tq, tk, m), &mut p);
            assert_close(&p, &reference(tq, tk, m, &s), 1e-14, 1e-15);
            for (r, row) in p.chunks(tk).enumerate() {
                let sum: f64 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-12, "{m:?} row {r} sums to {sum}");
            }
        }
    }

    #[test]
    fn fully_masked_rows_are_zero_and_large_logits_finite() {
        // Window 0 with more queries than keys: rows 3.. see no key.
        let m = AttnMask {
            causal: false,
            window: Some(0),
        };
        let mut p = vec![1e4f32; 5 * 3];
        Cpu.masked_softmax_forward(ScoreDims::new(1, 5, 3, m), &mut p);
        assert_eq!(&p[..9], &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
        assert!(p[9..].iter().all(|&v| v == 0.0));
        let mut dp = vec![1.0f32; 15];
        Cpu.masked_softmax_backward(ScoreDims::new(1, 5, 3, m), &p, &mut dp);
        assert!(dp.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn backward_gradient_check() {
        let mut rng = Rng::new(4);
        let (count, tq, tk) = (2, 4, 5);
        let s: Vec<f64> = (0..count * tq * tk).map(|_| rng.normal()).collect();
        let g: Vec<f64> = (0..s.len()).map(|i| (i as f64 * 0.37).sin()).collect();
        for m in masks() {
            let mut p = s.clone();
            Cpu.masked_softmax_forward(ScoreDims::new(count, tq, tk, m), &mut p);
            let mut ds = g.clone();
            Cpu.masked_softmax_backward(ScoreDims::new(count, tq, tk, m), &p, &mut ds);
            let f = |v: &[f64]| {
                let mut p = v.to_vec();
                Cpu.masked_softmax_forward(ScoreDims::new(count, tq, tk, m), &mut p);
                p.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            check_gradient(f, &s, &ds, GradCheck::default()).unwrap_or_else(|e| panic!("{m:?}: {e}"));
            for (r, row) in ds.chunks(tk).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    if !m.allows(r % tq, j) {
                        assert_eq!(v, 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn parallel_path_matches_serial() {
        // Large enough for the parallel path; every row is independent.
        let mut rng = Rng::new(5);
        let (count, tq, tk) = (40, 32, 33);
        let s: Vec<f32> = (0..count * tq * tk).map(|_| rng.normal() as f32).collect();
        let m = AttnMask {
            causal: true,
            window: None,
        };
        let mut big = s.clone();
        Cpu.masked_softmax_forward(ScoreDims::new(count, tq, tk, m), &mut big);
        let per = tq * tk;
        for c in [0, 17, 39] {
            let mut one = s[c * per..(c + 1) * per].to_vec();
            Cpu.masked_softmax_forward(ScoreDims::new(1, tq, tk, m), &mut one);
            assert_eq!(&big[c * per..(c + 1) * per], &one[..]);
        }
    }

    #[test]
    fn split_and_merge_heads_are_inverse_permutations() {
        let d = HeadDims {
            n: 2,
            t: 3,
            heads: 2,
            head_dim: 2,
            chunks: 3,
        };
        let src: Vec<f32> = (0..d.packed_len()).map(|v| v as f32).collect();
        let mut parts = [vec![], vec![], vec![]];
        for (c, p) in parts.iter_mut().enumerate() {
            Cpu.split_heads(d, c, &src, p);
            assert_eq!(p.len(), d.head_major_len());
        }
        // k (chunk c = 1), head h = 1, sample s = 1, step t = 2, feature 0.
        let (c, h, s, t) = (1, 1, 1, 2);
        let row = (s * d.t + t) * d.chunks * d.heads * d.head_dim;
        let col = (c * d.heads + h) * d.head_dim;
        let hm = ((h * d.n + s) * d.t + t) * d.head_dim;
        assert_eq!(parts[1][hm], (row + col) as f32);
        let mut back = vec![];
        for (c, p) in parts.iter().enumerate() {
            Cpu.merge_heads(d, c, p, &mut back);
        }
        assert_eq!(back, src);
    }

    #[test]
    #[should_panic(expected = "split_heads")]
    fn split_heads_rejects_short_source() {
        let d = HeadDims {
            n: 1,
            t: 2,
            heads: 1,
            head_dim: 2,
            chunks: 1,
        };
        Cpu.split_heads(d, 0, &vec![0.0f32; 3], &mut vec![]);
    }
}
