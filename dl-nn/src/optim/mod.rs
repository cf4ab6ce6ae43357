//! Optimizers: they update every trainable, unfrozen parameter of a
//! [`Module`] from its accumulated gradient.
//!
//! State (momentum buffers, moment estimates) is kept per parameter in the
//! order of [`Module::for_each_param`], so a step allocates nothing after
//! the first.

use crate::module::Module;
use dl_core::{Backend, Float};

/// A gradient-descent optimizer.
pub trait Optimizer<B: Backend, E: Float> {
    /// Applies one update to every trainable, unfrozen parameter of `model`
    /// using its `grad`. Buffers and frozen parameters are skipped.
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
}
