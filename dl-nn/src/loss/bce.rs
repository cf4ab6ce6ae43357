//! Binary cross-entropy with logits, numerically stable.
//!
//! `mean(max(x, 0) - x t + ln(1 + e^-|x|))` over every element, for logits `x` and targets `t` in `[0, 1]`
//! (hard or soft); the gradient is `(sigmoid(x) - t) / n`. Logits of magnitude `1e4` stay finite.
//!
//! **PyTorch equivalent**: `nn.BCEWithLogitsLoss()` / `F.binary_cross_entropy_with_logits(logits, target)`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// Binary cross-entropy with logits: `(loss, d loss / d logits)`.
    ///
    /// **PyTorch equivalent**: `F.binary_cross_entropy_with_logits(logits, target)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 1e4]).unwrap();
    /// let t = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 1.0]).unwrap();
    /// let (loss, grad) = dl_nn::loss::bce_with_logits(&x, &t).unwrap();
    /// assert!((loss - 0.5 * 2f32.ln()).abs() < 1e-6);
    /// assert_eq!(grad.to_vec(), vec![-0.25, 0.0]);
    /// ```
    fn bce_with_logits(logits);
    /// Binary cross-entropy with logits as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.BCEWithLogitsLoss()`.
    struct BceWithLogits;
    kind: PointwiseLoss::BceWithLogits, per_sample: false, metrics: crate::train::metrics::Metric::BINARY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check_pointwise;
    use dl_core::S2;
    use dl_core::{Cpu, Rng};

    #[test]
    fn value_gradient_errors_and_loss_impl() {
        check_pointwise(
            bce_with_logits,
            BceWithLogits,
            Rng::uniform,
            |p, t| {
                let s = 1.0 / (1.0 + (-p).exp());
                -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
            },
            24.0,
        );
    }

    #[test]
    fn large_logits_are_finite_in_f32() {
        let x = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![1e4, -1e4, 1e4, -1e4]).unwrap();
        let t = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![0.0, 1.0, 1.0, 0.5]).unwrap();
        let (l, g) = bce_with_logits(&x, &t).unwrap();
        assert!(l.is_finite() && g.all_finite());
        // (1e4 + 1e4 + 0 + 0.5e4) / 4
        assert!((l - 6250.0).abs() < 1e-2, "{l}");
    }
}
