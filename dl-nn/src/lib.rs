//! # dl-nn: layers, losses, optimizers and training
//!
//! Every layer implements [`Module`] (parameters, initialisation, mode) and
//! [`Layer`] (typed forward and backward for one input shape). The
//! `#[network]` macro composes layers by calling exactly these traits, so a
//! hand-written layer is as good as a built-in one.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// Builder methods that set one field each: `name: T` becomes
/// `pub fn name(mut self, value: T) -> Self` setting the field `name`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $t:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $t) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

pub mod checkpoint;
pub mod data;
pub mod export;
/// The golden-vector runner (test support, not API): feature `golden`,
/// which the workspace's tests and the `golden` example turn on.
#[cfg(any(test, feature = "golden"))]
#[doc(hidden)]
pub mod golden;
pub mod gradcheck;
pub mod layers;
pub mod loss;
pub mod module;
pub mod optim;
pub mod prune;
pub mod quant;
pub mod regularize;
pub mod summary;
pub mod train;

#[cfg(test)]
mod reliability_tests;

pub use gradcheck::check_layer_gradients;
pub use loss::Loss;
pub use module::{InputError, Layer, Module, Network, OutputShape};
pub use optim::Optimizer;

/// The paths `#[derive(Module)]` generates code against (not public API).
#[doc(hidden)]
pub mod __derive {
    pub use crate::module::Module;
    pub use dl_core::init::Init;
    pub use dl_core::{ParamKind, RawParam, Rng};
}

/// The items most programs need.
pub mod prelude {
    pub use crate::data::{load_digits, load_mnist, DataLoader, Dataset, InMemoryDataset, Split, TensorDataset};
    pub use crate::layers::*;
    pub use crate::loss::*;
    pub use crate::module::{Layer, Module, Network, OutputShape};
    pub use crate::optim::{
        clip_grad_norm, Adagrad, Adam, AdamW, CosineAnnealing, LinearWarmup, Optimizer, RmsProp, Schedule, Sgd, StepLr,
    };
    pub use crate::regularize::{L1Penalty, L2Penalty, Regularizer};
    pub use crate::train::{
        EarlyStopping, Fit, FitConfig, History, LrScheduler, Metric, ModelCheckpoint, Monitor, NonFinite,
    };
}
