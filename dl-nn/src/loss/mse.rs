//! Mean squared error: `mean((p - t)^2)` over every element.
//!
//! The gradient is `2 (p - t) / n` with `n` the number of elements (batch included).
//!
//! **PyTorch equivalent**: `nn.MSELoss()` / `F.mse_loss(pred, target)`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// Mean squared error: `(loss, d loss / d pred)`.
    ///
    /// **PyTorch equivalent**: `F.mse_loss(pred, target)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let p = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 3.0]).unwrap();
    /// let t = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 1.0]).unwrap();
    /// let (loss, grad) = dl_nn::loss::mse_loss(&p, &t).unwrap();
    /// assert_eq!(loss, 2.5);
    /// assert_eq!(grad.to_vec(), vec![1.0, 2.0]);
    /// ```
    fn mse_loss(pred);
    /// Mean squared error as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.MSELoss()`.
    struct Mse;
    kind: PointwiseLoss::Mse, per_sample: false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check_pointwise;
    use dl_core::Rng;

    #[test]
    fn value_gradient_errors_and_loss_impl() {
        check_pointwise(mse_loss, Mse, Rng::normal, |p, t| (p - t).powi(2), 24.0);
    }
}
