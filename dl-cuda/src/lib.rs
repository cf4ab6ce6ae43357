//! # dl-cuda: the CUDA runtime of `dl`, on cudarc
//!
//! The pieces dl-core's CUDA backend (feature `cuda`) builds on, with no
//! dependency on dl-core:
//!
//! 1. [`probe`] / [`is_available`]: whether a driver, a device, NVRTC and
//!    cuBLAS are there, without panicking (cudarc panics when a library it
//!    calls cannot be loaded, so every entry point probes first).
//! 2. [`CudaDevice::new`]: the primary context, one stream that all work
//!    runs on, a cuBLAS handle on that stream, a caching allocator.
//! 3. [`CudaBuf`]: a flat device buffer whose block comes from the caching
//!    allocator ([`alloc`]) and goes back to it on drop, so steady-state
//!    training steps do not call `cuMemAlloc`.
//! 4. [`CudaDevice::function`]: kernels compiled from CUDA C with NVRTC once
//!    per process per module, for the device's compute capability, and
//!    loaded once per device.
//! 5. [`blas::gemm`]: row-major strided-batched GEMM with all transposes.
//!
//! Libraries are loaded at run time (cudarc `dynamic-loading`), so the crate
//! builds, and its tests run, on machines without CUDA. The bindings are
//! cudarc's CUDA 13.0 ones, whose library search covers both the `.so.13`
//! and `.so.12` names of NVRTC and cuBLAS; the driver API used is the same
//! on CUDA 12 and 13 drivers.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod alloc;
pub mod blas;
mod buf;
mod device;
mod error;

pub use buf::{CachingAllocator, CudaBuf, Elem, FloatElem};
pub use cudarc;
pub use device::{compile_ptx, cublas_present, driver_present, is_available, nvrtc_present, probe, CudaDevice};
pub use error::{CudaError, Result};
