//! Layers: one file each. Every layer is a field type of `#[network]`.
//!
//! Each layer file has two parts: shape-agnostic functions on flat buffers
//! with runtime dimensions (the golden-vector runner calls these), and the
//! typed layer struct whose `Layer` impl calls them.

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod dropout;
pub mod embedding;
pub mod flatten;
pub mod layernorm;
pub mod linear;
pub mod pool;
pub mod pool1d;
pub mod residual;
pub mod rnn;
pub mod seq_mean;
#[cfg(test)]
pub(crate) mod test_util;

/// Marks dl's built-in layers. `#[network]` computes the shapes of a field
/// whose type is named like a built-in layer (`Linear`, `Conv2d`, ...) by
/// that layer's rules, and checks with this trait that the type *is* the
/// built-in one (a user's own `Linear` is a compile error, not a silent
/// misreading). Implemented by `#[derive(Module)]` with `#[module(builtin)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not dl's built-in layer of that name",
    label = "#[network] reads this field as a built-in layer and computes its shapes by the built-in's rules",
    note = "rename your own layer type (a name that is not one of dl's layers is typed through `OutputShape`)"
)]
pub trait BuiltinLayer {}

pub use activation::{GELUTanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use attention::{LocalAttention, MultiHeadAttention};
pub use batchnorm::{BatchNorm1d, BatchNorm2d};
pub use conv1d::Conv1d;
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use pool1d::{AvgPool1d, GlobalAvgPool1d, MaxPool1d};
pub use residual::{Residual, ResidualProj};
pub use rnn::{LastStep, LastStepCache, GRU, LSTM};
pub use seq_mean::SeqMean;
