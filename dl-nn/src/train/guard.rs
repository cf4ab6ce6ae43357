//! NaN and infinity detection for hand-written (PyTorch-style) training
//! loops: the check that [`super::Fit::fit`] runs after every backward pass.

use super::error::{FaultSource, TrainError};
use super::fit::NonFinite;
use crate::module::Module;
use dl_core::ops::matmul::{Gemm, GemmWorkspace};
use dl_core::{Backend, Float};

/// Checks the loss and the gradients of a step before the optimizer runs,
/// as `fit` does (`FitConfig::on_non_finite`). Call [`NonFiniteGuard::check`]
/// after `backward`, and step the optimizer only when it returns `Ok(true)`.
///
/// ```
/// use dl_core::{Cpu, GemmWorkspace, Rng, Tensor, S1};
/// use dl_nn::prelude::*;
/// use dl_nn::train::{FaultSource, NonFiniteGuard, TrainError};
/// let dev = Cpu;
/// let mut fc = Linear::<2, 1>::init(&dev, 0);
/// let mut guard = NonFiniteGuard::new(&dev, NonFinite::Error);
/// // An input with a NaN gives the weight a NaN gradient.
/// let x = Tensor::<S1<2>>::from_vec(&dev, 1, vec![f32::NAN, 1.0]).unwrap();
/// let mut y = Tensor::empty(&dev);
/// let mut cache = GemmWorkspace::new(); // Linear's cache
/// fc.forward_train_into(&x, &mut y, &mut cache);
/// let dy = Tensor::<S1<1>>::from_vec(&dev, 1, vec![1.0]).unwrap();
/// fc.zero_grad();
/// let mut dx = Tensor::empty(&dev);
/// fc.backward_into(&x, &y, &mut cache, &dy, &mut dx);
/// // In a loop: `if guard.check(&mut model, loss, epoch, step)? { opt.step(&mut model) }`.
/// let e = guard.check(&mut fc, 0.5, 2, 7).unwrap_err();
/// assert!(matches!(&e, TrainError::NonFinite { epoch: 2, step: 7, what: FaultSource::Gradient(n) } if n == "weight"), "{e}");
/// ```
pub struct NonFiniteGuard<B: Backend, E: Float> {
    mode: NonFinite,
    dev: B,
    ones: B::Buf<E>,
    total: B::Buf<E>,
    gemm: GemmWorkspace,
    skipped: usize,
    consecutive: usize,
    max_consecutive: usize,
}

/// Steps [`NonFinite::SkipStep`] may skip in a row before training stops
/// with [`TrainError::TooManySkippedSteps`] (see
/// [`NonFiniteGuard::max_consecutive_skips`]).
pub const DEFAULT_MAX_CONSECUTIVE_SKIPS: usize = 20;

impl<B: Backend, E: Float> NonFiniteGuard<B, E> {
    /// A guard on `dev` acting as `mode` says.
    pub fn new(dev: &B, mode: NonFinite) -> Self {
        Self {
            mode,
            dev: dev.clone(),
            ones: dev.zeros(0),
            total: dev.zeros(1),
            gemm: GemmWorkspace::new(),
            skipped: 0,
            consecutive: 0,
            max_consecutive: DEFAULT_MAX_CONSECUTIVE_SKIPS,
        }
    }

    /// With [`NonFinite::SkipStep`], stop with
    /// [`TrainError::TooManySkippedSteps`] once `n` steps in a row have been
    /// skipped (default [`DEFAULT_MAX_CONSECUTIVE_SKIPS`]; at least 1).
    pub fn max_consecutive_skips(mut self, n: usize) -> Self {
        self.max_consecutive = n.max(1);
        self
    }

    /// Whether the optimizer may step: `Ok(true)` when the loss and every
    /// trainable gradient are finite (or the mode is [`NonFinite::Ignore`]);
    /// with [`NonFinite::SkipStep`], `Ok(false)` after zeroing the
    /// gradients and counting the step in [`NonFiniteGuard::skipped`].
    ///
    /// When a fault is found, the parameters themselves are checked too: a
    /// parameter holding a NaN or an infinity is named
    /// ([`FaultSource::Parameter`]) and is an error in every mode but
    /// `Ignore`, since no later step can recover it.
    ///
    /// # Errors
    /// [`TrainError::NonFinite`] naming `epoch`, `step` and the loss or the
    /// first parameter (by `state_dict` name) whose gradient or value is
    /// not finite (with [`NonFinite::Error`], or a non-finite parameter);
    /// [`TrainError::TooManySkippedSteps`] when `SkipStep` has skipped
    /// [`NonFiniteGuard::max_consecutive_skips`] steps in a row.
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
            first_non_finite_grad(&self.dev, model, &mut self.ones, &mut self.total, &mut self.gemm)
                .map(FaultSource::Gradient)
        } else {
            Some(FaultSource::Loss)
        };
        let Some(what) = fault else {
            self.consecutive = 0;
            return Ok(true);
        };
        if let Some(name) = first_non_finite_param(model) {
            let what = FaultSource::Parameter(name);
            return Err(TrainError::NonFinite { epoch, step, what });
        }
        if self.mode == NonFinite::Error {
            return Err(TrainError::NonFinite { epoch, step, what });
        }
        model.zero_grad();
        self.skipped += 1;
        self.consecutive += 1;
        if self.consecutive >= self.max_consecutive {
            return Err(TrainError::TooManySkippedSteps {
                epoch,
                step,
                consecutive: self.consecutive,
                what,
            });
        }
        Ok(false)
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
    gemm: &mut GemmWorkspace,
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
        dev.gemm_ws(
            gemm,
            Gemm::new(1, 1, n, false, false).accumulate(),
            ones,
            &p.grad,
            total,
        );
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

/// The `state_dict` name of the first parameter or buffer whose value holds
/// a NaN or an infinity (read in full: called only once a fault is found).
fn first_non_finite_param<M: Module<B, E>, B: Backend, E: Float>(model: &mut M) -> Option<String> {
    let mut found = None;
    model.visit("", &mut |name, p| {
        if found.is_none() && p.value_vec().iter().any(|v| !v.to_f64().is_finite()) {
            found = Some(name.to_string());
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Linear;
    use dl_core::{Cpu, Storage};

    fn with_grads(w: [f32; 2], b: f32) -> Linear<2, 1> {
        let mut fc = Linear::<2, 1>::init(&Cpu, 0);
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
        // Consecutive skips end in an error; a good step resets the count.
        let mut skip = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::SkipStep).max_consecutive_skips(3);
        for _ in 0..2 {
            assert!(!skip.check(&mut with_grads([f32::NAN, 0.0], 0.0), 1.0, 0, 0).unwrap());
        }
        assert!(skip.check(&mut with_grads([1.0, 0.0], 0.0), 1.0, 0, 2).unwrap());
        for s in 3..5 {
            assert!(!skip.check(&mut with_grads([f32::NAN, 0.0], 0.0), 1.0, 1, s).unwrap());
        }
        let e = skip
            .check(&mut with_grads([f32::NAN, 0.0], 0.0), 1.0, 1, 5)
            .unwrap_err();
        assert!(
            matches!(&e, TrainError::TooManySkippedSteps { epoch: 1, step: 5, consecutive: 3, what: FaultSource::Gradient(n) } if n == "weight"),
            "{e}"
        );
        // A diverged parameter is an error even with SkipStep: skipping cannot fix it.
        let mut fc = with_grads([0.0, 0.0], 0.0);
        fc.visit_mut("", &mut |name, p| {
            if name == "bias" {
                p.set_value(&[f32::INFINITY]).unwrap();
            }
        });
        let mut skip = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::SkipStep);
        let e = skip.check(&mut fc, f64::NAN, 0, 9).unwrap_err();
        assert!(
            matches!(&e, TrainError::NonFinite { step: 9, what: FaultSource::Parameter(n), .. } if n == "bias"),
            "{e}"
        );
        let mut ignore = NonFiniteGuard::<Cpu, f32>::new(&Cpu, NonFinite::Ignore);
        assert!(ignore
            .check(&mut with_grads([f32::NAN, 0.0], 0.0), f64::NAN, 0, 0)
            .unwrap());
    }
}
