//! Stochastic gradient descent with momentum, dampening, Nesterov momentum
//! and (L2) weight decay.
//!
//! Per parameter: `g = grad + wd p`; with momentum `m`: `buf = g` on the
//! first step, else `buf = m buf + (1 - dampening) g`; then `g = g + m buf`
//! (Nesterov) or `g = buf`; finally `p -= lr g`.
//!
//! **PyTorch equivalent**: `torch.optim.SGD(params, lr, momentum, dampening,
//! weight_decay, nesterov)`; state `state.<i>.momentum_buffer`.

use super::state::{Layout, States};
use super::{non_negative, Optimizer};
use crate::module::Module;
use dl_core::ops::optim::SgdHyper;
use dl_core::{Backend, Cpu, Float};

const LAYOUT_M: Layout = Layout {
    names: ["momentum_buffer", "", ""],
    used: [true, false, false],
    init: [0.0; 3],
};
const LAYOUT_PLAIN: Layout = Layout {
    names: ["momentum_buffer", "", ""],
    used: [false, false, false],
    init: [0.0; 3],
};

/// SGD. Build with [`Sgd::new`] and the builder methods.
///
/// ```
/// use dl_nn::optim::Sgd;
/// let opt: Sgd = Sgd::new(0.01).momentum(0.9).dampening(0.0).nesterov(true).weight_decay(5e-4);
/// assert_eq!(opt.momentum, 0.9);
/// ```
#[derive(Debug)]
pub struct Sgd<B: Backend = Cpu, E: Float = f32> {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    states: States<B, E>,
}

impl<B: Backend, E: Float> Sgd<B, E> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            states: States::default(),
        }
    }
    setters! {
        /// Sets the momentum factor.
        momentum: f64,
        /// Sets the dampening.
        dampening: f64,
        /// Enables or disables Nesterov momentum.
        nesterov: bool,
        /// Sets the L2 weight decay.
        weight_decay: f64,
    }
    fn layout(&self) -> Layout {
        if self.momentum != 0.0 {
            LAYOUT_M
        } else {
            LAYOUT_PLAIN
        }
    }
}

impl<B: Backend, E: Float> Optimizer<B, E> for Sgd<B, E> {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let mut h = SgdHyper {
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
            first_step: false,
        };
        let layout = self.layout();
        self.states.step(model, layout, &mut |p, s| {
            h.first_step = s.step == 1;
            p.dev.sgd_update(&h, &mut p.value, &p.grad, &mut s.bufs[0]);
        });
    }
    super::lr_and_state_methods!();
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        non_negative("learning rate", self.lr)?;
        non_negative("momentum", self.momentum)?;
        non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err("Nesterov momentum requires a momentum and zero dampening".into());
        }
        self.states.validate(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

    #[test]
    fn matches_reference_and_skips_frozen_and_buffers() {
        let opt = Sgd::new(0.1).momentum(0.9).weight_decay(0.01).nesterov(true);
        check_optimizer(opt, |p, g, st, t| {
            let d = g + 0.01 * *p;
            st[0] = if t == 1 { d } else { 0.9 * st[0] + d };
            *p -= 0.1 * (d + 0.9 * st[0]);
        });
        check_optimizer(Sgd::new(0.3), |p, g, _, _| *p -= 0.3 * g);
        check_optimizer(Sgd::new(0.1).momentum(0.5).dampening(0.3), |p, g, st, t| {
            st[0] = if t == 1 { g } else { 0.5 * st[0] + 0.7 * g };
            *p -= 0.1 * st[0];
        });
    }

    #[test]
    fn state_round_trip_and_errors() {
        round_trip(
            || Sgd::new(0.1).momentum(0.9),
            &["state.0.momentum_buffer", "state.0.step", "step"],
        );
        round_trip(|| Sgd::new(0.1), &["state.0.step", "step"]);
        bad_states(|| Sgd::new(0.1).momentum(0.9), "momentum_buffer");
        let mut m = model();
        assert!(Sgd::<Cpu, f64>::new(-1.0).validate(&mut m).is_err());
        assert!(Sgd::<Cpu, f64>::new(0.1).nesterov(true).validate(&mut m).is_err());
        assert!(Sgd::<Cpu, f64>::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .validate(&mut m)
            .is_ok());
    }

    #[test]
    fn no_allocation_after_first_step() {
        stable_buffers(Sgd::new(0.1).momentum(0.9));
    }
}
