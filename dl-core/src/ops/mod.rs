//! Primitive ops, one folder each.
//!
//! Each folder holds `mod.rs` (the public functions, their docs and tests)
//! and `cpu_kernel.rs` (the CPU math); a CUDA backend puts `cuda_kernel.rs`
//! and its `.cu` beside them. Element-wise ops only supply `f` and `df`
//! through [`util::UnaryOp`] (and, in `cuda_kernel.rs`, the handle of their
//! CUDA kernels that `UnaryOp::CUDA` names); their typed functions come
//! from `util::unary_fns!`, and the shared plumbing lives in [`util`].
//!
//! All kernels take runtime dimensions: one compiled copy serves every shape.

pub mod attention;
pub mod axpy;
pub mod batchnorm;
pub mod bias;
pub mod binary;
pub mod conv1d;
pub mod conv2d;
pub mod dropout;
pub mod embedding;
pub mod exp;
pub mod gelu;
pub mod layernorm;
pub mod leaky_relu;
pub mod log;
pub mod loss;
pub mod matmul;
#[doc(hidden)]
pub mod mono;
pub mod optim;
pub mod pool1d;
pub mod pool2d;
pub mod powf;
pub mod qgemm;
pub mod reduce;
pub mod relu;
pub mod rnn;
pub mod sigmoid;
pub mod softmax;
pub mod sqrt;
pub mod tanh;
pub mod util;

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod unary_tests;

pub use binary::{add, div, mul, sub, BinaryOp};
pub use exp::{exp, exp_backward, Exp};
pub use gelu::{gelu, gelu_backward, gelu_tanh, gelu_tanh_backward, Gelu, GeluTanh};
pub use leaky_relu::{leaky_relu, leaky_relu_backward, LeakyRelu};
pub use log::{log, log_backward, Log};
pub use powf::{powf, powf_backward, Powf};
pub use reduce::{Reduce, ReduceDims};
pub use relu::{relu, relu_backward, Relu};
pub use sigmoid::{sigmoid, sigmoid_backward, Sigmoid};
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};
pub use sqrt::{sqrt, sqrt_backward, Sqrt};
pub use tanh::{tanh, tanh_backward, Tanh};
