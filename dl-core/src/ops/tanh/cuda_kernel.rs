//! CUDA kernels of [`super::Tanh`]: `tanh_f` and `tanh_df` in `tanh.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `tanh_fwd` / `tanh_bwd` of the module `tanh`.
pub(crate) const TANH: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "tanh");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "tanh",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("tanh.cu")
    ),
};
