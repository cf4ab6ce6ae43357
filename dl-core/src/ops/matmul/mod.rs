//! Matrix products (GEMM) with every transpose combination.
//!
//! Row-major throughout: `C = alpha * op(A) * op(B) + beta * C`, where
//! `op(A)` is `m x k` (A stored `k x m` when `trans_a`), `op(B)` is `k x n`.
//! Layers call [`GemmKernel::gemm`] directly on the layouts they hold (a
//! Linear weight `[out, in]` is used transposed without a copy).
//!
//! **PyTorch equivalent**: `torch.matmul`, `torch.addmm`, `torch.bmm`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;
pub mod dot;
pub mod transpose;

use crate::backend::{Backend, Storage};
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
    /// `C = op(A) op(B)` (alpha 1, beta 0).
    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Self {
        Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
            alpha: E::ONE,
            beta: E::ZERO,
        }
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
pub trait GemmKernel: Storage {
    /// `C = alpha op(A) op(B) + beta C` for each product of `batch`.
    ///
    /// # Panics
    /// If an operand does not fit its buffer (a bug in the caller: layers
    /// pass dimensions derived from checked shapes).
    fn gemm_batched<E: Float>(
        &self,
        g: Gemm<E>,
        batch: Batch,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        c: &mut Self::Buf<E>,
    );

    /// One product `C = alpha op(A) op(B) + beta C` on whole buffers.
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
        self.gemm_batched(g, Batch::one(), a, b, c)
    }
}

/// Per-sample matrix product: `[batch, M, K] x [batch, K, N] -> [batch, M, N]`.
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
pub fn matmul<const M: usize, const K: usize, const N: usize, B: Backend, E: Float>(
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

/// Backward of [`matmul`]: `(dA, dB) = (dC B^T, A^T dC)`.
pub fn matmul_backward<const M: usize, const K: usize, const N: usize, B: Backend, E: Float>(
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
    dev.gemm_batched(Gemm::new(M, K, N, false, true), bt, dc.buf(), b.buf(), da.buf_mut());
    let bt = Batch {
        count: n,
        a_stride: M * K,
        b_stride: M * N,
        c_stride: K * N,
        ..Default::default()
    };
    dev.gemm_batched(Gemm::new(K, N, M, true, false), bt, a.buf(), dc.buf(), db.buf_mut());
    (da, db)
}

#[cfg(test)]
mod tests;
