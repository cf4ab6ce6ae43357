//! RMSprop: divides the gradient by a running root mean square.
//!
//! Per parameter: `g = grad + wd p`; `sq = alpha sq + (1 - alpha) g^2`;
//! centered: `ga = alpha ga + (1 - alpha) g`, `avg = sqrt(sq - ga^2) + eps`,
//! else `avg = sqrt(sq) + eps`; with momentum `buf = m buf + g / avg`,
//! `p -= lr buf`, else `p -= lr g / avg`.
//!
//! **PyTorch equivalent**: `torch.optim.RMSprop(params, lr=1e-2, alpha=0.99,
//! eps=1e-8, weight_decay=0, momentum=0, centered=False)`; state
//! `state.<i>.square_avg`, `state.<i>.momentum_buffer`, `state.<i>.grad_avg`.

use super::state::{Layout, States};
use super::{non_negative, unit_interval, Optimizer};
use crate::module::Module;
use dl_core::ops::optim::RmsPropHyper;
use dl_core::{Backend, Cpu, Float};

/// RMSprop. [`Default`] is PyTorch's (`lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`).
///
/// ```
/// use dl_nn::optim::RmsProp;
/// let opt: RmsProp = RmsProp::new(0.01).momentum(0.9).centered(true);
/// assert_eq!(opt.alpha, 0.99);
/// ```
#[derive(Debug)]
pub struct RmsProp<B: Backend = Cpu, E: Float = f32> {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Centered variant (normalise by the estimated variance).
    pub centered: bool,
    states: States<B, E>,
}

impl<B: Backend, E: Float> Default for RmsProp<B, E> {
    fn default() -> Self {
        Self::new(1e-2)
    }
}

impl<B: Backend, E: Float> RmsProp<B, E> {
    /// RMSprop with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            states: States::default(),
        }
    }
    setters! {
        /// Sets the smoothing constant.
        alpha: f64,
        /// Sets `eps`.
        eps: f64,
        /// Sets the L2 weight decay.
        weight_decay: f64,
        /// Sets the momentum factor.
        momentum: f64,
        /// Enables or disables the centered variant.
        centered: bool,
    }
    fn layout(&self) -> Layout {
        Layout {
            names: ["square_avg", "momentum_buffer", "grad_avg"],
            used: [true, self.momentum > 0.0, self.centered],
            init: [0.0; 3],
        }
    }
}

impl<B: Backend, E: Float> Optimizer<B, E> for RmsProp<B, E> {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let h = RmsPropHyper {
            lr: self.lr,
            alpha: self.alpha,
            eps: self.eps,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            centered: self.centered,
        };
        let layout = self.layout();
        self.states.step(model, layout, &mut |p, s| {
            let [sq, buf, ga] = &mut s.bufs;
            p.dev.rmsprop_update(&h, &mut p.value, &p.grad, sq, buf, ga);
        });
    }
    super::lr_and_state_methods!();
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        non_negative("learning rate", self.lr)?;
        unit_interval("alpha", self.alpha)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("momentum", self.momentum)?;
        self.states.validate(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

    #[test]
    fn matches_reference_and_skips_frozen_and_buffers() {
        for (m, centered) in [(0.0, false), (0.9, false), (0.5, true)] {
            let opt = RmsProp::new(0.01).momentum(m).centered(centered).weight_decay(0.1);
            check_optimizer(opt, |p, g, st, _| {
                let g = g + 0.1 * *p;
                st[0] = 0.99 * st[0] + 0.01 * g * g;
                let mut var = st[0];
                if centered {
                    st[2] = 0.99 * st[2] + 0.01 * g;
                    var -= st[2] * st[2];
                }
                let avg = var.sqrt() + 1e-8;
                if m > 0.0 {
                    st[1] = m * st[1] + g / avg;
                    *p -= 0.01 * st[1];
                } else {
                    *p -= 0.01 * g / avg;
                }
            });
        }
    }

    #[test]
    fn state_round_trip_and_errors() {
        round_trip(
            || RmsProp::new(0.01).momentum(0.9).centered(true),
            &[
                "state.0.square_avg",
                "state.0.momentum_buffer",
                "state.2.grad_avg",
                "step",
            ],
        );
        bad_states(|| RmsProp::new(0.01).momentum(0.9), "momentum_buffer");
        // A momentum buffer in the state of an optimizer without momentum.
        let mut a = RmsProp::new(0.01).momentum(0.9);
        let mut m = model();
        set_grads(&mut m, 1);
        a.step(&mut m);
        assert!(RmsProp::<Cpu, f64>::new(0.01).load_state_dict(&a.state_dict()).is_err());
        assert!(RmsProp::<Cpu, f64>::new(0.01).alpha(1.5).validate(&mut m).is_err());
    }

    #[test]
    fn no_allocation_after_first_step() {
        stable_buffers(RmsProp::new(0.01).momentum(0.9).centered(true));
    }
}
