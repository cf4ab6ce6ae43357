//! Layers: one file each. Every layer is a field type of `#[network]`.
//!
//! Each layer file has two parts: shape-agnostic functions on flat buffers
//! with runtime dimensions (the golden-vector runner calls these), and the
//! typed layer struct whose `Layer` impl calls them.

pub mod activation;
pub mod batchnorm;
pub mod conv2d;
pub mod dropout;
pub mod embedding;
pub mod flatten;
pub mod layernorm;
pub mod linear;
pub mod pool;
pub mod seq_mean;
#[cfg(test)]
pub(crate) mod test_util;

pub use activation::{GELUTanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use batchnorm::{BatchNorm1d, BatchNorm2d};
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use seq_mean::SeqMean;
