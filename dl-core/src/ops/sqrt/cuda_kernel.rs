//! CUDA source of `sqrt`: `f` and `df` in `sqrt.cu`, instantiated by
//! `ops/util/unary.cuh`; the shared `UnaryKernel for Cuda` launches them.

/// The module source: common header, unary macros, this op's device functions.
pub(crate) const SRC: &str = concat!(
    include_str!("../util/common.cuh"),
    include_str!("../util/unary.cuh"),
    include_str!("sqrt.cu")
);
