//! CUDA kernels of [`super::Gelu`] and [`super::GeluTanh`]: `gelu_f`,
//! `gelu_df`, `gelu_tanh_f` and `gelu_tanh_df` in `gelu.cu`, instantiated
//! by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda` launches them.

use crate::cuda::CudaModule;
use crate::ops::util::UnaryCudaKernel;

/// `gelu_fwd` / `gelu_bwd` of the module `gelu`.
pub(crate) const GELU: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "gelu");
/// `gelu_tanh_fwd` / `gelu_tanh_bwd` of the module `gelu`.
pub(crate) const GELU_TANH: UnaryCudaKernel = UnaryCudaKernel::device(MODULE, "gelu_tanh");

/// The module: common header, unary macros, this op's device functions.
const MODULE: CudaModule = CudaModule {
    name: "gelu",
    src: concat!(
        include_str!("../util/common.cuh"),
        include_str!("../util/unary.cuh"),
        include_str!("gelu.cu")
    ),
};
