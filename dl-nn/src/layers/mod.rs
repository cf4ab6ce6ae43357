//! Layers: one file each. Every layer is a field type of `#[network]`.
//!
//! Each layer file has two parts: shape-agnostic functions on flat buffers
//! with runtime dimensions (the golden-vector runner calls these), and the
//! typed layer struct whose `Layer` impl calls them.

pub mod activation;
pub mod linear;

pub use activation::ReLU;
pub use linear::Linear;
