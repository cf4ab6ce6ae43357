//! The CUDA backend (feature `cuda`): [`Cuda`] implements [`Storage`] and
//! the kernel traits of the op folders, each op's kernels in its folder
//! (`cuda_kernel.rs` and its `.cu`, compiled once per process with NVRTC).
//!
//! ```no_run
//! use dl_core::prelude::*;
//! use dl_core::Cuda;
//! let dev = Cuda::new(0)?; // Err, not a panic, without a driver or GPU
//! let x = Tensor::<S1<3>, Cuda>::from_vec(&dev, 1, vec![-1.0, 0.0, 2.0])?;
//! assert_eq!(dl_core::ops::relu(&x).to_vec(), vec![0.0, 0.0, 2.0]);
//! # Ok::<(), dl_core::Error>(())
//! ```
//!
//! Buffers ([`dl_cuda::CudaBuf`]) come from the device's caching allocator;
//! all work is queued on one stream; data moves between host and device
//! only through [`Storage::from_slice`], [`Storage::write`],
//! [`Storage::to_vec`] (and the index twins), which the user calls.
//!
//! # Errors and panics
//! Opening a device ([`Cuda::new`], [`Device::parse`]) returns a typed
//! error. The [`Storage`] and kernel traits are infallible (they are the
//! CPU's too), so a CUDA failure after that (out of device memory, a failed
//! launch) unwinds with a device-fault message (the allocation size and
//! the free memory for [`CudaError::OutOfMemory`]), which `fit`, `evaluate`
//! and `predict` turn into a typed error ([`crate::fault`]); a
//! hand-written loop can wrap its step in
//! [`crate::fault::catch_device_fault`].

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use dl_cuda::cudarc::driver::{CudaFunction, CudaStream, LaunchConfig, PushKernelArg};
use dl_cuda::{CudaBuf, CudaDevice};
use std::sync::Arc;

pub use dl_cuda::{gpu_required, skip_test, CudaError};

/// Threads per block of dl-core's kernels (`BLOCK` in `common.cuh`).
pub(crate) const BLOCK: u32 = 256;

/// The CUDA device backend. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Cuda {
    dev: Arc<CudaDevice>,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda({:?})", self.dev)
    }
}

impl Cuda {
    /// Opens CUDA device `ordinal`.
    ///
    /// # Errors
    /// [`Error::Cuda`] with [`CudaError::NoDriver`], [`CudaError::NoDevice`],
    /// a missing NVRTC/cuBLAS library, or the driver's error.
    pub fn new(ordinal: usize) -> Result<Self> {
        Ok(Self {
            dev: CudaDevice::new(ordinal)?,
        })
    }

    /// Whether device 0 can be opened (never panics).
    pub fn is_available() -> bool {
        dl_cuda::is_available()
    }

    /// The runtime device.
    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        self.dev.stream()
    }

    /// Kernel `func` of `module` (compiled on first use).
    ///
    /// # Panics
    /// If NVRTC rejects the module or the kernel is missing: the sources are
    /// part of this crate, and a test compiles every one of them.
    pub(crate) fn func(&self, module: &CudaModule, func: &str) -> CudaFunction {
        self.check(self.dev.function(module.name, module.src, func), func)
    }

    /// Kernel `base_<t>` of `module` for the element type `E` (`kname`).
    pub(crate) fn kernel<E: dl_cuda::Elem>(&self, module: &CudaModule, base: &str) -> CudaFunction {
        self.func(module, &kname::<E>(base))
    }

    /// Unwraps a runtime result, panicking with the device and the operation.
    #[track_caller]
    pub(crate) fn check<T>(&self, r: dl_cuda::Result<T>, what: &str) -> T {
        r.unwrap_or_else(|e| {
            panic!(
                "{}{}: CUDA error in {what}: {e}",
                crate::fault::DEVICE_FAULT_PREFIX,
                self.name()
            )
        })
    }

    /// Panics with the launch's error, naming the kernel.
    #[track_caller]
    pub(crate) fn launched<T>(&self, r: std::result::Result<T, dl_cuda::cudarc::driver::DriverError>, what: &str) {
        if let Err(e) = r {
            panic!(
                "{}{}: CUDA launch of {what} failed: {}",
                crate::fault::DEVICE_FAULT_PREFIX,
                self.name(),
                CudaError::from(e)
            );
        }
    }
}

/// A 1-D launch over `n` elements: blocks of [`BLOCK`] threads, at most
/// 65 535 x 16 blocks (kernels use grid-stride loops).
pub(crate) fn cfg_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 65_535 * 16) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block of [`BLOCK`] threads per row, for `rows` rows (row-reduction kernels).
pub(crate) fn cfg_rows(rows: usize) -> LaunchConfig {
    let rows = u32::try_from(rows).expect("row count above u32::MAX");
    LaunchConfig {
        grid_dim: (rows.max(1), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A kernel name with the element-type suffix: `relu_fwd` -> `relu_fwd_f32`.
pub(crate) fn kname<E: dl_cuda::Elem>(base: &str) -> String {
    format!("{base}_{}", E::NAME)
}

/// An NVRTC module of dl-core: its name (for error messages) and its
/// source, written once beside the `.cu` files it includes (each op's
/// `cuda_kernel.rs`). The device caches modules by source, so a module of
/// another crate with the same name cannot collide with one of these;
/// names are unique all the same (a test checks), so errors are clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CudaModule {
    /// The name in error messages.
    pub(crate) name: &'static str,
    /// The CUDA C++ source.
    pub(crate) src: &'static str,
}

/// The `fill` kernels of [`Storage::fill`].
pub(crate) const FILL: CudaModule = CudaModule {
    name: "fill",
    src: concat!(include_str!("ops/util/common.cuh"), include_str!("ops/util/fill.cu")),
};

impl Cuda {
    /// `dst[..n] = v`.
    fn fill_n<T: dl_cuda::Elem>(&self, dst: &mut CudaBuf<T>, v: f64) {
        let n = dst.len();
        if n == 0 {
            return;
        }
        let f = self.kernel::<T>(&FILL, "fill");
        let mut view = dst.view_mut();
        let mut b = self.stream().launch_builder(&f);
        let n64 = n as u64;
        b.arg(&mut view).arg(&n64).arg(&v);
        // SAFETY: fill_<t>(T* dst, u64 n, double v) writes dst[0..n), and
        // `view` holds exactly n elements of T.
        let r = unsafe { b.launch(cfg_1d(n)) };
        self.launched(r, "fill");
    }
}

impl Storage for Cuda {
    type Buf<E: Float> = CudaBuf<E>;
    type Idx = CudaBuf<u32>;

    fn name(&self) -> String {
        format!("cuda:{} ({})", self.dev.ordinal(), self.dev.name())
    }
    fn zeros<E: Float>(&self, len: usize) -> CudaBuf<E> {
        self.check(CudaBuf::zeros(self.dev.allocator(), len), "zeros")
    }
    fn from_slice<E: Float>(&self, data: &[E]) -> CudaBuf<E> {
        self.check(CudaBuf::from_host(self.dev.allocator(), data), "upload")
    }
    fn to_vec<E: Float>(&self, buf: &CudaBuf<E>) -> Vec<E> {
        self.check(buf.to_host(), "download")
    }
    fn write<E: Float>(&self, buf: &mut CudaBuf<E>, data: &[E]) {
        assert_eq!(buf.len(), data.len(), "Storage::write: buffer and data lengths differ");
        self.check(buf.write(data), "upload")
    }
    fn len<E: Float>(&self, buf: &CudaBuf<E>) -> usize {
        buf.len()
    }
    fn resize<E: Float>(&self, buf: &mut CudaBuf<E>, len: usize) {
        self.check(buf.resize(len), "resize")
    }
    fn fill<E: Float>(&self, buf: &mut CudaBuf<E>, v: E) {
        self.fill_n(buf, v.to_f64())
    }
    fn copy<E: Float>(&self, src: &CudaBuf<E>, dst: &mut CudaBuf<E>) {
        self.check(dst.copy_from(src), "copy")
    }
    fn idx_from_slice(&self, data: &[u32]) -> CudaBuf<u32> {
        self.check(CudaBuf::from_host(self.dev.allocator(), data), "upload")
    }
    fn idx_to_vec(&self, idx: &CudaBuf<u32>) -> Vec<u32> {
        self.check(idx.to_host(), "download")
    }
    fn synchronize(&self) {
        self.check(self.dev.synchronize(), "synchronize")
    }
}

/// A device chosen at run time (`--device cpu|cuda|cuda:N|auto`).
#[derive(Clone, Debug)]
pub enum Device {
    /// The CPU backend.
    Cpu(crate::Cpu),
    /// A CUDA device.
    Cuda(Cuda),
}

impl Device {
    /// Parses a device choice: `cpu`, `cuda` (device 0), `cuda:N`, or `auto`
    /// (CUDA device 0 when usable, else the CPU; the returned text says
    /// which and why).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown name; [`Error::Cuda`] when
    /// CUDA was asked for explicitly and cannot be opened.
    pub fn parse(s: &str) -> Result<(Self, String)> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok((Device::Cpu(crate::Cpu), "cpu (requested)".into())),
            "auto" => match Cuda::new(0) {
                Ok(c) => {
                    let why = format!("{} (auto: CUDA usable)", c.name());
                    Ok((Device::Cuda(c), why))
                }
                Err(e) => Ok((Device::Cpu(crate::Cpu), format!("cpu (auto: CUDA not usable: {e})"))),
            },
            _ => {
                let ordinal =
                    match s.strip_prefix("cuda") {
                        Some("") => 0,
                        Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse().ok()).ok_or_else(|| {
                            Error::InvalidArgument {
                                op: "device",
                                msg: format!("`{s}`: expected cpu, cuda, cuda:N or auto"),
                            }
                        })?,
                        None => {
                            return Err(Error::InvalidArgument {
                                op: "device",
                                msg: format!("`{s}`: expected cpu, cuda, cuda:N or auto"),
                            })
                        }
                    };
                let c = Cuda::new(ordinal)?;
                let why = format!("{} (requested)", c.name());
                Ok((Device::Cuda(c), why))
            }
        }
    }
}

pub(crate) mod det;

#[cfg(test)]
mod parity;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_parse_rejects_unknown_names_and_auto_never_fails() {
        assert!(matches!(Device::parse("tpu"), Err(Error::InvalidArgument { .. })));
        assert!(matches!(Device::parse("cuda:x"), Err(Error::InvalidArgument { .. })));
        let (d, why) = Device::parse("auto").unwrap();
        println!("auto -> {why}");
        match d {
            Device::Cpu(_) => assert!(why.contains("not usable")),
            Device::Cuda(_) => assert!(why.contains("cuda:0")),
        }
        if !Cuda::is_available() {
            assert!(matches!(Device::parse("cuda"), Err(Error::Cuda(_))));
        }
    }
}
