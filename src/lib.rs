//! # dl: a deep-learning framework whose networks are checked at compile time
//!
//! This facade re-exports the workspace's crates: [`dl_core`] (tensors,
//! backends, ops), [`dl_nn`] (layers, losses, optimizers, training) and the
//! [`network`] attribute macro. Most programs start with
//! `use dl::prelude::*;`.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod cli;

pub use dl_core as core;
pub use dl_macros::network;
pub use dl_nn as nn;
/// The inference server (feature `serve`, on by default): see [`dl_serve`].
#[cfg(feature = "serve")]
pub use dl_serve as serve;

/// Everything a training program needs.
pub mod prelude {
    pub use dl_core::prelude::*;
    pub use dl_macros::network;
    pub use dl_nn::prelude::*;
}
