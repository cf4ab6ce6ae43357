//! Sparsity schedules: when to prune during training, and to what
//! sparsity (TensorFlow Model Optimization's `PolynomialDecay` and
//! `ConstantSparsity`).

use super::mask::check_sparsity;
use super::PruneError;

/// When to prune during training: [`SparsitySchedule::target`] is the
/// sparsity to reach at optimizer step `step` (0-based), or `None` when
/// the masks stay as they are at that step.
pub trait SparsitySchedule {
    /// The sparsity to prune to before step `step`, if it is a pruning step.
    fn target(&self, step: u64) -> Option<f64>;
    /// Checks the settings.
    ///
    /// # Errors
    /// [`PruneError::InvalidConfig`] naming the bad setting.
    fn validate(&self) -> Result<(), PruneError> {
        Ok(())
    }
}

/// Sparsity rising from `initial_sparsity` at `begin_step` to
/// `final_sparsity` at `end_step` along
/// `s(t) = final + (initial - final) * (1 - (t - begin) / (end - begin))^power`
/// (Zhu & Gupta 2017; TF-MOT's `PolynomialDecay`, power 3 by default),
/// pruning every `frequency` steps from `begin_step` and always at
/// `end_step` (so the final sparsity is reached even when `frequency` does
/// not divide `end_step - begin_step`, where TF-MOT would stop short).
///
/// ```
/// use dl_nn::prune::{PolynomialDecay, SparsitySchedule};
/// let s = PolynomialDecay::new(0.0, 0.9, 0, 1000).frequency(100);
/// assert_eq!(s.target(0), Some(0.0));
/// assert_eq!(s.target(50), None);
/// assert!((s.target(500).unwrap() - 0.9 * (1.0 - 0.5f64.powi(3))).abs() < 1e-12);
/// assert_eq!(s.target(1000), Some(0.9));
/// assert_eq!(s.target(1100), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolynomialDecay {
    /// Sparsity at `begin_step`.
    pub initial_sparsity: f64,
    /// Sparsity from `end_step` on.
    pub final_sparsity: f64,
    /// First pruning step.
    pub begin_step: u64,
    /// Last pruning step.
    pub end_step: u64,
    /// Steps between prunings (TF-MOT's default: 100).
    pub frequency: u64,
    /// Exponent of the curve (3: prune fast early, slowly near the end).
    pub power: f64,
}

impl PolynomialDecay {
    /// From `initial` to `final_` sparsity between steps `begin` and `end`,
    /// every 100 steps, power 3.
    pub fn new(initial: f64, final_: f64, begin: u64, end: u64) -> Self {
        Self {
            initial_sparsity: initial,
            final_sparsity: final_,
            begin_step: begin,
            end_step: end,
            frequency: 100,
            power: 3.0,
        }
    }
    setters! {
        /// Sets the steps between prunings.
        frequency: u64,
        /// Sets the exponent.
        power: f64,
    }
    /// The curve's value at `step` (the initial sparsity before
    /// `begin_step`, the final one after `end_step`).
    pub fn sparsity(&self, step: u64) -> f64 {
        let span = self.end_step.saturating_sub(self.begin_step);
        let p = if step >= self.end_step {
            1.0
        } else if step <= self.begin_step || span == 0 {
            0.0
        } else {
            (step - self.begin_step) as f64 / span as f64
        };
        if p == 0.0 {
            return self.initial_sparsity;
        }
        if p == 1.0 {
            return self.final_sparsity;
        }
        self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p).powf(self.power)
    }
}

impl SparsitySchedule for PolynomialDecay {
    fn target(&self, step: u64) -> Option<f64> {
        let in_range = step >= self.begin_step && step <= self.end_step;
        let turn = self.frequency > 0 && (step - self.begin_step.min(step)).is_multiple_of(self.frequency);
        (in_range && (turn || step == self.end_step)).then(|| self.sparsity(step))
    }
    fn validate(&self) -> Result<(), PruneError> {
        check_sparsity("initial_sparsity", self.initial_sparsity)?;
        check_sparsity("final_sparsity", self.final_sparsity)?;
        if self.end_step < self.begin_step {
            return Err(PruneError::InvalidConfig(format!(
                "end_step {} is before begin_step {}",
                self.end_step, self.begin_step
            )));
        }
        if self.frequency == 0 {
            return Err(PruneError::InvalidConfig("frequency must be at least 1".into()));
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return Err(PruneError::InvalidConfig(format!(
                "power must be finite and > 0, got {}",
                self.power
            )));
        }
        Ok(())
    }
}

/// One sparsity, applied at `begin_step` and again every `frequency`
/// steps up to `end_step` (TF-MOT's `ConstantSparsity`; a repeated pruning
/// at the same sparsity changes nothing, since masks only grow, unless the
/// weights were reloaded). [`ConstantSparsity::one_shot`] prunes once.
///
/// ```
/// use dl_nn::prune::{ConstantSparsity, SparsitySchedule};
/// let s = ConstantSparsity::one_shot(0.5);
/// assert_eq!((s.target(0), s.target(1)), (Some(0.5), None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstantSparsity {
    /// The sparsity.
    pub sparsity: f64,
    /// First pruning step.
    pub begin_step: u64,
    /// Last step that may prune.
    pub end_step: u64,
    /// Steps between prunings.
    pub frequency: u64,
}

impl ConstantSparsity {
    /// `sparsity` at `begin_step` and every `frequency` steps after it.
    pub fn new(sparsity: f64, begin_step: u64, frequency: u64) -> Self {
        Self {
            sparsity,
            begin_step,
            end_step: u64::MAX,
            frequency,
        }
    }
    /// `sparsity` once, before the first step.
    pub fn one_shot(sparsity: f64) -> Self {
        Self {
            sparsity,
            begin_step: 0,
            end_step: 0,
            frequency: 1,
        }
    }
    setters! {
        /// Sets the last step that may prune.
        end_step: u64,
    }
}

impl SparsitySchedule for ConstantSparsity {
    fn target(&self, step: u64) -> Option<f64> {
        let in_range = step >= self.begin_step && step <= self.end_step;
        (in_range && self.frequency > 0 && (step - self.begin_step).is_multiple_of(self.frequency))
            .then_some(self.sparsity)
    }
    fn validate(&self) -> Result<(), PruneError> {
        check_sparsity("sparsity", self.sparsity)?;
        if self.frequency == 0 {
            return Err(PruneError::InvalidConfig("frequency must be at least 1".into()));
        }
        if self.end_step < self.begin_step {
            return Err(PruneError::InvalidConfig(format!(
                "end_step {} is before begin_step {}",
                self.end_step, self.begin_step
            )));
        }
        Ok(())
    }
}
