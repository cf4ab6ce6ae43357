//! CUDA kernels of [`super::Relu`]: `relu_f` and `relu_df` in `relu.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `relu_fwd` / `relu_bwd` of the module `relu`.
pub(crate) const RELU: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "relu");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "relu",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("relu.cu")
    ),
};
