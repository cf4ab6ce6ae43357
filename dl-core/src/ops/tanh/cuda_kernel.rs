//! CUDA kernels of [`super::Tanh`]: `tanh_f` and `tanh_df` in `tanh.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::ops::util::UnaryCudaKernel;

/// `tanh_fwd` / `tanh_bwd` of the module `tanh`.
pub(crate) const TANH: UnaryCudaKernel = UnaryCudaKernel::device("tanh", SRC, "tanh");

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("tanh.cu")
);
