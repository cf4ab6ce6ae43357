//! The hook through which [`fit`](super::Fit::fit) trains data-parallel:
//! [`GradSync`]. `dl-nn` defines it and never implements a transport;
//! `dl-dist` implements it on MPI and NCCL (its `DataParallel`).
//!
//! With [`FitConfig::distributed`](super::FitConfig::distributed), `fit`
//! 1. broadcasts the parameters from rank 0 before the first step,
//! 2. trains on this rank's shard of every epoch ([`GradSync::train_sampler`]),
//!    with `batch_size` samples per rank and step (the global batch is
//!    `batch_size * world_size`, as in PyTorch's DDP),
//! 3. averages the gradients over the ranks after every backward pass
//!    ([`GradSync::sync_gradients`]), so the optimizer takes the same step
//!    on every rank,
//! 4. sums the epoch's loss, accuracy and sample counts (training and
//!    validation) over the ranks, so every rank's [`History`](super::History)
//!    holds the global figures and callbacks decide the same on every rank,
//! 5. prints progress only on rank 0, and tells callbacks the rank
//!    ([`CallbackContext::is_root`](super::CallbackContext::is_root)), so
//!    [`ModelCheckpoint`](super::ModelCheckpoint) writes files only on rank 0.

use super::error::TrainError;
use crate::data::Sampler;
use crate::module::Module;
use dl_core::{Backend, Float, RawParam};
use std::sync::Arc;

/// Every parameter and buffer of a model, in a fixed order: the
/// object-safe face of [`Module::for_each_param`], implemented for every
/// module.
pub trait Parameters<B: Backend, E: Float> {
    /// Calls `f` with every parameter and buffer, in
    /// [`Module::for_each_param`] order.
    fn each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>));
}

impl<B: Backend, E: Float, M: Module<B, E>> Parameters<B, E> for M {
    fn each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>)) {
        self.for_each_param(f);
    }
}

/// A data-parallel group as `fit` sees it: this process's rank, the number
/// of processes, parameter broadcast, gradient averaging, a sum of a few
/// figures, and the samplers that shard the data.
///
/// Every method but `rank` and `world_size` is collective: every rank must
/// call it, in the same order, with buffers of the same sizes.
pub trait GradSync<B: Backend, E: Float> {
    /// This process's rank, `0..world_size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn world_size(&self) -> usize;
    /// Overwrites every parameter and buffer with rank 0's.
    ///
    /// # Errors
    /// [`TrainError::Distributed`]: a transport failure, a peer that failed,
    /// a model that differs between ranks.
    fn broadcast_parameters(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), TrainError>;
    /// Replaces every trainable gradient with its mean over the ranks.
    ///
    /// # Errors
    /// As [`GradSync::broadcast_parameters`].
    fn sync_gradients(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), TrainError>;
    /// Replaces each value with its sum over the ranks.
    ///
    /// # Errors
    /// As [`GradSync::broadcast_parameters`].
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), TrainError>;
    /// The sampler of this rank's training shard: the epoch's order (shuffled
    /// from `seed` when set) split over the ranks, every shard the same
    /// length (see `dl_dist::DistributedSampler` for the padding and
    /// `drop_last` rules).
    fn train_sampler(&self, seed: Option<u64>, drop_last: bool) -> Arc<dyn Sampler>;
    /// The sampler of this rank's evaluation shard: in order, every sample
    /// on exactly one rank (shards may differ in length by one).
    fn eval_sampler(&self) -> Arc<dyn Sampler>;
}

/// [`GradSync`] for a concrete model type: what [`FitConfig`](super::FitConfig)
/// keeps (it knows the model type `M`, not the backend and element types).
pub(crate) trait SyncModel<M> {
    fn rank(&self) -> usize;
    fn broadcast_parameters(&mut self, model: &mut M) -> Result<(), TrainError>;
    fn sync_gradients(&mut self, model: &mut M) -> Result<(), TrainError>;
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), TrainError>;
    fn train_sampler(&self, seed: Option<u64>, drop_last: bool) -> Arc<dyn Sampler>;
    fn eval_sampler(&self) -> Arc<dyn Sampler>;
}

/// Adapts a `&mut dyn GradSync<B, E>` to [`SyncModel<M>`] for any module `M`.
pub(crate) struct Bridge<'a, B: Backend, E: Float>(pub(crate) &'a mut dyn GradSync<B, E>);

impl<B: Backend, E: Float, M: Module<B, E>> SyncModel<M> for Bridge<'_, B, E> {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn broadcast_parameters(&mut self, model: &mut M) -> Result<(), TrainError> {
        self.0.broadcast_parameters(model)
    }
    fn sync_gradients(&mut self, model: &mut M) -> Result<(), TrainError> {
        self.0.sync_gradients(model)
    }
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), TrainError> {
        self.0.all_reduce_sum_f64(values)
    }
    fn train_sampler(&self, seed: Option<u64>, drop_last: bool) -> Arc<dyn Sampler> {
        self.0.train_sampler(seed, drop_last)
    }
    fn eval_sampler(&self) -> Arc<dyn Sampler> {
        self.0.eval_sampler()
    }
}
