//! Primitive ops, one folder each.
//!
//! Each folder holds `mod.rs` (the public functions, their docs and tests)
//! and `cpu_kernel.rs` (the CPU math); a CUDA backend puts `cuda_kernel.rs`
//! and its `.cu` beside them. Element-wise ops only supply `f` and `df`
//! through [`util::UnaryOp`]; the shared plumbing lives in [`util`].
//!
//! All kernels take runtime dimensions: one compiled copy serves every shape.

pub mod bias;
pub mod matmul;
pub mod relu;
pub mod util;

pub use relu::{relu, relu_backward, Relu};
