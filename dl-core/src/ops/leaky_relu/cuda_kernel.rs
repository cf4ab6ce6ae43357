//! CUDA kernels of [`super::LeakyRelu`]: `leaky_relu_f` and `leaky_relu_df` in `leaky_relu.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `leaky_relu_fwd` / `leaky_relu_bwd` of the module `leaky_relu`.
pub(crate) const LEAKY_RELU: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "leaky_relu");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "leaky_relu",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("leaky_relu.cu")
    ),
};
