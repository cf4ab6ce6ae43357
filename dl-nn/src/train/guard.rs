//! NaN and infinity detection for hand-written (PyTorch-style) training
//! loops: the check that [`super::Fit::fit`] runs after every backward pass.

use super::error::{FaultSource, TrainError};
use super::fit::NonFinite;
use crate::module::Module;
use dl_core::ops::matmul::Gemm;
use dl_core::{Backend, Float};

/// Checks the loss and the gradients of a step before the optimizer runs,
/// as `fit` does (`FitConfig::on_non_finite`). Call [`NonFiniteGuard::check`]
/// after `backward`, and step the optimizer only when it returns `Ok(true)`.
///
/// ```
/// use dl_core::{Cpu, Rng, Tensor, S1};
/// use dl_nn::prelude::*;
/// use dl_nn::train::{FaultSource, NonFiniteGuard, TrainError};
/// let dev = Cpu;
/// let mut fc = Linear::<2, 1>::init(&dev, &mut Rng::new(0));
/// let mut guard = NonFiniteGuard::new(&dev, NonFinite::Error);
/// // An input with a NaN gives the weight a NaN gradient.
/// let x = Tensor::<S1<2>>::from_vec(&dev, 1, vec![f32::NAN, 1.0]).unwrap();
/// let mut y = Tensor::empty(&dev);
/// fc.forward_train(&x, &mut y, &mut ());
/// let dy = Tensor::<S1<1>>::from_vec(&dev, 1, vec![1.0]).unwrap();
/// fc.zero_grad();
/// let mut dx = Tensor::empty(&dev);
/// fc.backward(&x, &y, &(), &dy, &mut dx);
/// // In a loop: `if guard.check(&mut model, loss, epoch, step)? { opt.step(&mut model) }`.
/// let e = guard.check(&mut fc, 0.5, 2, 7).unwrap_err();
/// assert!(matches!(&e, TrainError::NonFinite { epoch: 2, step: 7, what: FaultSource::Gradient(n) } if n == "weight"), "{e}");
/// ```
pub struct NonFiniteGuard<B: Backend, E: Float> {
    mode: NonFinite,
    dev: B,
    ones: B::Buf<E>,
    total: B::Buf<E>,
    skipped: usize,
}

impl<B: Backend, E: Float> NonFiniteGuard<B, E> {
    /// A guard on `dev` acting as `mode` says.
    pub fn new(dev: &B, mode: NonFinite) -> Self {
        Self {
            mode,
            dev: dev.clone(),
            ones: dev.zeros(0),
            total: dev.zeros(1),
            skipped: 0,
        }
    }

    /// Whether the optimizer may step: `Ok(true)` when the loss and every
    /// trainable gradient are finite (or the mode is [`NonFinite::Ignore`]);
    /// with [`NonFinite::SkipStep`], `Ok(false)` after zeroing the
    /// gradients and counting the step in [`NonFiniteGuard::skipped`].
    ///
    /// # Errors
    /// With [`NonFinite::Error`], [`TrainError::NonFinite`] naming `epoch`,
    /// `step` and the loss or the first parameter (by `state_dict` name)
    /// whose gradient is not finite.
    pub fn check<M: Module<B, E>>(
        &mut self,
        model: &mut M,
        loss: f64,
        epoch: usize,
        step: usize,
    ) -> Result<bool, TrainError> {
        if self.mode == NonFinite::Ignore {
            return Ok(true);
        }
        let fault = if loss.is_finite() {
            first_non_finite_grad(&self.dev, model, &mut self.ones, &mut self.total).map(FaultSource::Gradient)
        } else {
            Some(FaultSource::Loss)
        };
        match fault {
            None => Ok(true),
            Some(what) if self.mode == NonFinite::Error => Err(TrainError::NonFinite { epoch, step, what }),
            Some(_) => {
                model.zero_grad();
                self.skipped += 1;
                Ok(false)
            }
        }
    }

    /// Steps skipped so far ([`NonFinite::SkipStep`]).
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// The `state_dict` name of the first trainable parameter whose gradient
/// holds a NaN or an infinity. Every trainable gradient's sum is added into
/// `total` on the device as a GEMM with a row of ones (`total += 1^T g`:
/// cuBLAS spreads it over the GPU, where the reduction kernel would sum a
/// whole weight matrix in one thread), and `total` is read back once (one
/// synchronisation per step on a GPU). A NaN or infinity anywhere makes the
/// total non-finite; only then (or when a finite sum overflows) are
/// gradients read in full.
fn first_non_finite_grad<M: Module<B, E>, B: Backend, E: Float>(
    dev: &B,
    model: &mut M,
    ones: &mut B::Buf<E>,
    total: &mut B::Buf<E>,
) -> Option<String> {
    dev.fill(total, E::ZERO);
    model.for_each_param(&mut |p| {
        let n = p.numel();
        if n == 0 || !p.is_trainable() {
            return;
        }
        if dev.len(ones) < n {
            dev.resize(ones, n);
            dev.fill(ones, E::ONE);
        }
        dev.gemm(Gemm::new(1, 1, n, false, false).accumulate(), ones, &p.grad, total);
    });
    if dev.to_vec(total).iter().all(|v| v.to_f64().is_finite()) {
        return None;
    }
    let mut found = None;
    model.visit("", &mut |name, p| {
        if found.is_none() && p.is_trainable() && p.grad_vec().iter().any(|v| !v.to_f64().is_finite()) {
            found = Some(name.to_string());
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Linear;
    use dl_core::{Cpu, Rng, Storage};

    fn with_grads(w: [f32; 2], b: f32) -> Linear<2, 1> {
        let mut fc = Linear::<2, 1>::init(&Cpu, &mut Rng::new(0));
        fc.visit_mut("", &mut |name, p| {
            p.grad = if name == "weight" {
                Cpu.from_slice(&w)
            } else {
                Cpu.from_slice(&[b])
            };
        });
        fc
    }

    /// Gradients whose sum overflows are finite: no false alarm. A NaN is
    /// named by parameter; the mode decides what happens.
    #[test]
    fn overflowing_sums_are_not_faults_and_nan_is_named() {
        let mut g = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::Error);
        assert!(g.check(&mut with_grads([3e38, 3e38], 3e38), 1.0, 0, 0).unwrap());
        let e = g.check(&mut with_grads([1.0, 2.0], f32::NAN), 1.0, 4, 7).unwrap_err();
        assert!(
            matches!(&e, TrainError::NonFinite { epoch: 4, step: 7, what: FaultSource::Gradient(n) } if n == "bias"),
            "{e}"
        );
        let e = g
            .check(&mut with_grads([1.0, 2.0], 0.0), f64::INFINITY, 0, 1)
            .unwrap_err();
        assert!(matches!(
            e,
            TrainError::NonFinite {
                what: FaultSource::Loss,
                ..
            }
        ));
        let mut skip = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::SkipStep);
        let mut fc = with_grads([f32::INFINITY, 0.0], 0.0);
        assert!(!skip.check(&mut fc, 1.0, 0, 0).unwrap());
        assert_eq!(skip.skipped(), 1);
        assert!(fc.weight.raw().grad.iter().all(|&v| v == 0.0));
        let mut ignore = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::Ignore);
        assert!(ignore
            .check(&mut with_grads([f32::NAN, 0.0], 0.0), f64::NAN, 0, 0)
            .unwrap());
    }
}
