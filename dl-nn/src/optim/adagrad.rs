//! Adagrad: per-element learning rates from the sum of squared gradients.
//!
//! Per parameter, at step `t`: `clr = lr / (1 + (t - 1) lr_decay)`,
//! `g = grad + wd p`, `sum += g^2`, `p -= clr g / (sqrt(sum) + eps)`, with
//! `sum` starting at `initial_accumulator_value`.
//!
//! **PyTorch equivalent**: `torch.optim.Adagrad(params, lr=1e-2, lr_decay=0,
//! weight_decay=0, initial_accumulator_value=0, eps=1e-10)`; state
//! `state.<i>.sum`, `state.<i>.step`.

use super::state::{Layout, States};
use super::{non_negative, Optimizer};
use crate::module::Module;
use dl_core::ops::optim::AdagradHyper;
use dl_core::{Backend, Cpu, Float};

/// Adagrad. [`Default`] is PyTorch's (`lr = 1e-2`, `eps = 1e-10`).
///
/// ```
/// use dl_nn::optim::Adagrad;
/// let opt: Adagrad = Adagrad::new(0.1).lr_decay(1e-3).initial_accumulator_value(0.1);
/// assert_eq!(opt.eps, 1e-10);
/// ```
#[derive(Debug)]
pub struct Adagrad<B: Backend = Cpu, E: Float = f32> {
    /// Learning rate.
    pub lr: f64,
    /// Learning-rate decay per step.
    pub lr_decay: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Initial value of the squared-gradient sum.
    pub initial_accumulator_value: f64,
    /// Added to the denominator.
    pub eps: f64,
    states: States<B, E>,
}

impl<B: Backend, E: Float> Default for Adagrad<B, E> {
    fn default() -> Self {
        Self::new(1e-2)
    }
}

impl<B: Backend, E: Float> Adagrad<B, E> {
    /// Adagrad with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            states: States::default(),
        }
    }
    setters! {
        /// Sets the learning-rate decay.
        lr_decay: f64,
        /// Sets the L2 weight decay.
        weight_decay: f64,
        /// Sets the initial accumulator value.
        initial_accumulator_value: f64,
        /// Sets `eps`.
        eps: f64,
    }
    fn layout(&self) -> Layout {
        Layout {
            names: ["sum", "", ""],
            used: [true, false, false],
            init: [self.initial_accumulator_value, 0.0, 0.0],
        }
    }
}

impl<B: Backend, E: Float> Optimizer<B, E> for Adagrad<B, E> {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let (lr, decay, eps, wd) = (self.lr, self.lr_decay, self.eps, self.weight_decay);
        let layout = self.layout();
        self.states.step(model, layout, &mut |p, s| {
            let h = AdagradHyper {
                clr: lr / (1.0 + (s.step - 1) as f64 * decay),
                eps,
                weight_decay: wd,
            };
            p.dev.adagrad_update(&h, &mut p.value, &p.grad, &mut s.bufs[0]);
        });
    }
    super::lr_and_state_methods!();
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        non_negative("learning rate", self.lr)?;
        non_negative("lr_decay", self.lr_decay)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        non_negative("eps", self.eps)?;
        self.states.validate(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

    #[test]
    fn matches_reference_and_skips_frozen_and_buffers() {
        let mut opt = Adagrad::new(0.1)
            .lr_decay(0.05)
            .weight_decay(0.02)
            .initial_accumulator_value(0.3);
        check_optimizer_init(&mut opt, [0.3, 0.0, 0.0], |p, g, st, t| {
            let clr = 0.1 / (1.0 + (t - 1) as f64 * 0.05);
            let g = g + 0.02 * *p;
            st[0] += g * g;
            *p -= clr * g / (st[0].sqrt() + 1e-10);
        });
    }

    #[test]
    fn state_round_trip_and_errors() {
        round_trip(
            || Adagrad::new(0.1).lr_decay(0.01),
            &["state.0.sum", "state.2.step", "step"],
        );
        bad_states(|| Adagrad::new(0.1), "sum");
        assert!(Adagrad::<Cpu, f64>::new(0.1).eps(-1.0).validate(&mut model()).is_err());
    }

    #[test]
    fn no_allocation_after_first_step() {
        stable_buffers(Adagrad::default());
    }
}
