//! Model compression by pruning: unstructured magnitude pruning with masks
//! that every optimizer respects, a sparsity schedule, a sparse checkpoint
//! format, and structured channel pruning into a smaller `#[network]`.
//!
//! ## Unstructured (magnitude) pruning
//!
//! * [`magnitude_prune`] zeroes the smallest weights by absolute value,
//!   either with one threshold over every selected tensor
//!   ([`Scope::Global`], PyTorch's `prune.global_unstructured`) or each
//!   tensor to the same sparsity ([`Scope::PerLayer`], `prune.l1_unstructured`
//!   per module). Which tensors: a [`Selection`], by default every trainable
//!   tensor of rank >= 2 (Linear and Conv2d weights; biases and norms are
//!   left dense). It returns the [`PruningMasks`].
//! * The masks keep pruned weights at exactly zero through training:
//!   [`PruningMasks::mask_grads`] after `backward`, then `opt.step`, then
//!   [`PruningMasks::mask_weights`]; [`PruningMasks::zero_optimizer_state`]
//!   clears the momentum / moment estimates at the pruned positions (so
//!   Adam's moments from before pruning do not move a pruned weight).
//! * [`Pruned`] does all of that in one object: an [`Optimizer`](crate::Optimizer)
//!   that wraps any optimizer, prunes on a [`SparsitySchedule`]
//!   ([`PolynomialDecay`] as in TF-MOT, or [`ConstantSparsity`]) and masks
//!   every step. It goes wherever an optimizer goes: a hand-written loop
//!   (`opt.step(&mut model)`) or `fit` (`FitConfig::new(Pruned::new(..), loss)`).
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::prelude::*;
//! use dl_nn::prune::{magnitude_prune, Scope, Selection};
//! let mut fc = Linear::<8, 4>::init(&Cpu, 0);
//! let mut masks = magnitude_prune(&mut fc, &Selection::weights(), 0.75, Scope::Global).unwrap();
//! assert_eq!(masks.sparsity(), 0.75);
//! let mut opt = Adam::default();
//! fc.weight.grad = vec![1.0; 32];
//! masks.mask_grads(&mut fc); // after backward
//! opt.step(&mut fc);
//! masks.mask_weights(&mut fc); // after the step
//! assert_eq!(fc.weight.value_vec().iter().filter(|w| **w == 0.0).count(), 24);
//! ```
//!
//! ## Sparse checkpoints
//!
//! [`save_sparse`] writes a safetensors file in which each masked tensor is
//! a bitmask of its kept positions plus the kept values (every other tensor
//! is stored densely, as [`checkpoint::save`](crate::checkpoint::save)
//! does); at 90% sparsity it is about 7x smaller than the dense file.
//! [`load_sparse`] restores the exact values and returns the masks. Bad
//! files are [`CheckpointError`](crate::checkpoint::CheckpointError)s.
//!
//! ## Structured channel pruning
//!
//! [`prune_channels`] ranks the output channels of Conv2d / Linear layers
//! by the L1 norm of their weights, keeps the strongest and copies them,
//! with the matching input channels of the next layer (and the channels of
//! a BatchNorm between them), into a smaller network that the user
//! declares with `#[network]`: its shapes stay checked at compile time.
//! Fine-tune it afterwards. See `docs/pruning.md` and `examples/prune.rs`.

mod channel;
mod mask;
mod optimizer;
mod schedule;
mod sparse;
#[cfg(test)]
mod tests;

pub use channel::{channel_l1_norms, prune_channels, ChannelPair, ChannelReport};
pub use mask::{magnitude_prune, measured_sparsity, PruningMasks, Scope, Selection};
pub use optimizer::Pruned;
pub use schedule::{ConstantSparsity, PolynomialDecay, SparsitySchedule};
pub use sparse::{load_sparse, load_sparse_from_bytes, save_sparse, sparse_to_bytes};

dl_core::debug_as_display!(PruneError);

/// Errors of pruning.
#[derive(Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// A sparsity outside `[0, 1]`, or a schedule or setting out of range.
    #[error("invalid pruning configuration: {0}")]
    InvalidConfig(String),
    /// A parameter named in a [`Selection`] or a [`ChannelPair`] that the
    /// model does not have.
    #[error("the model has no parameter `{name}`")]
    UnknownParam {
        /// The name asked for.
        name: String,
    },
    /// A parameter that cannot be pruned as asked (a buffer, a tensor of
    /// rank 0, a channel layer without a weight of rank >= 2).
    #[error("parameter `{name}` cannot be pruned: {reason}")]
    NotPrunable {
        /// The parameter.
        name: String,
        /// Why.
        reason: String,
    },
    /// The optimizer rejected the state with the pruned positions zeroed.
    #[error("optimizer state: {0}")]
    OptimizerState(String),
    /// Masks built for another model (names or shapes differ).
    #[error("the pruning masks do not fit the model: {0}")]
    MasksMismatch(String),
    /// Source and destination networks of [`prune_channels`] have different
    /// parameter names.
    #[error("source and destination networks differ: {}", describe_names(.missing_in_destination, .missing_in_source))]
    NamesDiffer {
        /// Source parameters the destination lacks.
        missing_in_destination: Vec<String>,
        /// Destination parameters the source lacks.
        missing_in_source: Vec<String>,
    },
    /// A destination tensor of [`prune_channels`] whose shape is not the
    /// source's with the kept channels.
    #[error("parameter `{name}`: the destination has shape {found:?}, the pruned source gives {expected:?}{}", if .reason.is_empty() { String::new() } else { format!(" ({})", .reason) })]
    ShapeMismatch {
        /// The parameter.
        name: String,
        /// The shape the channel plan gives.
        expected: Vec<usize>,
        /// The destination's shape.
        found: Vec<usize>,
        /// What the plan did to the shape (empty when nothing).
        reason: String,
    },
}

fn describe_names(dst: &[String], src: &[String]) -> String {
    let mut parts = Vec::new();
    if !dst.is_empty() {
        parts.push(format!("the destination lacks {}", dst.join(", ")));
    }
    if !src.is_empty() {
        parts.push(format!("the source lacks {}", src.join(", ")));
    }
    parts.join("; ")
}
