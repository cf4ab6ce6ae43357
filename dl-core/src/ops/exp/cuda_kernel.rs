//! CUDA kernels of [`super::Exp`]: `exp_f` and `exp_df` in `exp.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `exp_fwd` / `exp_bwd` of the module `exp`.
pub(crate) const EXP: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "exp");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "exp",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("exp.cu")
    ),
};
