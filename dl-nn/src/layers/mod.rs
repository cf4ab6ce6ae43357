//! Layers: one file each. Every layer is a field type of `#[network]`.
//!
//! Each layer file has two parts: shape-agnostic functions on flat buffers
//! with runtime dimensions (the golden-vector runner calls these), and the
//! typed layer struct whose `Layer` impl calls them.

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod dropout;
pub mod embedding;
pub mod layernorm;
pub mod linear;
pub mod residual;
pub mod seq_mean;
#[cfg(test)]
pub(crate) mod test_util;

pub use activation::{GELUTanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use attention::{LocalAttention, MultiHeadAttention};
pub use batchnorm::{BatchNorm1d, BatchNorm2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use residual::{Residual, ResidualProj};
pub use seq_mean::SeqMean;
