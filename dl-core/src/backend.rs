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

/// The body of the `*OnHost` kernels (download, compute, upload): runs `f`
/// on host copies of the inputs `ins` and the outputs `outs`, then writes
/// the outputs back in order. An output given with `Some(len)` is one `f`
/// overwrites: it starts as `len` zeros on the host (nothing is downloaded)
/// and the device buffer is resized to `len`; one given with `None` is
/// updated in place (downloaded first, its length kept).
pub(crate) fn on_host<B: Storage, E: Float, const I: usize, const O: usize>(
    dev: &B,
    ins: [&B::Buf<E>; I],
    outs: [(&mut B::Buf<E>, Option<usize>); O],
    f: impl FnOnce([&[E]; I], [&mut [E]; O]),
) {
    let ins = ins.map(|b| dev.to_vec(b));
    let mut host: [Vec<E>; O] = std::array::from_fn(|i| match outs[i].1 {
        Some(len) => vec![E::ZERO; len],
        None => dev.to_vec(&*outs[i].0),
    });
    f(
        std::array::from_fn(|i| ins[i].as_slice()),
        host.each_mut().map(|h| h.as_mut_slice()),
    );
    for ((buf, len), h) in outs.into_iter().zip(&host) {
        if let Some(len) = len {
            dev.resize(buf, len);
        }
        dev.write(buf, h);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    /// `on_host` hands `f` the inputs and outputs as the kernels of the
    /// `*OnHost` opt-ins need them: `Some(len)` outputs as `len` zeros,
    /// resized on the device; `None` outputs with their contents, in place.
    #[test]
    fn on_host_overwrites_or_updates_outputs() {
        let (x, w) = (vec![1.0, 2.0], vec![10.0]);
        let (mut y, mut acc) = (vec![7.0; 5], vec![0.5, 0.25]);
        on_host(
            &Cpu,
            [&x, &w],
            [(&mut y, Some(3)), (&mut acc, None)],
            |[x, w], [y, acc]| {
                assert_eq!((x, w), (&[1.0, 2.0][..], &[10.0][..]));
                assert_eq!((&*y, &*acc), (&[0.0; 3][..], &[0.5, 0.25][..]));
                y[0] = x[1] * w[0];
                acc[1] += 1.0;
            },
        );
        assert_eq!((y, acc), (vec![20.0, 0.0, 0.0], vec![0.5, 1.25]));
    }
}
