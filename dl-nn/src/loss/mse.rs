//! Mean squared error: `mean((p - t)^2)` over every element.
//!
//! The gradient is `2 (p - t) / n` with `n` the number of elements (batch included).
//!
//! **PyTorch equivalent**: `nn.MSELoss()` / `F.mse_loss(pred, target)`.

use super::{pointwise_flat, pointwise_typed, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

/// Mean squared error on flat buffers of `n` elements (mean over elements); returns the
/// loss and writes its gradient into `grad` (resized to `n`).
///
/// # Errors
/// [`dl_core::Error::InvalidArgument`] when `n == 0`,
/// [`dl_core::Error::ShapeMismatch`] when a buffer does not hold `n` elements.
pub fn mse_loss_flat<B: Backend, E: Float>(
    dev: &B,
    pred: &B::Buf<E>,
    target: &B::Buf<E>,
    n: usize,
    grad: &mut B::Buf<E>,
) -> Result<E> {
    pointwise_flat(dev, PointwiseLoss::Mse, pred, target, n, 1.0 / n.max(1) as f64, grad)
}

/// Mean squared error of `pred` against `target`, writing the gradient into
/// `grad` (resized to the batch; no allocation once it has grown).
///
/// # Errors
/// [`dl_core::Error::ShapeMismatch`] when the batch sizes differ,
/// [`dl_core::Error::InvalidArgument`] for an empty batch.
pub fn mse_loss_into<S: Shape, B: Backend, E: Float>(
    pred: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
    grad: &mut Tensor<S, B, E>,
) -> Result<E> {
    pointwise_typed(PointwiseLoss::Mse, pred, target, false, grad)
}

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
///
/// # Errors
/// As [`mse_loss_into`].
pub fn mse_loss<S: Shape, B: Backend, E: Float>(
    pred: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
) -> Result<(E, Tensor<S, B, E>)> {
    let mut grad = Tensor::empty(pred.device());
    let l = mse_loss_into(pred, target, &mut grad)?;
    Ok((l, grad))
}

/// Mean squared error as a [`Loss`] (target: a tensor of the prediction's shape).
///
/// **PyTorch equivalent**: `nn.MSELoss()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

impl<S: Shape, B: Backend, E: Float> Loss<S, B, E> for Mse {
    type Target = Tensor<S, B, E>;
    fn loss(&self, pred: &Tensor<S, B, E>, target: &Tensor<S, B, E>, grad: &mut Tensor<S, B, E>) -> Result<E> {
        mse_loss_into(pred, target, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use dl_core::{Cpu, Error, Rng, S2};

    type T = Tensor<S2<2, 3>, Cpu, f64>;

    fn target(rng: &mut Rng) -> T {
        let v: Vec<f64> = (0..24).map(|_| rng.normal()).collect();
        T::from_vec(&Cpu, 4, v).unwrap()
    }

    #[test]
    fn value_and_gradient_check() {
        let mut rng = Rng::new(7);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let (l, g) = mse_loss(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| (p - t).powi(2))
            .sum::<f64>()
            / 24.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| mse_loss(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = mse_loss(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = mse_loss(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
        let mut g = vec![];
        let e = mse_loss_flat(&Cpu, &vec![0f64; 3], &vec![0f64; 2], 3, &mut g).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = Mse.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = mse_loss(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
