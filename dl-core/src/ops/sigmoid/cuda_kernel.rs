//! CUDA kernels of [`super::Sigmoid`]: `sigmoid_f` and `sigmoid_df` in `sigmoid.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::ops::util::UnaryCudaKernel;

/// `sigmoid_fwd` / `sigmoid_bwd` of the module `sigmoid`.
pub(crate) const SIGMOID: UnaryCudaKernel = UnaryCudaKernel::device("sigmoid", SRC, "sigmoid");

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("sigmoid.cu")
);
