//! CUDA kernels of [`super::Log`]: `log_f` and `log_df` in `log.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `log_fwd` / `log_bwd` of the module `log`.
pub(crate) const LOG: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "log");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "log",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("log.cu")
    ),
};
