//! Losses: each returns the scalar loss and writes its gradient with respect
//! to the prediction into a caller-owned tensor.
//!
//! | dl | PyTorch |
//! |---|---|
//! | [`CrossEntropy`], [`cross_entropy()`] | `nn.CrossEntropyLoss(label_smoothing=e)`, `F.cross_entropy` |
//! | [`Mse`], [`mse_loss`] | `nn.MSELoss()`, `F.mse_loss` |
//! | [`L1Loss`], [`l1_loss`] | `nn.L1Loss()`, `F.l1_loss` |
//! | [`BceWithLogits`], [`bce_with_logits`] | `nn.BCEWithLogitsLoss()`, `F.binary_cross_entropy_with_logits` |
//! | [`KlDiv`], [`kl_div()`] | `nn.KLDivLoss(reduction="batchmean")`, `F.kl_div` |
//! | [`Distillation`], [`distillation`] | Hinton's distillation loss (`alpha T^2 KL(soft teacher ‖ soft student) + (1 - alpha) CE`) |
//! | [`accuracy()`] | `(logits.argmax(-1) == labels).float().mean()` |
//!
//! Every loss has three layers: a shape-agnostic `*_flat` function on device
//! buffers with runtime dimensions (the golden-vector runner calls it), a
//! typed `*_into` function writing into a reused gradient tensor (no
//! allocation), and a convenience function returning `(loss, grad)`. The
//! math runs in the backend's [`dl_core::ops::loss::LossKernel`].
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::loss::cross_entropy;
//! let logits = Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![2.0, 0.0, 0.0, 0.0, 0.0, 5.0]).unwrap();
//! let (loss, grad) = cross_entropy(&logits, &[0, 2]).unwrap();
//! assert!(loss > 0.0 && loss < 0.2);
//! assert_eq!(grad.shape(), vec![2, 3]);
//! assert!(cross_entropy(&logits, &[0, 3]).is_err()); // label out of range
//! ```

pub mod accuracy;
pub mod bce;
pub mod cross_entropy;
pub mod distill;
pub mod kl_div;
pub mod l1;
pub mod mse;

pub use accuracy::accuracy;
pub use bce::{bce_with_logits, BceWithLogits};
pub use cross_entropy::{cross_entropy, cross_entropy_with_smoothing, CrossEntropy};
pub use distill::{distillation, DistillTarget, Distillation};
pub use kl_div::{kl_div, KlDiv};
pub use l1::{l1_loss, L1Loss};
pub use mse::{mse_loss, Mse};

use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Error, Float, Result, Shape, Tensor};

/// A loss over predictions of per-sample shape `S`.
pub trait Loss<S: Shape, B: Backend, E: Float> {
    /// What the prediction is compared with: `[usize]` class labels for
    /// classification losses, a `Tensor<S, B, E>` for regression losses.
    type Target: ?Sized;
    /// Computes the mean loss over the batch and writes `d loss / d pred`
    /// into `grad` (resized to the batch).
    ///
    /// # Errors
    /// A typed error for invalid targets (a class label out of range, a
    /// batch-size mismatch).
    fn loss(&self, pred: &Tensor<S, B, E>, target: &Self::Target, grad: &mut Tensor<S, B, E>) -> dl_core::Result<E>;
    /// The figures `fit` and `evaluate` report besides the loss when the
    /// target is a float tensor: MSE, MAE and R² by default (regression);
    /// [`BceWithLogits`] reports the binary accuracy, [`KlDiv`] nothing.
    /// Not used for class labels, which always get their accuracy.
    fn metrics(&self) -> &'static [crate::train::metrics::Metric] {
        crate::train::metrics::Metric::REGRESSION
    }
}

/// Checks the buffers of an element-wise loss: `n > 0` and both buffers of
/// `n` elements.
fn check_pointwise<B: Backend, E: Float>(
    dev: &B,
    op: &'static str,
    pred: &B::Buf<E>,
    target: &B::Buf<E>,
    n: usize,
) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidArgument {
            op,
            msg: "empty batch: the mean of no element is undefined".into(),
        });
    }
    let (lp, lt) = (dev.len(pred), dev.len(target));
    if lp != n || lt != n {
        return Err(Error::ShapeMismatch {
            op,
            lhs: vec![lp],
            rhs: vec![lt],
        });
    }
    Ok(())
}

/// Runs an element-wise loss on flat buffers with the given reduction scale
/// (the golden runner calls it with PyTorch's reductions).
pub(crate) fn pointwise_flat<B: Backend, E: Float>(
    dev: &B,
    kind: PointwiseLoss,
    pred: &B::Buf<E>,
    target: &B::Buf<E>,
    n: usize,
    scale: f64,
    grad: &mut B::Buf<E>,
) -> Result<E> {
    check_pointwise(dev, kind.name(), pred, target, n)?;
    Ok(dev.pointwise_loss(kind, n, scale, pred, target, grad))
}

/// Typed wrapper of an element-wise loss: checks batch sizes, resizes
/// `grad`, and reduces by the mean over elements (or over samples when
/// `per_sample`).
fn pointwise_typed<S: Shape, B: Backend, E: Float>(
    kind: PointwiseLoss,
    pred: &Tensor<S, B, E>,
    target: &Tensor<S, B, E>,
    per_sample: bool,
    grad: &mut Tensor<S, B, E>,
) -> Result<E> {
    if pred.batch() != target.batch() {
        return Err(Error::ShapeMismatch {
            op: kind.name(),
            lhs: pred.shape(),
            rhs: target.shape(),
        });
    }
    grad.set_batch(pred.batch());
    let n = pred.len();
    let scale = if per_sample {
        1.0 / pred.batch().max(1) as f64
    } else {
        1.0 / n.max(1) as f64
    };
    pointwise_flat(pred.device(), kind, pred.buf(), target.buf(), n, scale, grad.buf_mut())
}

/// An element-wise loss: the allocating function `(loss, gradient)` and the
/// [`Loss`] struct, both on [`pointwise_typed`] with one `PointwiseLoss`
/// kind and reduction (`per_sample`: divide by the batch, else by the
/// element count).
macro_rules! pointwise_loss {
    (
        $(#[$fdoc:meta])* fn $f:ident($x:ident);
        $(#[$sdoc:meta])* struct $s:ident;
        kind: $kind:expr, per_sample: $per_sample:expr $(, metrics: $metrics:expr)?
    ) => {
        $(#[$fdoc])*
        ///
        /// # Errors
        /// [`dl_core::Error::ShapeMismatch`] when the batch sizes differ,
        /// [`dl_core::Error::InvalidArgument`] for an empty batch.
        pub fn $f<S: Shape, B: Backend, E: Float>(
            $x: &Tensor<S, B, E>,
            target: &Tensor<S, B, E>,
        ) -> Result<(E, Tensor<S, B, E>)> {
            let mut grad = Tensor::empty($x.device());
            let l = $s.loss($x, target, &mut grad)?;
            Ok((l, grad))
        }

        $(#[$sdoc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $s;

        impl<S: Shape, B: Backend, E: Float> Loss<S, B, E> for $s {
            type Target = Tensor<S, B, E>;
            fn loss(&self, pred: &Tensor<S, B, E>, target: &Tensor<S, B, E>, grad: &mut Tensor<S, B, E>) -> Result<E> {
                super::pointwise_typed($kind, pred, target, $per_sample, grad)
            }
            $(
                fn metrics(&self) -> &'static [crate::train::metrics::Metric] {
                    $metrics
                }
            )?
        }
    };
}
pub(crate) use pointwise_loss;

#[cfg(test)]
mod pointwise_tests {
    use super::*;
    use dl_core::Cpu;

    #[test]
    fn flat_buffers_of_the_wrong_length_are_typed_errors() {
        for kind in [
            PointwiseLoss::Mse,
            PointwiseLoss::L1,
            PointwiseLoss::BceWithLogits,
            PointwiseLoss::KlDiv,
        ] {
            let mut g = vec![];
            let e = pointwise_flat(&Cpu, kind, &vec![0f64; 3], &vec![0f64; 2], 3, 1.0, &mut g).unwrap_err();
            assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
            let e = pointwise_flat::<Cpu, f64>(&Cpu, kind, &vec![], &vec![], 0, 1.0, &mut g).unwrap_err();
            assert!(e.to_string().contains("empty batch"), "{e}");
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::Loss;
    use dl_core::gradcheck::{check_gradient, GradCheck};
    use dl_core::{Cpu, Error, Result, Rng, Tensor, S2};

    /// Checks `grad` against central differences of `f` at `x`.
    #[track_caller]
    pub(crate) fn check(f: impl FnMut(&[f64]) -> f64, x: &[f64], grad: &[f64]) {
        check_gradient(f, x, grad, GradCheck::default()).unwrap();
    }

    /// The test tensors of the element-wise losses: 4 samples of `[2, 3]`.
    pub(crate) type T = Tensor<S2<2, 3>, Cpu, f64>;

    /// What every element-wise loss must do, given its function `f`, its
    /// [`Loss`] value `l`, how targets are drawn, the per-element loss
    /// `elem(pred, target)` and the divisor of the sum (the element count,
    /// or the batch for `batchmean`): the value against that reference, the
    /// gradient against finite differences, typed errors for mismatched and
    /// empty batches, and the `Loss` impl equal to the function.
    #[track_caller]
    pub(crate) fn check_pointwise(
        f: fn(&T, &T) -> Result<(f64, T)>,
        l: impl Loss<S2<2, 3>, Cpu, f64, Target = T>,
        target: fn(&mut Rng) -> f64,
        elem: fn(f64, f64) -> f64,
        divisor: f64,
    ) {
        let mut rng = Rng::new(7);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = T::from_vec(&Cpu, 4, (0..24).map(|_| target(&mut rng)).collect()).unwrap();
        let (loss, g) = f(&x, &t).unwrap();
        let reference = x.to_vec().iter().zip(t.to_vec()).map(|(&p, t)| elem(p, t)).sum::<f64>() / divisor;
        assert!((loss - reference).abs() < 1e-12, "{loss} vs {reference}");
        check(
            |v| f(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0,
            &x.to_vec(),
            &g.to_vec(),
        );

        let e = f(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = f(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");

        let mut g2 = T::empty(&Cpu);
        let l2 = l.loss(&x, &t, &mut g2).unwrap();
        assert_eq!((l2, g2.to_vec()), (loss, g.to_vec()));
    }
}
