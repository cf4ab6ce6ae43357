//! # dl: a deep-learning framework whose networks are checked at compile time
//!
//! This facade re-exports the workspace's crates: [`dl_core`] (tensors,
//! backends, ops), [`dl_nn`] (layers, losses, optimizers, training) and the
//! [`network`] attribute macro. Most programs start with
//! `use dl::prelude::*;`.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

// `#[network]` expands to `::dl::...` paths; inside this crate too.
extern crate self as dl;

pub mod example_network;
#[cfg(feature = "onnx")]
pub mod onnx;

pub use dl_core as core;
pub use dl_dist as dist;

/// Any error of the framework (or of the program), for
/// `fn main() -> dl::Result<()>`: `?` converts every error type, and
/// `main` then prints the message and its causes, not a struct dump.
///
/// ```
/// fn run() -> dl::Result<()> {
///     let _ = dl::nn::data::load_mnist(std::path::Path::new("/nonexistent"), dl::nn::data::Split::Train)?;
///     Ok(())
/// }
/// let e = run().unwrap_err();
/// // What `main` would print after `Error: `:
/// assert!(format!("{e:?}").contains("/nonexistent"), "{e:?}");
/// ```
pub struct Error(Box<dyn std::error::Error + Send + Sync + 'static>);

/// `Result` with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        Error(Box::new(e))
    }
}

impl Error {
    /// The underlying error, to downcast (`e.inner().downcast_ref::<TrainError>()`).
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// The message, then each cause on its own line (what `main` prints).
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            let text = s.to_string();
            // `#[error(transparent)]` wrappers repeat their source's message.
            if !self.0.to_string().ends_with(&text) {
                write!(f, "\n  caused by: {text}")?;
            }
            source = s.source();
        }
        Ok(())
    }
}
pub use dl_macros::network;
pub use dl_nn as nn;
/// Pruning: magnitude masks that optimizers respect, sparsity schedules,
/// sparse checkpoints, channel pruning (see `docs/pruning.md`).
pub use dl_nn::prune;
/// The inference server (feature `serve`, on by default): see [`dl_serve`].
#[cfg(feature = "serve")]
pub use dl_serve as serve;

/// Everything a training program needs.
pub mod prelude {
    pub use dl_core::prelude::*;
    pub use dl_macros::network;
    pub use dl_nn::prelude::*;
}
