//! The error type of dl-core.

/// Implements `Debug` as the `Display` message for error types, so that
/// `fn main() -> Result<(), Box<dyn Error>>` (which prints `Error: {e:?}`)
/// shows the message a user can act on, not a struct dump.
#[macro_export]
macro_rules! debug_as_display {
    ($($t:ty),* $(,)?) => {
        $(impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
        })*
    };
}

crate::debug_as_display!(Error);

/// Errors of dl-core. Every variant names what went wrong with enough context
/// (shapes, lengths, names) to fix it without a debugger.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length does not match the shape it was meant to fill.
    #[error("length mismatch: shape {shape:?} with batch {batch} needs {expected} elements, got {got}")]
    LengthMismatch {
        /// Per-sample shape.
        shape: Vec<usize>,
        /// Batch size.
        batch: usize,
        /// Elements the shape needs.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// Two runtime shapes that must agree do not.
    #[error("shape mismatch in {op}: {lhs:?} vs {rhs:?}")]
    ShapeMismatch {
        /// The operation that detected it.
        op: &'static str,
        /// First shape.
        lhs: Vec<usize>,
        /// Second shape.
        rhs: Vec<usize>,
    },
    /// An argument is out of its valid range.
    #[error("invalid argument to {op}: {msg}")]
    InvalidArgument {
        /// The operation that rejected it.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The element type of stored data is not the one requested.
    #[error("dtype mismatch: expected {expected}, found {found}")]
    DTypeMismatch {
        /// Wanted dtype.
        expected: String,
        /// Dtype present.
        found: String,
    },
    /// A backend (device) failure, such as a CUDA driver error.
    #[error("backend error on {device}: {msg}")]
    Backend {
        /// Device name.
        device: String,
        /// Message from the backend.
        msg: String,
    },
    /// A CUDA runtime error: no driver, no device, a compile or driver failure.
    #[cfg(feature = "cuda")]
    #[error("CUDA: {0}")]
    Cuda(#[from] dl_cuda::CudaError),
    /// The crate was built without CUDA support.
    #[error("dl was built without the `cuda` feature")]
    NotCompiledWithCuda,
    /// An I/O error, with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A malformed file, with the path and the problem.
    #[error("{path}: {msg}")]
    BadFile {
        /// The file concerned.
        path: String,
        /// What is wrong with it.
        msg: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
