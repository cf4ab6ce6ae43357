//! CUDA kernels of [`super::LeakyRelu`]: `leaky_relu_f` and `leaky_relu_df` in `leaky_relu.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::ops::util::UnaryCudaKernel;

/// `leaky_relu_fwd` / `leaky_relu_bwd` of the module `leaky_relu`.
pub(crate) const LEAKY_RELU: UnaryCudaKernel = UnaryCudaKernel::device("leaky_relu", SRC, "leaky_relu");

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("leaky_relu.cu")
);
