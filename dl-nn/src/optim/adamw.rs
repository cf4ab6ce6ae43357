//! AdamW: Adam with decoupled weight decay.
//!
//! Per parameter: `p *= 1 - lr wd` first, then the [`super::Adam`] step
//! without an L2 term.
//!
//! **PyTorch equivalent**: `torch.optim.AdamW(params, lr=1e-3, betas=(0.9,
//! 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)`; the same state
//! names as Adam.

use super::adam::{adam_step, check_hyper, layout};
use super::state::States;
use super::Optimizer;
use crate::module::Module;
use dl_core::ops::optim::AdamHyper;
use dl_core::{Backend, Cpu, Float};

/// AdamW. [`Default`]: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 1e-2` (PyTorch's defaults).
///
/// ```
/// use dl_nn::optim::AdamW;
/// let opt: AdamW = AdamW::default();
/// assert_eq!(opt.weight_decay, 1e-2);
/// ```
#[derive(Debug)]
pub struct AdamW<B: Backend = Cpu, E: Float = f32> {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// AMSGrad variant.
    pub amsgrad: bool,
    states: States<B, E>,
}

impl<B: Backend, E: Float> Default for AdamW<B, E> {
    fn default() -> Self {
        Self::new(1e-3)
    }
}

impl<B: Backend, E: Float> AdamW<B, E> {
    /// AdamW with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
            states: States::default(),
        }
    }
    /// Sets the moment decay rates.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }
    /// Sets `eps`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the decoupled weight decay.
    pub fn weight_decay(mut self, w: f64) -> Self {
        self.weight_decay = w;
        self
    }
    /// Enables or disables AMSGrad.
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self
    }
}

impl<B: Backend, E: Float> Optimizer<B, E> for AdamW<B, E> {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let h = AdamHyper {
            lr: self.lr,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: true,
            amsgrad: self.amsgrad,
            step: 1,
        };
        adam_step(&mut self.states, model, h);
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        self.states.state_dict(layout(self.amsgrad))
    }
    fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String> {
        self.states.load(layout(self.amsgrad), state)
    }
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        check_hyper(self.lr, self.betas, self.eps, self.weight_decay)?;
        self.states.validate(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::adam::reference;
    use crate::optim::test_util::*;

    #[test]
    fn matches_reference_and_skips_frozen_and_buffers() {
        check_optimizer(AdamW::new(0.01), reference(0.01, 0.01, true, false));
        check_optimizer(
            AdamW::new(0.01).weight_decay(0.1).amsgrad(true),
            reference(0.01, 0.1, true, true),
        );
    }

    #[test]
    fn state_round_trip_and_errors() {
        round_trip(|| AdamW::new(0.01), &["state.0.exp_avg", "state.2.exp_avg_sq", "step"]);
        bad_states(|| AdamW::new(0.01), "exp_avg");
        assert!(AdamW::<Cpu, f64>::new(-0.1).validate(&mut model()).is_err());
    }

    #[test]
    fn no_allocation_after_first_step() {
        stable_buffers(AdamW::default());
    }
}
