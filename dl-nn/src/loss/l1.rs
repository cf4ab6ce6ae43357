//! Mean absolute error: `mean(|p - t|)` over every element.
//!
//! The gradient is `sign(p - t) / n`, with `sign(0) = 0` (as PyTorch).
//!
//! **PyTorch equivalent**: `nn.L1Loss()` / `F.l1_loss(pred, target)`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// Mean absolute error: `(loss, d loss / d pred)`.
    ///
    /// **PyTorch equivalent**: `F.l1_loss(pred, target)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let p = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 2.0]).unwrap();
    /// let t = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![0.0, 4.0, 2.0]).unwrap();
    /// let (loss, grad) = dl_nn::loss::l1_loss(&p, &t).unwrap();
    /// assert!((loss - 2.0 / 3.0).abs() < 1e-7);
    /// assert_eq!(grad.to_vec(), vec![1.0 / 3.0, -1.0 / 3.0, 0.0]); // sign(0) = 0
    /// ```
    fn l1_loss(pred);
    /// Mean absolute error as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.L1Loss()`.
    struct L1Loss;
    kind: PointwiseLoss::L1, per_sample: false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check_pointwise;
    use dl_core::Rng;

    #[test]
    fn value_gradient_errors_and_loss_impl() {
        check_pointwise(l1_loss, L1Loss, Rng::normal, |p, t| (p - t).abs(), 24.0);
    }
}
