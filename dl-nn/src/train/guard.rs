//! NaN and infinity detection for hand-written (PyTorch-style) training
//! loops: the check that [`super::Fit::fit`] runs after every backward pass.

use super::error::{FaultSource, TrainError};
use super::fit::NonFinite;
use crate::module::Module;
use dl_core::ops::{Reduce, ReduceDims};
use dl_core::{Backend, Float};

/// Checks the loss and the gradients of a step before the optimizer runs,
/// as `fit` does (`FitConfig::on_non_finite`). Call [`NonFiniteGuard::check`]
/// after `backward`, and step the optimizer only when it returns `Ok(true)`.
///
/// ```
/// use dl_core::{Cpu, Rng, Tensor, S1};
/// use dl_nn::prelude::*;
/// use dl_nn::train::{NonFiniteGuard, TrainError};
/// let dev = Cpu;
/// let mut fc = Linear::<2, 1>::init(&dev, &mut Rng::new(0));
/// let mut opt = Sgd::new(0.1);
/// let mut guard = NonFiniteGuard::new(&dev, NonFinite::Error);
/// let x = Tensor::<S1<2>>::from_vec(&dev, 1, vec![f32::NAN, 1.0]).unwrap();
/// let mut y = Tensor::empty(&dev);
/// fc.forward_train(&x, &mut y, &mut ());
/// let (loss, dy) = (y.to_vec()[0] as f64, Tensor::<S1<1>>::from_vec(&dev, 1, vec![1.0]).unwrap());
/// fc.zero_grad();
/// let mut dx = Tensor::empty(&dev);
/// fc.backward(&x, &y, &(), &dy, &mut dx);
/// match guard.check(&mut fc, loss, 0, 0) {
///     Ok(true) => opt.step(&mut fc),
///     Ok(false) => {} // skipped (NonFinite::SkipStep)
///     Err(e) => assert!(matches!(e, TrainError::NonFinite { .. })),
/// }
/// ```
pub struct NonFiniteGuard<B: Backend, E: Float> {
    mode: NonFinite,
    scratch: B::Buf<E>,
    skipped: usize,
}

impl<B: Backend, E: Float> NonFiniteGuard<B, E> {
    /// A guard on `dev` acting as `mode` says.
    pub fn new(dev: &B, mode: NonFinite) -> Self {
        Self {
            mode,
            scratch: dev.zeros(1),
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
            first_non_finite_grad(model, &mut self.scratch).map(FaultSource::Gradient)
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
/// holds a NaN or an infinity. A sum per parameter (one element read back)
/// flags candidates; only then are gradients read in full.
fn first_non_finite_grad<M: Module<B, E>, B: Backend, E: Float>(
    model: &mut M,
    scratch: &mut B::Buf<E>,
) -> Option<String> {
    let mut suspicious = false;
    model.for_each_param(&mut |p| {
        let n = p.numel();
        if suspicious || n == 0 || !p.is_trainable() {
            return;
        }
        let d = ReduceDims {
            outer: 1,
            axis: n,
            inner: 1,
        };
        p.dev.reduce_forward(Reduce::Sum, d, &p.grad, scratch);
        if p.dev.to_vec(scratch).iter().any(|v| !v.to_f64().is_finite()) {
            suspicious = true;
        }
    });
    if !suspicious {
        return None;
    }
    // The sum may also overflow for finite gradients: confirm element-wise.
    let mut found = None;
    model.visit("", &mut |name, p| {
        if found.is_none() && p.is_trainable() && p.grad_vec().iter().any(|v| !v.to_f64().is_finite()) {
            found = Some(name.to_string());
        }
    });
    found
}
