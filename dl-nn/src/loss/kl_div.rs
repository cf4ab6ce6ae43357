//! Kullback-Leibler divergence, reduction `batchmean`.
//!
//! For log-probabilities `x` (the input) and probabilities `t` (the target, `log_target = false`):
//! `sum t (ln t - x) / N` with `N` the batch size and `0 ln 0 = 0`; the gradient is `-t / N`.
//!
//! **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")` / `F.kl_div(log_probs, target, reduction="batchmean")`.

use super::{pointwise_flat, pointwise_typed, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

/// KL divergence (batchmean) on flat buffers of `n` elements divided by `batch` (`batchmean`); returns the
/// loss and writes its gradient into `grad` (resized to `n`).
///
/// # Errors
/// [`dl_core::Error::InvalidArgument`] when `n == 0`,
/// [`dl_core::Error::ShapeMismatch`] when a buffer does not hold `n` elements.
pub fn kl_div_flat<B: Backend, E: Float>(
    dev: &B,
    log_probs: &B::Buf<E>,
    target: &B::Buf<E>,
    n: usize,
    batch: usize,
    grad: &mut B::Buf<E>,
) -> Result<E> {
    pointwise_flat(
        dev,
        PointwiseLoss::KlDiv,
        log_probs,
        target,
        n,
        1.0 / batch.max(1) as f64,
        grad,
    )
}

/// KL divergence (batchmean) of `log_probs` against `target`, writing the gradient into
/// `grad` (resized to the batch; no allocation once it has grown).
///
/// # Errors
/// [`dl_core::Error::ShapeMismatch`] when the batch sizes differ,
/// [`dl_core::Error::InvalidArgument`] for an empty batch.
pub fn kl_div_into<S: Shape, B: Backend, E: Float>(
    log_probs: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
    grad: &mut Tensor<S, B, E>,
) -> Result<E> {
    pointwise_typed(PointwiseLoss::KlDiv, log_probs, target, true, grad)
}

/// KL divergence (batchmean): `(loss, d loss / d log_probs)`.
///
/// **PyTorch equivalent**: `F.kl_div(log_probs, target, reduction="batchmean")`.
///
/// ```
/// use dl_core::prelude::*;
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.5f32.ln(), 0.5f32.ln()]).unwrap();
/// let t = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.5, 0.5]).unwrap();
/// let (loss, grad) = dl_nn::loss::kl_div(&x, &t).unwrap();
/// assert!(loss.abs() < 1e-7); // identical distributions
/// assert_eq!(grad.to_vec(), vec![-0.5, -0.5]);
/// ```
///
/// # Errors
/// As [`kl_div_into`].
pub fn kl_div<S: Shape, B: Backend, E: Float>(
    log_probs: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
) -> Result<(E, Tensor<S, B, E>)> {
    let mut grad = Tensor::empty(log_probs.device());
    let l = kl_div_into(log_probs, target, &mut grad)?;
    Ok((l, grad))
}

/// KL divergence (batchmean) as a [`Loss`] (target: a tensor of the prediction's shape).
///
/// **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KlDiv;

impl<S: Shape, B: Backend, E: Float> Loss<S, B, E> for KlDiv {
    type Target = Tensor<S, B, E>;
    fn loss(&self, pred: &Tensor<S, B, E>, target: &Tensor<S, B, E>, grad: &mut Tensor<S, B, E>) -> Result<E> {
        kl_div_into(pred, target, grad)
    }
    /// None: the outputs are log-probabilities, not predictions of the targets.
    fn metrics(&self) -> &'static [crate::train::metrics::Metric] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use dl_core::{Cpu, Error, Rng, S2};

    type T = Tensor<S2<2, 3>, Cpu, f64>;

    fn target(rng: &mut Rng) -> T {
        let v: Vec<f64> = (0..24).map(|_| rng.uniform()).collect();
        T::from_vec(&Cpu, 4, v).unwrap()
    }

    #[test]
    fn value_and_gradient_check() {
        let mut rng = Rng::new(7);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let (l, g) = kl_div(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| t * (t.ln() - p))
            .sum::<f64>()
            / 4.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| kl_div(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = kl_div(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = kl_div(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
        let mut g = vec![];
        let e = kl_div_flat(&Cpu, &vec![0f64; 3], &vec![0f64; 2], 3, 1, &mut g).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = KlDiv.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = kl_div(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }

    #[test]
    fn large_log_probs_are_finite_in_f32() {
        let x = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![-1e4, 0.0, -1e4, -1e-4]).unwrap();
        let t = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![0.0, 1.0, 0.5, 0.5]).unwrap();
        let (l, g) = kl_div(&x, &t).unwrap();
        assert!(l.is_finite() && g.all_finite());
        assert!(
            (l - 0.5 * (0.5 * (0.5f32.ln() + 1e4) + 0.5 * (0.5f32.ln() + 1e-4))).abs() < 1e-2,
            "{l}"
        );
    }
}
