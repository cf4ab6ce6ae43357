//! CUDA kernels of [`super::Sigmoid`]: `sigmoid_f` and `sigmoid_df` in `sigmoid.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `sigmoid_fwd` / `sigmoid_bwd` of the module `sigmoid`.
pub(crate) const SIGMOID: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "sigmoid");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "sigmoid",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("sigmoid.cu")
    ),
};
