//! CUDA kernels of [`super::Powf`]: `powf_f` and `powf_df` in `powf.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `powf_fwd` / `powf_bwd` of the module `powf`.
pub(crate) const POWF: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "powf");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "powf",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("powf.cu")
    ),
};
