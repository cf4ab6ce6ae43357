//! CUDA kernels of [`super::Exp`]: `exp_f` and `exp_df` in `exp.cu`,
//! instantiated by `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda`
//! launches them.

use crate::ops::util::UnaryCudaKernel;

/// `exp_fwd` / `exp_bwd` of the module `exp`.
pub(crate) const EXP: UnaryCudaKernel = UnaryCudaKernel::device("exp", SRC, "exp");

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("exp.cu")
);
