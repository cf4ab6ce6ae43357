//! CUDA kernels of [`super::Powf`]: `powf_f` and `powf_df` in `powf.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::ops::util::UnaryCudaKernel;

/// `powf_fwd` / `powf_bwd` of the module `powf`.
pub(crate) const POWF: UnaryCudaKernel = UnaryCudaKernel::device("powf", SRC, "powf");

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("powf.cu")
);
