//! AdamW: Adam with decoupled weight decay.
//!
//! Per parameter: `p *= 1 - lr wd` first, then the [`super::Adam`] step
//! without an L2 term.
//!
//! **PyTorch equivalent**: `torch.optim.AdamW(params, lr=1e-3, betas=(0.9,
//! 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)`; the same state
//! names as Adam.

use super::adam::AdamFamily;
#[cfg(test)]
use super::Optimizer;
use dl_core::Cpu;

/// AdamW: [`super::Adam`]'s implementation with the decay decoupled.
/// [`Default`]: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 1e-2` (PyTorch's defaults).
///
/// ```
/// use dl_nn::optim::AdamW;
/// let opt: AdamW = AdamW::default();
/// assert_eq!(opt.weight_decay, 1e-2);
/// ```
pub type AdamW<B = Cpu, E = f32> = AdamFamily<true, B, E>;

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
