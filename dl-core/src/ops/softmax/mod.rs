//! Softmax and log-softmax over the last axis, numerically stable (the row
//! maximum is subtracted before `exp`), with their backward.
//!
//! The kernels work on a runtime `[rows, cols]` layout; the typed functions
//! take `cols` = the last dimension of the per-sample shape and
//! `rows = batch * NUMEL / cols`.
//!
//! **PyTorch equivalent**: `torch.softmax(x, dim=-1)`, `torch.log_softmax(x, dim=-1)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The runtime shape of the softmax kernels: `rows` rows of `cols`
/// elements, softmax or (`log`) log-softmax along each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxDims {
    /// Number of rows.
    pub rows: usize,
    /// Elements per row (the softmax axis).
    pub cols: usize,
    /// Log-softmax instead of softmax.
    pub log: bool,
}

impl SoftmaxDims {
    /// `rows` rows of `cols`, log-softmax when `log`.
    pub const fn new(rows: usize, cols: usize, log: bool) -> Self {
        Self { rows, cols, log }
    }
    /// The kernels' size contract: every buffer of `lens` holds
    /// `rows * cols` elements (a smaller one is a bug in the caller and
    /// panics, naming `kernel`). Returns that count.
    #[track_caller]
    pub(crate) fn check(&self, kernel: &str, lens: &[usize]) -> usize {
        crate::ops::util::assert_lens(kernel, lens, self.rows * self.cols)
    }
}

/// Softmax kernels of a backend.
pub trait SoftmaxKernel: Storage {
    /// Row-wise `y = softmax(x)` (or `log_softmax(x)` when `d.log`) over
    /// rows of `d.cols` elements; `y` is resized to `rows * cols`.
    ///
    /// A row holding a NaN, or `+inf`, or only `-inf`, gives a NaN row (as
    /// PyTorch does).
    fn softmax_forward<E: Float>(&self, d: SoftmaxDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// Writes `dx` (resized to `rows * cols`) from the forward output `y`:
    /// softmax `dx = y (dy - sum(dy y))`; log-softmax `dx = dy - e^y sum(dy)`.
    fn softmax_backward<E: Float>(&self, d: SoftmaxDims, y: &Self::Buf<E>, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
}

/// `(rows, cols)` of shape `S` with `batch` samples, over the last axis.
pub fn last_axis<S: Shape>(batch: usize) -> (usize, usize) {
    let cols = S::DIMS.last().copied().unwrap_or(1);
    let rows = (batch * S::NUMEL).checked_div(cols).unwrap_or(0);
    (rows, cols)
}

fn forward<S: Shape, B: SoftmaxKernel, E: Float>(x: &Tensor<S, B, E>, log: bool) -> Tensor<S, B, E> {
    let (rows, cols) = last_axis::<S>(x.batch());
    let mut y = Tensor::zeros(x.device(), x.batch());
    x.device()
        .softmax_forward(SoftmaxDims::new(rows, cols, log), x.buf(), y.buf_mut());
    y
}

fn backward<S: Shape, B: SoftmaxKernel, E: Float>(
    y: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
    log: bool,
) -> Tensor<S, B, E> {
    let (rows, cols) = last_axis::<S>(y.batch());
    let mut dx = Tensor::zeros(y.device(), y.batch());
    y.device()
        .softmax_backward(SoftmaxDims::new(rows, cols, log), y.buf(), dy.buf(), dx.buf_mut());
    dx
}

/// `y_i = e^(x_i - m) / sum_j e^(x_j - m)` over the last axis, `m` the row maximum.
///
/// **PyTorch equivalent**: `torch.softmax(x, dim=-1)`.
///
/// ```
/// use dl_core::prelude::*;
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1e4, 1e4]).unwrap();
/// assert_eq!(dl_core::ops::softmax(&x).to_vec(), vec![0.5, 0.5]);
/// ```
pub fn softmax<S: Shape, B: SoftmaxKernel, E: Float>(x: &Tensor<S, B, E>) -> Tensor<S, B, E> {
    forward(x, false)
}

/// Backward of [`softmax`] from its output `y`: `dx = y (dy - sum(dy y))`.
pub fn softmax_backward<S: Shape, B: SoftmaxKernel, E: Float>(
    y: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
) -> Tensor<S, B, E> {
    backward(y, dy, false)
}

/// `y_i = x_i - m - ln sum_j e^(x_j - m)` over the last axis.
///
/// **PyTorch equivalent**: `torch.log_softmax(x, dim=-1)`.
pub fn log_softmax<S: Shape, B: SoftmaxKernel, E: Float>(x: &Tensor<S, B, E>) -> Tensor<S, B, E> {
    forward(x, true)
}

/// Backward of [`log_softmax`] from its output `y`: `dx = dy - e^y sum(dy)`.
pub fn log_softmax_backward<S: Shape, B: SoftmaxKernel, E: Float>(
    y: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
) -> Tensor<S, B, E> {
    backward(y, dy, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::ops::util::testing::assert_close;
    use crate::prelude::*;

    /// Generic code that runs softmax asks for `SoftmaxKernel` only, not for
    /// the whole `Backend` (this compiles only if the bounds say so).
    fn softmax_on_any_softmax_backend<B: SoftmaxKernel>(x: &Tensor<S1<3>, B>) -> Tensor<S1<3>, B> {
        softmax(x)
    }

    #[test]
    fn typed_op_needs_only_its_kernel_trait() {
        let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![0.0, 0.0, 0.0]).unwrap();
        let y = softmax_on_any_softmax_backend(&x).to_vec();
        assert!(y.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6), "{y:?}");
    }

    #[test]
    fn forward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 2, vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0]).unwrap();
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        let expect = [e[0] / s, e[1] / s, e[2] / s, 1. / 3., 1. / 3., 1. / 3.];
        assert_close(&softmax(&x).to_vec(), &expect, 1e-14, 0.0);
        let logs: Vec<f64> = expect.iter().map(|v| v.ln()).collect();
        assert_close(&log_softmax(&x).to_vec(), &logs, 1e-14, 0.0);
    }

    /// Logits of magnitude 1e4 stay finite and exact (shift invariance).
    #[test]
    fn large_logits_are_finite() {
        let x = Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![1e4, 1e4 + 1.0, 1e4 - 1.0, -1e4, 0.0, 1e4]).unwrap();
        let y = softmax(&x).to_vec();
        let l = log_softmax(&x).to_vec();
        assert!(y.iter().chain(&l).all(|v| v.is_finite()), "{y:?} {l:?}");
        let small = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![0.0, 1.0, -1.0]).unwrap();
        assert_close(&y[..3], &softmax(&small).to_vec(), 1e-6, 1e-7);
        assert_close(&l[3..], &[-2e4, -1e4, 0.0], 1e-6, 0.0);
        assert_close(&y[3..], &[0.0, 0.0, 1.0], 0.0, 1e-7);
    }

    #[test]
    fn gradient_check_both() {
        let mut rng = Rng::new(5);
        let x = Tensor::<S2<2, 5>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        let g: Vec<f64> = (0..30).map(|i| (i as f64 * 0.7).cos()).collect();
        let gt = Tensor::from_slice(&Cpu, 3, &g).unwrap();
        for log in [false, true] {
            let y = forward(&x, log);
            let dx = backward(&y, &gt, log);
            let f = |v: &[f64]| {
                let t = Tensor::<S2<2, 5>, Cpu, f64>::from_slice(&Cpu, 3, v).unwrap();
                forward(&t, log)
                    .to_vec()
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            };
            check_gradient(f, &x.to_vec(), &dx.to_vec(), GradCheck::default())
                .unwrap_or_else(|e| panic!("log={log}: {e}"));
        }
    }

    /// A NaN makes its own row NaN and leaves the other rows untouched.
    #[test]
    fn nan_poisons_only_its_row() {
        let x = Tensor::<S1<2>>::from_vec(&Cpu, 2, vec![f32::NAN, 1.0, 0.0, 0.0]).unwrap();
        for y in [softmax(&x).to_vec(), log_softmax(&x).to_vec()] {
            assert!(y[0].is_nan() && y[1].is_nan());
            assert!(y[2].is_finite() && y[3].is_finite());
        }
    }

    /// An empty batch gives empty outputs and gradients.
    #[test]
    fn empty_batch() {
        let x = Tensor::<S1<4>>::zeros(&Cpu, 0);
        let y = softmax(&x);
        assert!(y.is_empty());
        assert!(softmax_backward(&y, &y).is_empty());
        assert!(log_softmax_backward(&log_softmax(&x), &y).is_empty());
    }

    #[test]
    fn parallel_path_matches_row_by_row() {
        let mut rng = Rng::new(1);
        let n = crate::cpu::PAR_THRESHOLD / 10 + 1;
        let x = Tensor::<S1<10>, Cpu, f64>::randn(&Cpu, n, &mut rng);
        let y = softmax(&x).to_vec();
        let xv = x.to_vec();
        let row = Tensor::<S1<10>, Cpu, f64>::from_slice(&Cpu, 1, &xv[(n - 1) * 10..]).unwrap();
        assert_eq!(&y[(n - 1) * 10..], &softmax(&row).to_vec()[..]);
    }
}
