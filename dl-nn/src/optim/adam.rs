//! Adam, with optional L2 weight decay and AMSGrad.
//!
//! Per parameter at step `t`: `g = grad + wd p`; `m = b1 m + (1 - b1) g`;
//! `v = b2 v + (1 - b2) g^2` (AMSGrad: `vmax = max(vmax, v)` replaces `v`);
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
//!
//! **PyTorch equivalent**: `torch.optim.Adam(params, lr=1e-3, betas=(0.9,
//! 0.999), eps=1e-8, weight_decay=0, amsgrad=False)`; state
//! `state.<i>.exp_avg`, `state.<i>.exp_avg_sq`, `state.<i>.max_exp_avg_sq`,
//! `state.<i>.step`.

use super::state::{Layout, States};
use super::{non_negative, unit_interval, Optimizer};
use crate::module::Module;
use dl_core::ops::optim::AdamHyper;
use dl_core::{Backend, Cpu, Float};

pub(crate) fn layout(amsgrad: bool) -> Layout {
    Layout {
        names: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        used: [true, true, amsgrad],
        init: [0.0; 3],
    }
}

/// One Adam or AdamW step over `model`.
pub(crate) fn adam_step<B: Backend, E: Float, M: Module<B, E>>(
    states: &mut States<B, E>,
    model: &mut M,
    mut h: AdamHyper,
) {
    states.step(model, layout(h.amsgrad), &mut |p, s| {
        h.step = s.step;
        let [m, v, vmax] = &mut s.bufs;
        p.dev.adam_update(&h, &mut p.value, &p.grad, m, v, vmax);
    });
}

/// PyTorch's constructor checks shared by Adam and AdamW.
pub(crate) fn check_hyper(lr: f64, betas: (f64, f64), eps: f64, weight_decay: f64) -> Result<(), String> {
    non_negative("learning rate", lr)?;
    unit_interval("beta1", betas.0)?;
    unit_interval("beta2", betas.1)?;
    non_negative("eps", eps)?;
    non_negative("weight_decay", weight_decay)
}

/// Adam and AdamW: one implementation, `DECOUPLED` choosing how the weight
/// decay applies (an L2 term added to the gradient, or `p *= 1 - lr wd`
/// before the step). Use it through the aliases [`Adam`] and
/// [`super::AdamW`].
#[derive(Debug)]
pub struct AdamFamily<const DECOUPLED: bool, B: Backend = Cpu, E: Float = f32> {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay: an L2 penalty added to the gradient (Adam) or the
    /// decoupled decay (AdamW).
    pub weight_decay: f64,
    /// AMSGrad variant.
    pub amsgrad: bool,
    states: States<B, E>,
}

/// Adam. [`Default`]: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, no
/// weight decay, no AMSGrad (PyTorch's defaults).
///
/// ```
/// use dl_nn::optim::Adam;
/// let opt: Adam = Adam::default();
/// assert_eq!((opt.lr, opt.betas, opt.eps), (1e-3, (0.9, 0.999), 1e-8));
/// let opt: Adam = Adam::new(3e-4).betas(0.9, 0.98).amsgrad(true);
/// assert!(opt.amsgrad);
/// ```
pub type Adam<B = Cpu, E = f32> = AdamFamily<false, B, E>;

impl<const DECOUPLED: bool, B: Backend, E: Float> Default for AdamFamily<DECOUPLED, B, E> {
    fn default() -> Self {
        Self::new(1e-3)
    }
}

impl<const DECOUPLED: bool, B: Backend, E: Float> AdamFamily<DECOUPLED, B, E> {
    /// The state buffers per parameter (`max_exp_avg_sq` with AMSGrad).
    fn layout(&self) -> Layout {
        layout(self.amsgrad)
    }
    /// Adam (AdamW) with learning rate `lr` and PyTorch's other defaults
    /// (AdamW: `weight_decay = 1e-2`).
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: if DECOUPLED { 1e-2 } else { 0.0 },
            amsgrad: false,
            states: States::default(),
        }
    }
    /// Sets the moment decay rates.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }
    setters! {
        /// Sets `eps`.
        eps: f64,
        /// Sets the weight decay (L2 for Adam, decoupled for AdamW).
        weight_decay: f64,
        /// Enables or disables AMSGrad.
        amsgrad: bool,
    }
}

impl<const DECOUPLED: bool, B: Backend, E: Float> Optimizer<B, E> for AdamFamily<DECOUPLED, B, E> {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let h = AdamHyper {
            lr: self.lr,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: DECOUPLED,
            amsgrad: self.amsgrad,
            step: 1,
        };
        adam_step(&mut self.states, model, h);
    }
    super::lr_and_state_methods!();
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        check_hyper(self.lr, self.betas, self.eps, self.weight_decay)?;
        self.states.validate(model)
    }
}

/// A scalar transcription of `torch.optim.Adam` / `AdamW` for the tests.
#[cfg(test)]
pub(crate) fn reference(
    lr: f64,
    wd: f64,
    decoupled: bool,
    amsgrad: bool,
) -> impl Fn(&mut f64, f64, &mut [f64; 3], u64) {
    move |p, g, st, t| {
        let mut g = g;
        if decoupled {
            *p *= 1.0 - lr * wd;
        } else {
            g += wd * *p;
        }
        st[0] = 0.9 * st[0] + 0.1 * g;
        st[1] = 0.999 * st[1] + 0.001 * g * g;
        st[2] = st[2].max(st[1]);
        let v = if amsgrad { st[2] } else { st[1] };
        let bc1 = 1.0 - 0.9f64.powi(t as i32);
        let bc2 = 1.0 - 0.999f64.powi(t as i32);
        *p -= lr / bc1 * st[0] / (v.sqrt() / bc2.sqrt() + 1e-8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

    #[test]
    fn matches_reference_and_skips_frozen_and_buffers() {
        check_optimizer(Adam::new(0.01), reference(0.01, 0.0, false, false));
        check_optimizer(Adam::new(0.01).weight_decay(0.1), reference(0.01, 0.1, false, false));
        check_optimizer(Adam::new(0.01).amsgrad(true), reference(0.01, 0.0, false, true));
    }

    #[test]
    fn state_round_trip_and_errors() {
        round_trip(
            || Adam::new(0.01),
            &["state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step", "step"],
        );
        round_trip(|| Adam::new(0.01).amsgrad(true), &["state.2.max_exp_avg_sq"]);
        bad_states(|| Adam::new(0.01), "exp_avg_sq");
        assert!(Adam::<Cpu, f64>::default()
            .betas(1.0, 0.9)
            .validate(&mut model())
            .is_err());
    }

    #[test]
    fn no_allocation_after_first_step() {
        stable_buffers(Adam::default());
    }
}
