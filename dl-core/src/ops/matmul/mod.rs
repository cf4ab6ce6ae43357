//! Matrix products (GEMM) with every transpose combination.
//!
//! Row-major throughout: `C = alpha * op(A) * op(B) + beta * C`, where
//! `op(A)` is `m x k` (A stored `k x m` when `trans_a`), `op(B)` is `k x n`.
//! Layers call [`GemmKernel::gemm_ws`] directly on the layouts they hold (a
//! Linear weight `[out, in]` is used transposed without a copy), with a
//! [`GemmWorkspace`] they keep in their cache: the CPU GEMM packs its
//! operands there, so a training step allocates nothing by construction.
//! The methods without a workspace ([`GemmKernel::gemm`],
//! [`GemmKernel::gemm_batched`], [`GemmBiasKernel::gemm_bias`],
//! [`gemm_strided`]) are for one-off products: each call allocates a fresh
//! workspace on the CPU. Inference, which has no cache, uses
//! [`GemmWorkspace::with_thread_local`].
//!
//! **PyTorch equivalent**: `torch.matmul`, `torch.addmm`, `torch.bmm`.

mod autocast;
mod blocked;
mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;
pub mod dot;
mod kernel;
mod pack;
pub mod transpose;
mod workspace;

pub(crate) use cpu_kernel::gemm_batched_fused;
#[cfg(test)]
pub(crate) use cpu_kernel::{check_gemm, check_gemm_transposes, gemm_reference};
pub use cpu_kernel::{gemm_strided, gemm_strided_ws, Epilogue, GemmOptions};
pub use kernel::{default_path, GemmPath};
pub use workspace::GemmWorkspace;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::shape::S2;
use crate::tensor::Tensor;

/// Whether an operand is used transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    /// As stored.
    No,
    /// Transposed.
    Yes,
}

/// Dimensions and scalars of one product `C = alpha op(A) op(B) + beta C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm<E> {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// `A` is stored `k x m`.
    pub trans_a: bool,
    /// `B` is stored `n x k`.
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: E,
    /// Scale of the existing `C` (0: overwrite, 1: accumulate).
    pub beta: E,
}

impl<E: Float> Gemm<E> {
    /// The same product with `f32` scalars (an autocast product of `f32`
    /// data, whose `E` is `f32`).
    pub(crate) fn to_f32(self) -> Gemm<f32> {
        Gemm {
            m: self.m,
            n: self.n,
            k: self.k,
            trans_a: self.trans_a,
            trans_b: self.trans_b,
            alpha: self.alpha.to_f64() as f32,
            beta: self.beta.to_f64() as f32,
        }
    }

    /// `C = op(A) op(B)` (alpha 1, beta 0).
    ///
    /// # Panics
    /// When `m * k`, `k * n` or `m * n` overflows `usize` (a caller bug:
    /// no buffer can hold such an operand); see [`Gemm::try_new`].
    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Self {
        match Self::try_new(m, n, k, trans_a, trans_b) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }
    /// [`Gemm::new`] with the operand sizes checked.
    ///
    /// ```
    /// use dl_core::ops::matmul::Gemm;
    /// assert!(Gemm::<f32>::try_new(1 << 62, 4, 4, false, false).is_err());
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `m * k`, `k * n` or `m * n`
    /// overflows `usize`.
    pub fn try_new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> crate::Result<Self> {
        if m.checked_mul(k).is_none() || k.checked_mul(n).is_none() || m.checked_mul(n).is_none() {
            return Err(crate::Error::InvalidArgument {
                op: "gemm",
                msg: format!("an operand of the {m} x {n} x {k} product has more than usize::MAX elements"),
            });
        }
        Ok(Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
            alpha: E::ONE,
            beta: E::ZERO,
        })
    }
    /// The same product accumulated into `C` (beta 1).
    pub fn accumulate(mut self) -> Self {
        self.beta = E::ONE;
        self
    }
}

/// Element offsets and strides of a batch of products in three buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Number of products.
    pub count: usize,
    /// Offset of the first `A`.
    pub a_offset: usize,
    /// Distance between consecutive `A`s.
    pub a_stride: usize,
    /// Offset of the first `B`.
    pub b_offset: usize,
    /// Distance between consecutive `B`s (0 shares one `B`).
    pub b_stride: usize,
    /// Offset of the first `C`.
    pub c_offset: usize,
    /// Distance between consecutive `C`s.
    pub c_stride: usize,
}

impl Batch {
    /// One product at offset 0 of each buffer.
    pub fn one() -> Self {
        Self {
            count: 1,
            ..Default::default()
        }
    }
}

/// GEMM kernels of a backend.
///
/// The `_ws` methods take the caller's [`GemmWorkspace`] (the CPU packs
/// its operands there; other backends ignore it): layers keep one in their
/// cache and reuse it, so products allocate nothing once it has grown. The
/// methods without it are conveniences for one-off products: on the CPU
/// each call **allocates** a fresh workspace (a few hundred KiB to a few
/// MiB for large products), so they do not belong in a training loop.
pub trait GemmKernel: Storage {
    /// `C = alpha op(A) op(B) + beta C` for each product of `batch`,
    /// packing into `ws`.
    ///
    /// # Panics
    /// If an operand does not fit its buffer (a bug in the caller: layers
    /// pass dimensions derived from checked shapes).
    fn gemm_batched_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        batch: Batch,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        c: &mut Self::Buf<E>,
    );

    /// One product `C = alpha op(A) op(B) + beta C` on whole buffers,
    /// packing into `ws`.
    ///
    /// ```
    /// use dl_core::{Cpu, GemmKernel, ops::matmul::{Gemm, GemmWorkspace}};
    /// let a = vec![1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
    /// let b = vec![1.0f32, 0.0, 0.0, 1.0];
    /// let mut c = vec![0.0f32; 4];
    /// let mut ws = GemmWorkspace::new();
    /// Cpu.gemm_ws(&mut ws, Gemm::new(2, 2, 2, true, false), &a, &b, &mut c); // A^T B
    /// assert_eq!(c, vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    fn gemm_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        c: &mut Self::Buf<E>,
    ) {
        self.gemm_batched_ws(ws, g, Batch::one(), a, b, c)
    }

    /// [`GemmKernel::gemm_batched_ws`] with a fresh workspace: **allocates**
    /// on the CPU at every call (for one-off products).
    fn gemm_batched<E: Float>(
        &self,
        g: Gemm<E>,
        batch: Batch,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        c: &mut Self::Buf<E>,
    ) {
        self.gemm_batched_ws(&mut GemmWorkspace::new(), g, batch, a, b, c)
    }

    /// [`GemmKernel::gemm_ws`] with a fresh workspace: **allocates** on the
    /// CPU at every call (for one-off products).
    ///
    /// ```
    /// use dl_core::{Cpu, GemmKernel, ops::matmul::Gemm};
    /// let a = vec![1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
    /// let b = vec![1.0f32, 0.0, 0.0, 1.0];
    /// let mut c = vec![0.0f32; 4];
    /// Cpu.gemm(Gemm::new(2, 2, 2, true, false), &a, &b, &mut c); // A^T B
    /// assert_eq!(c, vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    fn gemm<E: Float>(&self, g: Gemm<E>, a: &Self::Buf<E>, b: &Self::Buf<E>, c: &mut Self::Buf<E>) {
        self.gemm_ws(&mut GemmWorkspace::new(), g, a, b, c)
    }
}

/// Which axis of `C` a fused bias runs along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasAxis {
    /// One value per row of `C` (`m` values: a convolution's output
    /// channels, `C = W x cols`).
    Rows,
    /// One value per column of `C` (`n` values: a Linear layer's output
    /// features, `C = x W^T`).
    Columns,
}

impl BiasAxis {
    /// The [`crate::ops::bias::BiasDims`] of this axis in an `m x n` `C`.
    pub fn dims(self, m: usize, n: usize) -> crate::ops::bias::BiasDims {
        match self {
            BiasAxis::Rows => crate::ops::bias::BiasDims {
                outer: 1,
                channels: m,
                inner: n,
            },
            BiasAxis::Columns => crate::ops::bias::BiasDims {
                outer: m,
                channels: n,
                inner: 1,
            },
        }
    }
}

/// An activation fused into the CPU GEMM's epilogue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// None.
    #[default]
    None,
    /// [`crate::ops::relu()`] (NaN propagates).
    Relu,
    /// Exact GELU, [`crate::ops::gelu()`].
    Gelu,
}

/// A GEMM with a bias added to the result: fused into the product's
/// epilogue on the CPU (the bias is added while the tile of `C` is in
/// registers), a product followed by [`crate::ops::bias::BiasKernel::bias_add`]
/// elsewhere. The result is the same bit for bit either way.
pub trait GemmBiasKernel: GemmKernel + crate::ops::bias::BiasKernel {
    /// `C = alpha op(A) op(B) + beta C + bias`, the bias per row (`m`
    /// values) or per column (`n` values) of `C`, packing into `ws`.
    ///
    /// ```
    /// use dl_core::{Cpu, ops::matmul::{BiasAxis, Gemm, GemmBiasKernel, GemmWorkspace}};
    /// let (a, b) = (vec![1.0f32, 2.0], vec![3.0f32, 4.0]); // [1, 2] x [[3], [4]]
    /// let mut c = vec![0.0f32];
    /// let mut ws = GemmWorkspace::new();
    /// Cpu.gemm_bias_ws(&mut ws, Gemm::new(1, 1, 2, false, false), &a, &b, &vec![0.5], BiasAxis::Columns, &mut c);
    /// assert_eq!(c, vec![11.5]);
    /// ```
    ///
    /// # Panics
    /// As [`GemmKernel::gemm`], or when the bias is too short.
    #[allow(clippy::too_many_arguments)]
    fn gemm_bias_ws<E: Float>(
        &self,
        ws: &mut GemmWorkspace,
        g: Gemm<E>,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        bias: &Self::Buf<E>,
        axis: BiasAxis,
        c: &mut Self::Buf<E>,
    ) {
        self.gemm_ws(ws, g, a, b, c);
        self.bias_add(axis.dims(g.m, g.n), bias, c);
    }

    /// [`GemmBiasKernel::gemm_bias_ws`] with a fresh workspace: **allocates**
    /// on the CPU at every call (for one-off products).
    ///
    /// ```
    /// use dl_core::{Cpu, ops::matmul::{BiasAxis, Gemm, GemmBiasKernel}};
    /// let (a, b) = (vec![1.0f32, 2.0], vec![3.0f32, 4.0]); // [1, 2] x [[3], [4]]
    /// let mut c = vec![0.0f32];
    /// Cpu.gemm_bias(Gemm::new(1, 1, 2, false, false), &a, &b, &vec![0.5], BiasAxis::Columns, &mut c);
    /// assert_eq!(c, vec![11.5]);
    /// ```
    fn gemm_bias<E: Float>(
        &self,
        g: Gemm<E>,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        bias: &Self::Buf<E>,
        axis: BiasAxis,
        c: &mut Self::Buf<E>,
    ) {
        self.gemm_bias_ws(&mut GemmWorkspace::new(), g, a, b, bias, axis, c)
    }
}

/// Per-sample matrix product: `[batch, M, K] x [batch, K, N] -> [batch, M, N]`.
/// It returns a new tensor and packs into a fresh workspace (allocating);
/// a loop that must not allocate calls [`GemmKernel::gemm_batched_ws`].
///
/// ```
/// use dl_core::prelude::*;
/// let a = Tensor::<S2<1, 2>>::from_vec(&Cpu, 1, vec![1.0, 2.0]).unwrap();
/// let b = Tensor::<S2<2, 1>>::from_vec(&Cpu, 1, vec![3.0, 4.0]).unwrap();
/// assert_eq!(dl_core::ops::matmul::matmul(&a, &b).unwrap().to_vec(), vec![11.0]);
/// ```
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] when the batch sizes differ.
pub fn matmul<const M: usize, const K: usize, const N: usize, B: GemmKernel, E: Float>(
    a: &Tensor<S2<M, K>, B, E>,
    b: &Tensor<S2<K, N>, B, E>,
) -> crate::Result<Tensor<S2<M, N>, B, E>> {
    if a.batch() != b.batch() {
        return Err(crate::Error::ShapeMismatch {
            op: "matmul",
            lhs: a.shape(),
            rhs: b.shape(),
        });
    }
    let mut c = Tensor::zeros(a.device(), a.batch());
    let batch = Batch {
        count: a.batch(),
        a_stride: M * K,
        b_stride: K * N,
        c_stride: M * N,
        ..Default::default()
    };
    a.device()
        .gemm_batched(Gemm::new(M, N, K, false, false), batch, a.buf(), b.buf(), c.buf_mut());
    Ok(c)
}

/// Backward of [`matmul`]: `(dA, dB) = (dC B^T, A^T dC)` (new tensors and a
/// fresh workspace, like [`matmul`]).
pub fn matmul_backward<const M: usize, const K: usize, const N: usize, B: GemmKernel, E: Float>(
    a: &Tensor<S2<M, K>, B, E>,
    b: &Tensor<S2<K, N>, B, E>,
    dc: &Tensor<S2<M, N>, B, E>,
) -> (Tensor<S2<M, K>, B, E>, Tensor<S2<K, N>, B, E>) {
    let dev = a.device();
    let n = a.batch();
    let mut da = Tensor::zeros(dev, n);
    let mut db = Tensor::zeros(dev, n);
    let bt = Batch {
        count: n,
        a_stride: M * N,
        b_stride: K * N,
        c_stride: M * K,
        ..Default::default()
    };
    let mut ws = GemmWorkspace::new();
    dev.gemm_batched_ws(
        &mut ws,
        Gemm::new(M, K, N, false, true),
        bt,
        dc.buf(),
        b.buf(),
        da.buf_mut(),
    );
    let bt = Batch {
        count: n,
        a_stride: M * K,
        b_stride: M * N,
        c_stride: K * N,
        ..Default::default()
    };
    dev.gemm_batched_ws(
        &mut ws,
        Gemm::new(K, N, M, true, false),
        bt,
        a.buf(),
        dc.buf(),
        db.buf_mut(),
    );
    (da, db)
}

#[cfg(test)]
mod tests;
