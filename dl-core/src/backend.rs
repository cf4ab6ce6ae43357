//! The [`Backend`] trait: storage plus every op's kernel trait.
//!
//! A backend owns device memory ([`Storage`]) and implements one kernel trait
//! per op folder (`ops/<op>/`). [`Backend`] is the super-trait that lists
//! them all, so user code names a single bound: `B: Backend`. Adding an op
//! means one new folder under `ops/` and one line in the `backend!` list here.

use crate::dtype::Float;

/// Device memory: allocation, upload, download, resizing.
///
/// Buffers are flat; shapes live in the types above them. All kernels take
/// runtime dimensions and buffers of this storage.
pub trait Storage: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// A flat buffer of `E` on this device (owned: `'static`, so code such as
    /// a communicator can recognise a backend's buffer type at run time).
    type Buf<E: Float>: Clone + Send + Sync + std::fmt::Debug + 'static;
    /// A flat buffer of `u32` indices (class labels, token ids, argmax positions).
    type Idx: Clone + Send + Sync + std::fmt::Debug + 'static;

    /// A short human-readable device name, such as `cpu` or `cuda:0 (H200)`.
    fn name(&self) -> String;
    /// A zero-filled buffer of `len` elements.
    fn zeros<E: Float>(&self, len: usize) -> Self::Buf<E>;
    /// Uploads `data` into a new buffer.
    #[allow(clippy::wrong_self_convention)]
    fn from_slice<E: Float>(&self, data: &[E]) -> Self::Buf<E>;
    /// Downloads a buffer into host memory.
    fn to_vec<E: Float>(&self, buf: &Self::Buf<E>) -> Vec<E>;
    /// Overwrites `buf` (already of `data.len()` elements) with `data`.
    fn write<E: Float>(&self, buf: &mut Self::Buf<E>, data: &[E]);
    /// Number of elements of a buffer.
    fn len<E: Float>(&self, buf: &Self::Buf<E>) -> usize;
    /// Sets the length of `buf` to `len`, keeping its capacity where it can
    /// (no allocation when shrinking or growing back). New elements are zero;
    /// kept elements keep their values.
    fn resize<E: Float>(&self, buf: &mut Self::Buf<E>, len: usize);
    /// Sets every element to `v`.
    fn fill<E: Float>(&self, buf: &mut Self::Buf<E>, v: E);
    /// Copies `src` into `dst`, resizing `dst` to `src`'s length.
    fn copy<E: Float>(&self, src: &Self::Buf<E>, dst: &mut Self::Buf<E>);
    /// Uploads indices.
    fn idx_from_slice(&self, data: &[u32]) -> Self::Idx;
    /// Downloads indices.
    fn idx_to_vec(&self, idx: &Self::Idx) -> Vec<u32>;
    /// Blocks until all queued work is done (a no-op on the CPU).
    fn synchronize(&self) {}
}

/// Declares [`Backend`] with the kernel traits given, and implements it
/// for every type that implements them all: the list is written once.
macro_rules! backend {
    ($(#[$doc:meta])* $($kernel:path),* $(,)?) => {
        $(#[$doc])*
        pub trait Backend: Storage $(+ $kernel)* {}

        impl<T> Backend for T where T: Storage $(+ $kernel)* {}
    };
}

backend! {
    /// A compute device: [`Storage`] plus the kernels of every op.
    ///
    /// Implemented automatically for every type that implements all kernel
    /// traits; see the list of super-traits for what a new backend must provide.
    crate::ops::util::UnaryKernel,
    crate::ops::matmul::GemmKernel,
    crate::ops::matmul::GemmBiasKernel,
    crate::ops::bias::BiasKernel,
    crate::ops::binary::BinaryKernel,
    crate::ops::softmax::SoftmaxKernel,
    crate::ops::reduce::ReduceKernel,
    crate::ops::dropout::DropoutKernel,
    crate::ops::batchnorm::BatchNormKernel,
    crate::ops::layernorm::LayerNormKernel,
    crate::ops::embedding::EmbeddingKernel,
    crate::ops::attention::AttentionKernel,
    crate::ops::axpy::AxpyKernel,
    crate::ops::conv1d::Conv1dKernel,
    crate::ops::conv2d::Conv2dKernel,
    crate::ops::pool1d::Pool1dKernel,
    crate::ops::pool2d::Pool2dKernel,
    crate::ops::rnn::RnnKernel,
    crate::ops::loss::LossKernel,
    crate::ops::optim::OptimKernel,
}
