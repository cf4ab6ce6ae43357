//! [`Pruned`]: any optimizer, with pruning on a schedule and masks that
//! the updates respect.

use super::mask::{PruningMasks, Scope, Selection};
use super::schedule::SparsitySchedule;
use super::PruneError;
use crate::module::Module;
use crate::optim::Optimizer;
use dl_core::{Backend, Float};

/// State-dict entry holding the pruning step count.
const STEP_ENTRY: &str = "pruning.step";

/// An optimizer that prunes: it wraps any [`Optimizer`] and, at each
/// [`Optimizer::step`],
/// 1. prunes when the [`SparsitySchedule`] says so (magnitude pruning of
///    the [`Selection`] to the scheduled sparsity, [`Scope::Global`] by
///    default) and then zeroes the inner optimizer's state at the pruned
///    positions ([`PruningMasks::zero_optimizer_state`]),
/// 2. zeroes the gradients of pruned weights,
/// 3. runs the inner optimizer's step,
/// 4. zeroes the pruned weights again (whatever the inner optimizer did).
///
/// A pruned weight is therefore exactly zero after every step, for every
/// optimizer. Because it is an optimizer, it works unchanged in a
/// hand-written loop and in `fit`:
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_nn::prune::{PolynomialDecay, Pruned};
/// let mut fc = Linear::<16, 8>::init(&Cpu, 0);
/// // 0% -> 90% over steps 0..=40, pruning every 10 steps.
/// let mut opt = Pruned::new(Adam::default(), PolynomialDecay::new(0.0, 0.9, 0, 40).frequency(10));
/// for _ in 0..50 {
///     fc.weight.grad = vec![0.1; 128]; // (backward)
///     opt.step(&mut fc);
/// }
/// assert_eq!(opt.masks().unwrap().num_pruned(), 115); // round(0.9 * 128)
/// assert_eq!(fc.weight.value_vec().iter().filter(|w| **w == 0.0).count(), 115);
/// ```
///
/// With `fit`: `FitConfig::new(Pruned::new(Adam::default(), schedule), CrossEntropy::new())`;
/// use `fit_mut` to read the masks afterwards (`config.optimizer().masks()`).
///
/// Its [`Optimizer::state_dict`] is the inner optimizer's plus the
/// pruning step count (`pruning.step`); the masks themselves go into a
/// sparse checkpoint ([`super::save_sparse`]).
pub struct Pruned<O, B: Backend, E: Float> {
    inner: O,
    schedule: Option<Box<dyn SparsitySchedule + Send + Sync>>,
    selection: Selection,
    scope: Scope,
    masks: Option<PruningMasks<B, E>>,
    step: u64,
}

impl<O, B: Backend, E: Float> std::fmt::Debug for Pruned<O, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pruned")
            .field("step", &self.step)
            .field("scope", &self.scope)
            .field("selection", &self.selection)
            .field("masks", &self.masks)
            .finish_non_exhaustive()
    }
}

impl<O: Optimizer<B, E>, B: Backend, E: Float> Pruned<O, B, E> {
    /// `inner`, pruning the default [`Selection`] on `schedule`.
    pub fn new(inner: O, schedule: impl SparsitySchedule + Send + Sync + 'static) -> Self {
        Self {
            inner,
            schedule: Some(Box::new(schedule)),
            selection: Selection::weights(),
            scope: Scope::Global,
            masks: None,
            step: 0,
        }
    }
    /// `inner`, keeping fixed `masks` (from [`super::magnitude_prune`] or
    /// [`super::load_sparse`]) during fine-tuning; it zeroes `inner`'s state
    /// at the pruned positions now.
    ///
    /// # Errors
    /// [`PruneError::OptimizerState`] when `inner` rejects its edited state.
    pub fn with_masks(mut inner: O, masks: PruningMasks<B, E>) -> Result<Self, PruneError> {
        masks.zero_optimizer_state(&mut inner)?;
        Ok(Self {
            inner,
            schedule: None,
            selection: Selection::weights(),
            scope: Scope::Global,
            masks: Some(masks),
            step: 0,
        })
    }
    setters! {
        /// Sets which tensors are pruned (checked at the first step, or by
        /// [`Optimizer::validate`], which `fit` calls first).
        selection: Selection,
        /// Sets the scope ([`Scope::Global`] by default).
        scope: Scope,
    }
    /// The masks (`None` before the first pruning).
    pub fn masks(&self) -> Option<&PruningMasks<B, E>> {
        self.masks.as_ref()
    }
    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }
    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }
    /// The wrapped optimizer and the masks.
    pub fn into_parts(self) -> (O, Option<PruningMasks<B, E>>) {
        (self.inner, self.masks)
    }

    /// Prunes if step `self.step` is a pruning step.
    fn maybe_prune<M: Module<B, E>>(&mut self, model: &mut M) -> Result<(), PruneError> {
        let Some(target) = self.schedule.as_ref().and_then(|s| s.target(self.step)) else {
            return Ok(());
        };
        if self.masks.is_none() {
            self.masks = Some(PruningMasks::new(model, &self.selection)?);
        }
        let masks = self.masks.as_mut().expect("just set");
        masks.prune(model, target, self.scope)?;
        masks.zero_optimizer_state(&mut self.inner)
    }
}

impl<O: Optimizer<B, E>, B: Backend, E: Float> Optimizer<B, E> for Pruned<O, B, E> {
    /// Prunes (on schedule), masks the gradients, steps, masks the weights.
    ///
    /// # Panics
    /// When the selection does not fit the model (an unknown name) or the
    /// masks belong to another model; [`Optimizer::validate`] reports both
    /// as errors first.
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        if let Err(e) = self.maybe_prune(model) {
            panic!(
                "pruning at step {}: {e} (Optimizer::validate reports this as an error)",
                self.step
            );
        }
        if let Some(m) = &mut self.masks {
            m.mask_grads(model);
        }
        self.inner.step(model);
        if let Some(m) = &mut self.masks {
            m.mask_weights(model);
        }
        self.step += 1;
    }
    fn lr(&self) -> f64 {
        self.inner.lr()
    }
    fn set_lr(&mut self, lr: f64) {
        self.inner.set_lr(lr);
    }
    fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        let mut s = self.inner.state_dict();
        s.push((STEP_ENTRY.to_string(), vec![], vec![self.step as f64]));
        s
    }
    fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String> {
        let mut step = None;
        let mut rest = Vec::with_capacity(state.len());
        for e in state {
            if e.0 == STEP_ENTRY {
                match e.2.as_slice() {
                    [s] if *s >= 0.0 && s.fract() == 0.0 && *s <= 9_007_199_254_740_992.0 => step = Some(*s as u64),
                    _ => return Err(format!("`{STEP_ENTRY}` must be one integer in 0..=2^53")),
                }
            } else {
                rest.push(e.clone());
            }
        }
        self.inner.load_state_dict(&rest)?;
        if let Some(s) = step {
            self.step = s;
        }
        Ok(())
    }
    fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        self.inner.validate(model)?;
        if let Some(s) = &self.schedule {
            s.validate().map_err(|e| e.to_string())?;
        }
        match &self.masks {
            Some(m) => m.check(model),
            None => PruningMasks::<B, E>::new(model, &self.selection).map(drop),
        }
        .map_err(|e| e.to_string())
    }
}
