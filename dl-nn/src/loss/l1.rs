//! Mean absolute error: `mean(|p - t|)` over every element.
//!
//! The gradient is `sign(p - t) / n`, with `sign(0) = 0` (as PyTorch).
//!
//! **PyTorch equivalent**: `nn.L1Loss()` / `F.l1_loss(pred, target)`.

use super::{pointwise_flat, pointwise_typed, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

/// Mean absolute error on flat buffers of `n` elements (mean over elements); returns the
/// loss and writes its gradient into `grad` (resized to `n`).
///
/// # Errors
/// [`dl_core::Error::InvalidArgument`] when `n == 0`,
/// [`dl_core::Error::ShapeMismatch`] when a buffer does not hold `n` elements.
pub fn l1_loss_flat<B: Backend, E: Float>(
    dev: &B,
    pred: &B::Buf<E>,
    target: &B::Buf<E>,
    n: usize,
    grad: &mut B::Buf<E>,
) -> Result<E> {
    pointwise_flat(dev, PointwiseLoss::L1, pred, target, n, 1.0 / n.max(1) as f64, grad)
}

/// Mean absolute error of `pred` against `target`, writing the gradient into
/// `grad` (resized to the batch; no allocation once it has grown).
///
/// # Errors
/// [`dl_core::Error::ShapeMismatch`] when the batch sizes differ,
/// [`dl_core::Error::InvalidArgument`] for an empty batch.
pub fn l1_loss_into<S: Shape, B: Backend, E: Float>(
    pred: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
    grad: &mut Tensor<S, B, E>,
) -> Result<E> {
    pointwise_typed(PointwiseLoss::L1, pred, target, false, grad)
}

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
///
/// # Errors
/// As [`l1_loss_into`].
pub fn l1_loss<S: Shape, B: Backend, E: Float>(
    pred: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
) -> Result<(E, Tensor<S, B, E>)> {
    let mut grad = Tensor::empty(pred.device());
    let l = l1_loss_into(pred, target, &mut grad)?;
    Ok((l, grad))
}

/// Mean absolute error as a [`Loss`] (target: a tensor of the prediction's shape).
///
/// **PyTorch equivalent**: `nn.L1Loss()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L1Loss;

impl<S: Shape, B: Backend, E: Float> Loss<S, B, E> for L1Loss {
    type Target = Tensor<S, B, E>;
    fn loss(&self, pred: &Tensor<S, B, E>, target: &Tensor<S, B, E>, grad: &mut Tensor<S, B, E>) -> Result<E> {
        l1_loss_into(pred, target, grad)
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
        let (l, g) = l1_loss(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| (p - t).abs())
            .sum::<f64>()
            / 24.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| l1_loss(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = l1_loss(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = l1_loss(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
        let mut g = vec![];
        let e = l1_loss_flat(&Cpu, &vec![0f64; 3], &vec![0f64; 2], 3, &mut g).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = L1Loss.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = l1_loss(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
