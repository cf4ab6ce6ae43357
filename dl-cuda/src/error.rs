//! [`CudaError`], the error type of dl-cuda.

use cudarc::cublas::result::CublasError;
use cudarc::driver::DriverError;
use cudarc::nvrtc::CompileError;

/// Errors of the CUDA runtime.
///
/// A missing driver or device is [`CudaError::NoDriver`] /
/// [`CudaError::NoDevice`]; never a panic.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CudaError {
    /// The CUDA driver library (`libcuda.so`) could not be loaded.
    #[error("no CUDA driver: {0}")]
    NoDriver(String),
    /// The driver loaded but there is no device with the requested ordinal.
    #[error("no CUDA device {ordinal} ({count} device(s) present)")]
    NoDevice {
        /// The requested ordinal.
        ordinal: usize,
        /// Devices the driver reports.
        count: usize,
    },
    /// A library other than the driver (NVRTC, cuBLAS) could not be loaded.
    #[error("CUDA library {lib} not found (searched the names cudarc knows; set LD_LIBRARY_PATH to its folder)")]
    MissingLibrary {
        /// Library name, such as `nvrtc`.
        lib: &'static str,
    },
    /// A CUDA driver API call failed.
    #[error("CUDA driver error {name}: {msg}")]
    Driver {
        /// The `CUresult` name, such as `CUDA_ERROR_OUT_OF_MEMORY`.
        name: String,
        /// The driver's description.
        msg: String,
    },
    /// NVRTC failed to compile a kernel module; `log` is the compiler's log.
    #[error("NVRTC failed to compile module `{module}`: {msg}\n{log}")]
    Compile {
        /// The module name.
        module: String,
        /// The NVRTC error.
        msg: String,
        /// The compiler log (may be empty).
        log: String,
    },
    /// The device has too little free memory for an allocation (after the
    /// caching allocator returned its cached blocks to the driver).
    #[error("out of GPU memory: an allocation of {bytes} bytes failed with {free} of {total} bytes free (a smaller batch size needs less)")]
    OutOfMemory {
        /// Bytes requested (rounded up to the allocator's size class).
        bytes: usize,
        /// Free device memory reported by the driver at the failure.
        free: usize,
        /// Total device memory.
        total: usize,
    },
    /// A cuBLAS call failed.
    #[error("cuBLAS error: {0:?}")]
    Cublas(CublasError),
    /// A kernel function is missing from a compiled module.
    #[error("kernel `{func}` not found in module `{module}`")]
    MissingKernel {
        /// The module name.
        module: String,
        /// The function name.
        func: String,
    },
    /// An argument exceeds what a CUDA API accepts (such as a dimension above `i32::MAX`).
    #[error("invalid argument to {op}: {msg}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
}

impl From<DriverError> for CudaError {
    fn from(e: DriverError) -> Self {
        let name = e
            .error_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("{:?}", e.0));
        let msg = e
            .error_string()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        CudaError::Driver { name, msg }
    }
}

impl From<CublasError> for CudaError {
    fn from(e: CublasError) -> Self {
        CudaError::Cublas(e)
    }
}

impl CudaError {
    /// Converts an NVRTC compile error of module `module`, keeping its log.
    pub fn from_compile(module: &str, e: CompileError) -> Self {
        match e {
            CompileError::CompileError { nvrtc, options, log } => CudaError::Compile {
                module: module.to_string(),
                msg: format!("{nvrtc:?} (options {options:?})"),
                log: log.to_string_lossy().into_owned(),
            },
            other => CudaError::Compile {
                module: module.to_string(),
                msg: format!("{other:?}"),
                log: String::new(),
            },
        }
    }
}

/// `Result` with [`CudaError`].
pub type Result<T, E = CudaError> = std::result::Result<T, E>;

/// `Debug` is the message (what `fn main() -> Result<..>` prints).
impl std::fmt::Debug for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
