//! CUDA runtime for dl (device, stream, allocator, cuBLAS, kernel cache).
//! Not implemented yet.
#![warn(missing_docs)]
