//! Embedding lookup: token ids (stored as floats in an ordinary tensor)
//! select rows of a `[vocab, dim]` table, and the backward scatters the
//! output gradient back into those rows.
//!
//! An id is valid when it is a finite, non-negative integer below `vocab`.
//! Invalid ids are never clamped (that would silently read the wrong row)
//! nor turned into zeros (that would train on wrong data without a word):
//! the forward writes a row of NaN for them, so everything computed from
//! it is visibly NaN, and reports how many it met; the backward skips them.
//!
//! **PyTorch equivalent**: `F.embedding(ids, weight)` (which raises on an
//! out-of-range id).

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// The row index of a float-encoded token id, or `None` when the id is not a
/// finite non-negative integer below `vocab`.
///
/// ```
/// use dl_core::ops::embedding::token_index;
/// assert_eq!(token_index(3.0f32, 5), Some(3));
/// assert_eq!(token_index(5.0f32, 5), None);
/// assert_eq!(token_index(1.5f32, 5), None);
/// assert_eq!(token_index(-1.0f32, 5), None);
/// assert_eq!(token_index(f32::NAN, 5), None);
/// ```
#[inline]
pub fn token_index<E: Float>(id: E, vocab: usize) -> Option<usize> {
    let v = id.to_f64();
    if v >= 0.0 && v < vocab as f64 && v.trunc() == v {
        Some(v as usize)
    } else {
        None
    }
}

/// Embedding kernels of a backend.
pub trait EmbeddingKernel: Storage {
    /// `y[t, :] = w[ids[t], :]` for each of `ids`' tokens; `y` is resized to
    /// `ids.len() * dim`. Invalid ids give a row of NaN. Returns the number
    /// of invalid ids.
    fn embedding_forward<E: Float>(
        &self,
        vocab: usize,
        dim: usize,
        ids: &Self::Buf<E>,
        w: &Self::Buf<E>,
        y: &mut Self::Buf<E>,
    ) -> usize;
    /// Accumulates `dw[ids[t], :] += dy[t, :]`, tokens in order (so repeated
    /// ids sum deterministically); invalid ids are skipped.
    fn embedding_backward<E: Float>(
        &self,
        vocab: usize,
        dim: usize,
        ids: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dw: &mut Self::Buf<E>,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::Cpu;

    const W: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // vocab 3, dim 2

    #[test]
    fn lookup_and_scatter_values() {
        let mut y = vec![];
        let bad = Cpu.embedding_forward(3, 2, &vec![2.0, 0.0, 2.0], &W.to_vec(), &mut y);
        assert_eq!((bad, y), (0, vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]));
        let mut dw = vec![0.0; 6];
        Cpu.embedding_backward(3, 2, &vec![2.0, 0.0, 2.0], &vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0], &mut dw);
        assert_eq!(dw, vec![2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
    }

    #[test]
    fn gradient_check_weight() {
        let ids = vec![1.0, 0.0, 1.0, 2.0];
        let g: Vec<f64> = (0..8).map(|i| (i as f64).sin()).collect();
        let mut dw = vec![0.0; 6];
        Cpu.embedding_backward(3, 2, &ids, &g, &mut dw);
        let f = |w: &[f64]| {
            let mut y = vec![];
            Cpu.embedding_forward(3, 2, &ids, &w.to_vec(), &mut y);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        check_gradient(f, &W, &dw, GradCheck::default()).unwrap();
    }

    /// NaN, negative, fractional and out-of-range ids give NaN rows (never
    /// zeros), are counted, and receive no gradient.
    #[test]
    fn nan_and_invalid_ids() {
        let ids = vec![f64::NAN, -1.0, 0.5, 3.0, 1.0];
        let mut y = vec![];
        let bad = Cpu.embedding_forward(3, 2, &ids, &W.to_vec(), &mut y);
        assert_eq!(bad, 4);
        assert!(y[..8].iter().all(|v| v.is_nan()), "{y:?}");
        assert_eq!(&y[8..], &[3.0, 4.0]);
        let mut dw = vec![0.0; 6];
        Cpu.embedding_backward(3, 2, &ids, &vec![1.0; 10], &mut dw);
        assert_eq!(dw, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }

    /// No tokens: empty output, no invalid id, no gradient.
    #[test]
    fn empty_batch() {
        let mut y = vec![1.0];
        assert_eq!(Cpu.embedding_forward(3, 2, &vec![], &W.to_vec(), &mut y), 0);
        assert!(y.is_empty());
        let mut dw = vec![0.0; 6];
        Cpu.embedding_backward(3, 2, &vec![], &vec![], &mut dw);
        assert_eq!(dw, vec![0.0; 6]);
    }
}
