//! Optimizers: they update every trainable, unfrozen parameter of a
//! [`Module`] from its accumulated gradient.
//!
//! State (momentum buffers, moment estimates) is kept per parameter in the
//! order of [`Module::for_each_param`], so a step allocates nothing after
//! the first. The update math runs in the backend's
//! [`dl_core::ops::optim::OptimKernel`] and follows `torch.optim` exactly.
//!
//! | dl | PyTorch |
//! |---|---|
//! | `Sgd::new(lr).momentum(m).dampening(d).nesterov(true).weight_decay(w)` | `optim.SGD(params, lr, momentum=m, dampening=d, nesterov=True, weight_decay=w)` |
//! | `Adagrad::new(lr)` | `optim.Adagrad(params, lr)` |
//! | `RmsProp::new(lr).momentum(m)` | `optim.RMSprop(params, lr, momentum=m)` |
//! | `Adam::default()` | `optim.Adam(params)` |
//! | `AdamW::default()` | `optim.AdamW(params)` |
//! | [`clip_grad_norm`] | `nn.utils.clip_grad_norm_` |
//! | [`schedule::StepLr`], [`schedule::CosineAnnealing`], [`schedule::LinearWarmup`] | `lr_scheduler.StepLR`, `CosineAnnealingLR`, `LinearLR` + `SequentialLR` |
//!
//! Weight decay inside an optimizer (`weight_decay(w)`) is one way to
//! regularise; [`crate::regularize`] adds explicit L1/L2 penalty gradients
//! before the step instead.
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::prelude::*;
//! let mut fc = Linear::<2, 1, Cpu, f64>::init(&Cpu, 0);
//! let before = fc.weight.value_vec();
//! fc.weight.grad = vec![1.0, -1.0];
//! let mut opt = Sgd::new(0.1).momentum(0.9);
//! opt.step(&mut fc);
//! let after = fc.weight.value_vec();
//! assert!((after[0] - (before[0] - 0.1)).abs() < 1e-12);
//! assert!((after[1] - (before[1] + 0.1)).abs() < 1e-12);
//! ```

/// The [`Optimizer`] methods every optimizer here writes the same way:
/// the learning rate lives in `self.lr`, the per-parameter state in
/// `self.states`, laid out by `self.layout()`.
macro_rules! lr_and_state_methods {
    () => {
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
            self.states.state_dict(self.layout())
        }
        fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String> {
            let layout = self.layout();
            self.states.load(layout, state)
        }
    };
}
pub(crate) use lr_and_state_methods;

pub mod adagrad;
pub mod adam;
pub mod adamw;
pub mod clip;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;
mod state;
#[cfg(test)]
pub(crate) mod test_util;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamFamily};
pub use adamw::AdamW;
pub use clip::clip_grad_norm;
pub use rmsprop::RmsProp;
pub use schedule::{CosineAnnealing, LinearWarmup, Schedule, StepLr};
pub use sgd::Sgd;

use crate::module::Module;
use dl_core::{Backend, Float};

/// A gradient-descent optimizer.
pub trait Optimizer<B: Backend, E: Float> {
    /// Applies one update to every trainable, unfrozen parameter of `model`
    /// using its `grad`. Buffers and frozen parameters are skipped.
    ///
    /// # Panics
    /// When a state restored with [`Optimizer::load_state_dict`] does not
    /// fit the model's parameters; [`Optimizer::validate`] reports that as
    /// an error first.
    fn step<M: Module<B, E>>(&mut self, model: &mut M);
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules call this between steps).
    fn set_lr(&mut self, lr: f64);
    /// The optimizer's state as named host tensors `(name, shape, values)`,
    /// for checkpoints (names such as `state.3.exp_avg`, `step`).
    fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)>;
    /// Restores a state written by [`Optimizer::state_dict`].
    ///
    /// # Errors
    /// A message naming the missing or mis-shaped entry.
    fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String>;
    /// Checks the hyperparameters (PyTorch's constructor checks: a
    /// non-negative learning rate, ...) and that the state fits `model`
    /// (after a [`Optimizer::load_state_dict`]). The default accepts everything.
    ///
    /// # Errors
    /// A message naming the bad hyperparameter or state entry.
    fn validate<M: Module<B, E>>(&self, _model: &mut M) -> Result<(), String> {
        Ok(())
    }
}

/// `Err` naming `name` unless `v` is finite and `>= 0`.
fn non_negative(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("invalid {name}: {v} (must be finite and >= 0)"))
    }
}

/// `Err` naming `name` unless `0 <= v < 1`.
fn unit_interval(name: &str, v: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("invalid {name}: {v} (must be in [0, 1))"))
    }
}
