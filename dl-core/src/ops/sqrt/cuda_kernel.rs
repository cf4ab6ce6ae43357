//! CUDA kernels of [`super::Sqrt`]: `sqrt_f` and `sqrt_df` in `sqrt.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `sqrt_fwd` / `sqrt_bwd` of the module `sqrt`.
pub(crate) const SQRT: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "sqrt");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "sqrt",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("sqrt.cu")
    ),
};
