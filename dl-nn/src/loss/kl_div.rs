//! Kullback-Leibler divergence, reduction `batchmean`.
//!
//! For log-probabilities `x` (the input) and probabilities `t` (the target, `log_target = false`):
//! `sum t (ln t - x) / N` with `N` the batch size and `0 ln 0 = 0`; the gradient is `-t / N`.
//!
//! **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")` / `F.kl_div(log_probs, target, reduction="batchmean")`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
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
    fn kl_div(log_probs);
    /// KL divergence (batchmean) as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")`.
    struct KlDiv;
    kind: PointwiseLoss::KlDiv, per_sample: true, metrics: &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check_pointwise;
    use dl_core::S2;
    use dl_core::{Cpu, Rng};

    #[test]
    fn value_gradient_errors_and_loss_impl() {
        check_pointwise(kl_div, KlDiv, Rng::uniform, |p, t| t * (t.ln() - p), 4.0);
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
