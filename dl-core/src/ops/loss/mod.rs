//! Loss kernels: cross-entropy from logits over class labels, and the
//! element-wise regression / probabilistic losses (MSE, L1, BCE with
//! logits, KL divergence), each returning the reduced loss and writing its
//! gradient with respect to the prediction in one pass.
//!
//! The kernels work on runtime layouts (`[rows, classes]` for
//! cross-entropy, a flat `[n]` for the element-wise losses) and take the
//! reduction as a `scale` (`1 / rows` for a mean over samples, `1 / n` for a
//! mean over elements), so one kernel serves `mean`, `sum` and `batchmean`.
//!
//! Reductions are deterministic: the rows are split into chunks whose size
//! depends only on the problem size (never on the thread count), each chunk
//! is summed in order in `f64`, and the chunk sums are added in order.
//!
//! **PyTorch equivalent**: `F.cross_entropy`, `F.mse_loss`, `F.l1_loss`,
//! `F.binary_cross_entropy_with_logits`, `F.kl_div` (with their autograd).

pub(crate) mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// Layout of a classification loss: `rows` samples of `classes` logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassDims {
    /// Number of samples.
    pub rows: usize,
    /// Number of classes (logits per sample).
    pub classes: usize,
}

/// A class label that is not below the number of classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadLabel {
    /// Index of the (first) offending sample.
    pub sample: usize,
    /// Its label.
    pub label: u32,
}

/// Which element-wise loss [`LossKernel::pointwise_loss`] computes; `p` is
/// the prediction and `t` the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PointwiseLoss {
    /// `(p - t)^2`, gradient `2 (p - t)`.
    Mse,
    /// `|p - t|`, gradient `sign(p - t)` with `sign(0) = 0`.
    L1,
    /// `max(p, 0) - p t + ln(1 + e^-|p|)` for logits `p` and targets
    /// `t` in `[0, 1]`; gradient `sigmoid(p) - t`.
    BceWithLogits,
    /// `t (ln t - p)` for log-probabilities `p` and probabilities `t`
    /// (0 where `t = 0`); gradient `-t`.
    KlDiv,
}

impl PointwiseLoss {
    /// The loss's name (for messages).
    pub fn name(self) -> &'static str {
        match self {
            PointwiseLoss::Mse => "mse_loss",
            PointwiseLoss::L1 => "l1_loss",
            PointwiseLoss::BceWithLogits => "bce_with_logits",
            PointwiseLoss::KlDiv => "kl_div",
        }
    }

    /// The term and its derivative with respect to `p`, in `f64`.
    #[inline(always)]
    pub fn term(self, p: f64, t: f64) -> (f64, f64) {
        match self {
            PointwiseLoss::Mse => {
                let d = p - t;
                (d * d, 2.0 * d)
            }
            PointwiseLoss::L1 => {
                let d = p - t;
                let s = if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    // sign(0) = 0, and NaN stays NaN.
                    d * 0.0
                };
                (d.abs(), s)
            }
            PointwiseLoss::BceWithLogits => {
                let e = (-p.abs()).exp();
                let loss = p.max(0.0) - p * t + e.ln_1p();
                // A stable sigmoid: never exponentiates a positive number.
                let sig = if p >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                (loss, sig - t)
            }
            PointwiseLoss::KlDiv => {
                // xlogy(t, t) - t p, as PyTorch.
                let xlogy = if t == 0.0 { 0.0 } else { t * t.ln() };
                (xlogy - t * p, -t)
            }
        }
    }
}

/// Loss kernels of a backend.
pub trait LossKernel: Storage {
    /// Cross-entropy of `logits` (`[rows, classes]`) against class `labels`
    /// (`rows` of them), with label smoothing `smoothing` in `[0, 1]`:
    /// per sample `(1 - e) (lse - x_y) + e mean_c (lse - x_c)` with `lse` the
    /// row's log-sum-exp (computed after subtracting the row maximum, so
    /// logits of magnitude `1e4` stay finite). Returns `scale` times the sum
    /// over rows and writes `grad = scale (softmax(x) - (1 - e) onehot(y) - e / C)`
    /// (resized to `rows * classes`).
    ///
    /// # Errors
    /// The first sample whose label is `>= classes` (the gradient is then
    /// unspecified).
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy<E: Float>(
        &self,
        d: ClassDims,
        smoothing: f64,
        scale: f64,
        logits: &Self::Buf<E>,
        labels: &Self::Idx,
        grad: &mut Self::Buf<E>,
    ) -> Result<E, BadLabel>;

    /// `scale * sum_i term(pred[i], target[i])` for the element-wise loss
    /// `kind` over the first `n` elements; writes
    /// `grad[i] = scale * d term / d pred` (resized to `n`).
    fn pointwise_loss<E: Float>(
        &self,
        kind: PointwiseLoss,
        n: usize,
        scale: f64,
        pred: &Self::Buf<E>,
        target: &Self::Buf<E>,
        grad: &mut Self::Buf<E>,
    ) -> E;

    /// Number of rows whose first maximal logit is at the row's label
    /// (a NaN counts as maximal, as in `torch.argmax`).
    ///
    /// # Errors
    /// The first sample whose label is `>= classes`.
    fn count_correct<E: Float>(
        &self,
        d: ClassDims,
        logits: &Self::Buf<E>,
        labels: &Self::Idx,
    ) -> Result<usize, BadLabel>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::ops::util::testing::assert_close;
    use crate::{Cpu, Rng};

    fn ce(d: ClassDims, e: f64, x: &[f64], y: &[u32]) -> (f64, Vec<f64>) {
        let mut g = vec![];
        let l = Cpu
            .cross_entropy(d, e, 1.0 / d.rows as f64, &x.to_vec(), &y.to_vec(), &mut g)
            .unwrap();
        (l, g)
    }

    /// Reference: mean over rows of `-(1-e) log p_y - e mean_c log p_c`.
    fn ce_reference(d: ClassDims, e: f64, x: &[f64], y: &[u32]) -> f64 {
        let mut total = 0.0;
        for r in 0..d.rows {
            let row = &x[r * d.classes..(r + 1) * d.classes];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            let nll = lse - row[y[r] as usize];
            let smooth = row.iter().map(|v| lse - v).sum::<f64>() / d.classes as f64;
            total += (1.0 - e) * nll + e * smooth;
        }
        total / d.rows as f64
    }

    #[test]
    fn cross_entropy_values_and_gradient() {
        let d = ClassDims { rows: 4, classes: 5 };
        let mut rng = Rng::new(3);
        let x: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
        let y = [0u32, 4, 2, 2];
        for e in [0.0, 0.1, 1.0] {
            let (l, g) = ce(d, e, &x, &y);
            assert_close(&[l], &[ce_reference(d, e, &x, &y)], 1e-13, 0.0);
            check_gradient(|v| ce(d, e, v, &y).0, &x, &g, GradCheck::default())
                .unwrap_or_else(|err| panic!("smoothing {e}: {err}"));
        }
    }

    /// Logits of magnitude 1e4 give a finite loss and gradient, equal to
    /// those of the shifted logits (shift invariance), in f32.
    #[test]
    fn cross_entropy_large_logits_finite() {
        let d = ClassDims { rows: 2, classes: 3 };
        let x = vec![1e4f32, -1e4, 0.0, 1e4, 1e4 + 2.0, 1e4 - 3.0];
        let mut g = vec![];
        let l = Cpu.cross_entropy(d, 0.1, 0.5, &x, &vec![1, 0], &mut g).unwrap();
        assert!(l.is_finite() && g.iter().all(|v| v.is_finite()), "{l} {g:?}");
        // Row 0: nll = 2e4; smoothing term = mean(0, 2e4, 1e4) = 1e4.
        let row1: f64 = ce_reference(ClassDims { rows: 1, classes: 3 }, 0.1, &[0.0, 2.0, -3.0], &[0]);
        let expect = 0.5 * (0.9 * 2e4 + 0.1 * 1e4 + row1);
        assert_close(&[l as f64], &[expect], 1e-6, 0.0);
    }

    #[test]
    fn cross_entropy_bad_label() {
        let d = ClassDims { rows: 2, classes: 3 };
        let mut g = vec![];
        let e = Cpu
            .cross_entropy(d, 0.0, 0.5, &vec![0f32; 6], &vec![1, 3], &mut g)
            .unwrap_err();
        assert_eq!(e, BadLabel { sample: 1, label: 3 });
        assert_eq!(
            Cpu.count_correct(d, &vec![0f32; 6], &vec![7, 0]).unwrap_err(),
            BadLabel { sample: 0, label: 7 }
        );
    }

    #[test]
    fn pointwise_values_and_gradients() {
        let mut rng = Rng::new(9);
        let n = 12;
        let p: Vec<f64> = (0..n).map(|_| rng.normal() * 2.0).collect();
        let t_reg: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let t_prob: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        for kind in [
            PointwiseLoss::Mse,
            PointwiseLoss::L1,
            PointwiseLoss::BceWithLogits,
            PointwiseLoss::KlDiv,
        ] {
            let t = if matches!(kind, PointwiseLoss::Mse | PointwiseLoss::L1) {
                &t_reg
            } else {
                &t_prob
            };
            let mut g = vec![];
            let scale = 1.0 / n as f64;
            let l = Cpu.pointwise_loss(kind, n, scale, &p, t, &mut g);
            let reference: f64 = p
                .iter()
                .zip(t)
                .map(|(&p, &t)| match kind {
                    PointwiseLoss::Mse => (p - t).powi(2),
                    PointwiseLoss::L1 => (p - t).abs(),
                    PointwiseLoss::BceWithLogits => {
                        let s = 1.0 / (1.0 + (-p).exp());
                        -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
                    }
                    PointwiseLoss::KlDiv => t * (t.ln() - p),
                })
                .sum::<f64>()
                * scale;
            assert_close(&[l], &[reference], 1e-12, 1e-14);
            let f = |v: &[f64]| Cpu.pointwise_loss(kind, n, scale, &v.to_vec(), t, &mut vec![]);
            check_gradient(f, &p, &g, GradCheck::default()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    }

    /// sign(0) = 0 for L1; a zero target contributes 0 to KL.
    #[test]
    fn l1_tie_and_kl_zero_target() {
        let mut g = vec![];
        let l = Cpu.pointwise_loss(PointwiseLoss::L1, 2, 0.5, &vec![1.0f32, 2.0], &vec![1.0, 0.0], &mut g);
        assert_eq!((l, g.clone()), (1.0, vec![0.0, 0.5]));
        let l = Cpu.pointwise_loss(
            PointwiseLoss::KlDiv,
            2,
            1.0,
            &vec![-3.0f32, -0.5],
            &vec![0.0, 1.0],
            &mut g,
        );
        assert_eq!((l, g), (0.5, vec![0.0, -1.0]));
    }

    /// BCE and KL stay finite at magnitudes of 1e4 in f32.
    #[test]
    fn large_magnitudes_finite() {
        let p = vec![1e4f32, -1e4, 1e4, -1e4];
        let t = vec![0.0f32, 1.0, 1.0, 0.0];
        let mut g = vec![];
        let l = Cpu.pointwise_loss(PointwiseLoss::BceWithLogits, 4, 0.25, &p, &t, &mut g);
        assert_close(&[l], &[5e3], 1e-6, 0.0);
        assert_close(&g, &[0.25, -0.25, 0.0, 0.0], 0.0, 1e-7);
        let lp = vec![-1e4f32, -1e-4, 0.0, -1e4];
        let tp = vec![0.5f32, 0.5, 0.0, 0.0];
        let l = Cpu.pointwise_loss(PointwiseLoss::KlDiv, 4, 1.0, &lp, &tp, &mut g);
        assert!(l.is_finite() && g.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn count_correct_first_max_wins() {
        let d = ClassDims { rows: 3, classes: 3 };
        let x = vec![1.0f32, 3.0, 3.0, 0.0, 0.0, 5.0, f32::NAN, 1.0, 2.0];
        assert_eq!(Cpu.count_correct(d, &x, &vec![1, 2, 0]).unwrap(), 3);
        assert_eq!(Cpu.count_correct(d, &x, &vec![2, 0, 2]).unwrap(), 0);
    }

    /// The chunked, parallel path equals a sequential f64 sum to rounding,
    /// and is bit-identical between runs.
    #[test]
    fn large_reduction_is_deterministic() {
        let mut rng = Rng::new(4);
        let n = crate::cpu::PAR_THRESHOLD * 3 + 17;
        let p: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let t: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let (mut g1, mut g2) = (vec![], vec![]);
        let a = Cpu.pointwise_loss(PointwiseLoss::Mse, n, 1.0 / n as f64, &p, &t, &mut g1);
        let b = Cpu.pointwise_loss(PointwiseLoss::Mse, n, 1.0 / n as f64, &p, &t, &mut g2);
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!(g1, g2);
        let seq: f64 = p.iter().zip(&t).map(|(&p, &t)| ((p - t) as f64).powi(2)).sum::<f64>() / n as f64;
        assert_close(&[a as f64], &[seq], 1e-6, 0.0);
        let d = ClassDims {
            rows: n / 10,
            classes: 10,
        };
        let labels: Vec<u32> = (0..d.rows).map(|i| (i % 10) as u32).collect();
        let a = Cpu.cross_entropy(d, 0.0, 1.0, &p, &labels, &mut g1).unwrap();
        let b = Cpu.cross_entropy(d, 0.0, 1.0, &p, &labels, &mut g2).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
    }

    #[test]
    fn empty_inputs() {
        let mut g = vec![1.0f32];
        let d = ClassDims { rows: 0, classes: 3 };
        assert_eq!(Cpu.cross_entropy(d, 0.0, 1.0, &vec![], &vec![], &mut g).unwrap(), 0.0);
        assert!(g.is_empty());
        assert_eq!(
            Cpu.pointwise_loss(PointwiseLoss::Mse, 0, 1.0, &vec![], &vec![], &mut g),
            0.0
        );
    }
}
