//! Knowledge distillation in `fit`: a frozen teacher model whose softened
//! outputs the student also learns from
//! ([`FitConfig::teacher`](super::FitConfig::teacher)).
//!
//! At every training step the teacher runs its inference forward pass
//! (evaluation mode: no dropout, batch-norm running statistics) on the same
//! batch as the student, augmented the same way; its parameters never
//! change and get no gradient. The step's loss becomes
//!
//! `(1 - alpha) loss(student, target) + alpha T^2 KL(softmax(teacher / T) || softmax(student / T))`
//!
//! which for `CrossEntropy` is Hinton's distillation loss
//! ([`crate::loss::Distillation`]); the soft term works with any loss and
//! target (the softmax runs over the output's last axis). Validation and
//! `evaluate` measure the student alone, on the configured loss. The
//! teacher's output, cache and the distillation buffers are allocated once
//! per `fit` call and reused.

use super::error::TrainError;
use crate::loss::distill::{check_settings, soft_target_into, DistillScratch};
use crate::module::Layer;
use dl_core::{Backend, Float, Shape, Tensor};

/// No teacher: plain training (the default of [`FitConfig`](super::FitConfig)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoTeacher;

/// A frozen teacher model with its temperature and the weight `alpha` of
/// the soft-target term; made by [`FitConfig::teacher`](super::FitConfig::teacher).
pub struct Teacher<'a, M> {
    model: &'a mut M,
    temperature: f64,
    alpha: f64,
}

impl<'a, M> Teacher<'a, M> {
    /// A teacher (the settings are checked when `fit` starts).
    pub fn new(model: &'a mut M, temperature: f64, alpha: f64) -> Self {
        Self {
            model,
            temperature,
            alpha,
        }
    }
    /// The temperature `T`.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }
    /// The weight `alpha` of the soft-target term.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

/// What `fit` does with its teacher slot: nothing ([`NoTeacher`]) or
/// distillation ([`Teacher`]).
pub trait Teaching<In: Shape, Out: Shape, B: Backend, E: Float> {
    /// The buffers of one step, made once per `fit` call.
    type Scratch;
    /// Empty buffers on `dev`.
    fn new_scratch(&self, dev: &B) -> Self::Scratch;
    /// Before the first step: checks the settings and puts the teacher in
    /// evaluation mode.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] for a bad temperature or weight.
    fn begin(&mut self) -> Result<(), TrainError>;
    /// After the loss wrote `hard` and its gradient into `grad`: weights
    /// them and adds the soft-target term for the batch `x` whose student
    /// outputs are `out`. Returns the step's loss.
    ///
    /// # Errors
    /// A distillation kernel's error.
    fn apply(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &Tensor<Out, B, E>,
        hard: E,
        grad: &mut Tensor<Out, B, E>,
        scratch: &mut Self::Scratch,
    ) -> Result<E, TrainError>;
}

impl<In: Shape, Out: Shape, B: Backend, E: Float> Teaching<In, Out, B, E> for NoTeacher {
    type Scratch = ();
    fn new_scratch(&self, _dev: &B) {}
    #[inline]
    fn begin(&mut self) -> Result<(), TrainError> {
        Ok(())
    }
    #[inline]
    fn apply(
        &mut self,
        _x: &Tensor<In, B, E>,
        _out: &Tensor<Out, B, E>,
        hard: E,
        _grad: &mut Tensor<Out, B, E>,
        _scratch: &mut (),
    ) -> Result<E, TrainError> {
        Ok(hard)
    }
}

/// The buffers of a [`Teacher`]'s step: its output, its cache, the
/// distillation kernels' scratch.
pub struct TeacherScratch<Out: Shape, C, B: Backend, E: Float> {
    out: Tensor<Out, B, E>,
    cache: C,
    distill: DistillScratch<B, E>,
}

impl<In: Shape, Out: Shape, B: Backend, E: Float, M: Layer<In, Out, B, E>> Teaching<In, Out, B, E> for Teacher<'_, M> {
    type Scratch = TeacherScratch<Out, M::Cache, B, E>;
    fn new_scratch(&self, dev: &B) -> Self::Scratch {
        TeacherScratch {
            out: Tensor::empty(dev),
            cache: M::new_cache(dev),
            distill: DistillScratch::new(dev),
        }
    }
    fn begin(&mut self) -> Result<(), TrainError> {
        check_settings(self.temperature, self.alpha).map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
        self.model.set_training(false);
        Ok(())
    }
    fn apply(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &Tensor<Out, B, E>,
        hard: E,
        grad: &mut Tensor<Out, B, E>,
        s: &mut Self::Scratch,
    ) -> Result<E, TrainError> {
        // Inference forward pass into reused buffers (evaluation mode).
        self.model.forward_train_into(x, &mut s.out, &mut s.cache);
        let dev = grad.device().clone();
        dev.scale(grad.buf_mut(), 1.0 - self.alpha);
        let soft = soft_target_into(out, &s.out, self.temperature, self.alpha, grad, &mut s.distill)?;
        Ok(E::from_f64((1.0 - self.alpha) * hard.to_f64() + soft.to_f64()))
    }
}
