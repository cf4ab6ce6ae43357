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

/// Name of the environment variable that turns every "skipped: no GPU"
/// of the CUDA test suites into a failure (`DL_REQUIRE_GPU=1`), so a run
/// on a GPU machine cannot pass by skipping (`scripts/gpu_check.sh` sets it).
pub const REQUIRE_GPU_VAR: &str = "DL_REQUIRE_GPU";

/// Whether [`REQUIRE_GPU_VAR`] is set to `1` (or `true`).
pub fn gpu_required() -> bool {
    env_flag(REQUIRE_GPU_VAR)
}

/// Whether the environment variable `name` is `1` or `true`.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Set to `1` to make the tests that need only NVRTC (compiling every CUDA
/// module to PTX, no GPU) fail rather than skip when NVRTC cannot be
/// loaded: CI sets it after `scripts/install-nvrtc.sh`, so every `.cu`
/// file is compiled on every CI run, GPU or not.
pub const REQUIRE_NVRTC_VAR: &str = "DL_REQUIRE_NVRTC";

/// For tests that need NVRTC only: prints `skipped: <reason>` and returns,
/// or, when [`REQUIRE_NVRTC_VAR`] or [`REQUIRE_GPU_VAR`] is `1`, panics
/// with the reason so the test fails.
///
/// # Panics
/// When `DL_REQUIRE_NVRTC=1` or `DL_REQUIRE_GPU=1`.
#[track_caller]
pub fn skip_nvrtc_test(reason: &str) {
    if env_flag(REQUIRE_NVRTC_VAR) {
        panic!("{REQUIRE_NVRTC_VAR}=1, but NVRTC is needed: {reason}");
    }
    skip_test(reason);
}

/// For tests that need a GPU (or NVRTC): prints `skipped: <reason>` and
/// returns, or, when [`gpu_required`], panics with the reason so the test
/// fails.
///
/// ```
/// // In a test: `let Ok(dev) = CudaDevice::new(0) else { return dl_cuda::skip_test("no GPU") };`
/// if !dl_cuda::gpu_required() {
///     dl_cuda::skip_test("no CUDA driver/GPU (doc example)");
/// }
/// ```
///
/// # Panics
/// When `DL_REQUIRE_GPU=1`.
#[track_caller]
pub fn skip_test(reason: &str) {
    if gpu_required() {
        panic!("{REQUIRE_GPU_VAR}=1, but the test cannot run: {reason}");
    }
    println!("skipped: {reason}");
}
