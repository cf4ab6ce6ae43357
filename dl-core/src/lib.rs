//! # dl-core: tensors with compile-time shapes, backends and primitive ops
//!
//! The foundation of the `dl` framework. A [`Tensor`] carries its per-sample
//! shape as a type ([`S1`], [`S2`], [`S3`], [`S4`] of const generics) and its
//! batch size as a runtime `usize`; a [`Param`] is fully static. Storage and
//! kernels belong to a [`Backend`]: [`Cpu`] (rayon + this crate's own packed GEMM) here,
//! CUDA behind the `cuda` feature.
//!
//! Kernels take runtime dimensions, so they are compiled once rather than
//! once per shape; the const generics live only in the thin typed layer.
//!
//! | dl | PyTorch |
//! |---|---|
//! | `Tensor::<S3<1, 28, 28>>::zeros(&Cpu, 64)` | `torch.zeros(64, 1, 28, 28)` |
//! | `ops::relu(&x)` | `torch.relu(x)` |
//! | `ops::matmul(..)` / [`GemmKernel::gemm`] | `a @ b` |
//!
//! ```
//! use dl_core::prelude::*;
//! let x = Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![-1.0, 0.0, 1.0, 2.0, -2.0, 3.0]).unwrap();
//! let y = dl_core::ops::relu(&x);
//! assert_eq!(y.to_vec(), vec![0.0, 0.0, 1.0, 2.0, 0.0, 3.0]);
//! ```
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod amp;
pub mod backend;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dtype;
pub mod error;
pub mod fault;
pub mod gradcheck;
pub mod init;
pub mod ops;
pub mod param;
pub mod rng;
pub mod shape;
pub mod tensor;

pub use backend::{Backend, Storage};
pub use cpu::Cpu;
#[cfg(feature = "cuda")]
pub use cuda::Cuda;
pub use dtype::{DType, Float};
pub use error::{Error, Result};
pub use ops::matmul::{GemmKernel, GemmWorkspace, Transpose};
pub use param::{Param, ParamKind, RawParam};
pub use rng::Rng;
pub use shape::{Shape, S1, S2, S3, S4};
pub use tensor::Tensor;

/// The items most programs need.
pub mod prelude {
    pub use crate::{
        Backend, Cpu, DType, Error, Float, GemmWorkspace, Param, ParamKind, RawParam, Result, Rng, Shape, Storage,
        Tensor, S1, S2, S3, S4,
    };
}
