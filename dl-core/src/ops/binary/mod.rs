//! Element-wise binary ops (`+ - * /`) on two same-shape tensors, or with a
//! per-sample operand broadcast over the batch (a bias of shape `S` added to
//! every sample), each with its backward.
//!
//! The kernels work on a runtime `[outer, inner]` layout: `a` and the output
//! are `[outer, inner]`; `b` is `[outer, inner]` too, or `[inner]` when
//! [`BinaryDims::broadcast_b`] is set.
//!
//! **PyTorch equivalent**: `a + b`, `a - b`, `a * b`, `a / b` (with `b` of
//! shape `[1, ...]` or `[...]` broadcasting over the batch) and their autograd.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::axpy::AxpyKernel;
use crate::param::Param;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Which element-wise binary op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b` (IEEE: division by zero gives `inf` or NaN, as in PyTorch).
    Div,
}

impl BinaryOp {
    /// The op's name (for messages).
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }
    /// `op(a, b)`.
    #[inline(always)]
    pub fn apply<E: Float>(self, a: E, b: E) -> E {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
        }
    }
    /// `d op / d a` at `(a, b)`.
    #[inline(always)]
    pub fn da<E: Float>(self, _a: E, b: E) -> E {
        match self {
            BinaryOp::Add | BinaryOp::Sub => E::ONE,
            BinaryOp::Mul => b,
            BinaryOp::Div => E::ONE / b,
        }
    }
    /// `d op / d b` at `(a, b)`.
    #[inline(always)]
    pub fn db<E: Float>(self, a: E, b: E) -> E {
        match self {
            BinaryOp::Add => E::ONE,
            BinaryOp::Sub => -E::ONE,
            BinaryOp::Mul => a,
            BinaryOp::Div => -a / (b * b),
        }
    }
}

/// Two tensors of the same type: the `(da, db)` of [`binary_backward`], the
/// `(y, mask)` of [`crate::ops::dropout::dropout`].
pub type TensorPair<S, B, E> = (Tensor<S, B, E>, Tensor<S, B, E>);

/// Layout of a binary op: `a` is `[outer, inner]`; `b` is the same, or
/// `[inner]` broadcast over `outer` when `broadcast_b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryDims {
    /// Number of samples (the batch).
    pub outer: usize,
    /// Elements per sample.
    pub inner: usize,
    /// `b` holds one sample, shared by every sample of `a`.
    pub broadcast_b: bool,
}

/// Binary element-wise kernels of a backend.
pub trait BinaryKernel: Storage {
    /// `out[o, i] = op(a[o, i], b[o, i] or b[i])`; `out` is resized to `outer * inner`.
    fn binary_forward<E: Float>(
        &self,
        op: BinaryOp,
        d: BinaryDims,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        out: &mut Self::Buf<E>,
    );
    /// Writes (overwrites) `da = dy * d op/da` (resized to `outer * inner`)
    /// and `db = dy * d op/db`, summed over `outer` in a fixed order when
    /// `b` is broadcast (resized to `b`'s length). Both are input gradients:
    /// a caller that holds `b` as a parameter adds `db` to its gradient.
    #[allow(clippy::too_many_arguments)]
    fn binary_backward<E: Float>(
        &self,
        op: BinaryOp,
        d: BinaryDims,
        a: &Self::Buf<E>,
        b: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        da: &mut Self::Buf<E>,
        db: &mut Self::Buf<E>,
    );
}

fn dims_of<S: Shape, B: BinaryKernel, E: Float>(
    op: BinaryOp,
    a: &Tensor<S, B, E>,
    b: &Tensor<S, B, E>,
) -> Result<BinaryDims> {
    let broadcast_b = if b.batch() == a.batch() {
        false
    } else if b.batch() == 1 {
        true
    } else {
        return Err(Error::ShapeMismatch {
            op: op.name(),
            lhs: a.shape(),
            rhs: b.shape(),
        });
    };
    Ok(BinaryDims {
        outer: a.batch(),
        inner: S::NUMEL,
        broadcast_b,
    })
}

/// `op(a, b)` element-wise. `b` has `a`'s batch, or batch 1 (then it is
/// broadcast over `a`'s batch).
///
/// **PyTorch equivalent**: `a + b` (and `-`, `*`, `/`) with broadcasting of a
/// leading dimension of size 1.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_core::ops::binary::{binary, BinaryOp};
/// let a = Tensor::<S1<2>>::from_vec(&Cpu, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let bias = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![10.0, 20.0]).unwrap();
/// assert_eq!(binary(BinaryOp::Add, &a, &bias).unwrap().to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when `b`'s batch is neither `a`'s nor 1.
pub fn binary<S: Shape, B: BinaryKernel, E: Float>(
    op: BinaryOp,
    a: &Tensor<S, B, E>,
    b: &Tensor<S, B, E>,
) -> Result<Tensor<S, B, E>> {
    let d = dims_of(op, a, b)?;
    let mut out = Tensor::zeros(a.device(), a.batch());
    a.device().binary_forward(op, d, a.buf(), b.buf(), out.buf_mut());
    Ok(out)
}

/// Backward of [`binary`]: `(da, db)`, `db` with `b`'s batch (summed over
/// the batch when `b` was broadcast).
///
/// # Errors
/// [`Error::ShapeMismatch`] when the batches do not fit as in [`binary`], or
/// `dy`'s batch is not `a`'s.
pub fn binary_backward<S: Shape, B: BinaryKernel, E: Float>(
    op: BinaryOp,
    a: &Tensor<S, B, E>,
    b: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
) -> Result<TensorPair<S, B, E>> {
    let d = dims_of(op, a, b)?;
    if dy.batch() != a.batch() {
        return Err(Error::ShapeMismatch {
            op: op.name(),
            lhs: a.shape(),
            rhs: dy.shape(),
        });
    }
    let dev = a.device();
    let mut da = Tensor::zeros(dev, a.batch());
    let mut db = Tensor::zeros(dev, b.batch());
    dev.binary_backward(op, d, a.buf(), b.buf(), dy.buf(), da.buf_mut(), db.buf_mut());
    Ok((da, db))
}

/// `out = op(x, p)` for a parameter `p` of one sample's shape, applied to
/// every sample of `x` (`out` resized to `x`'s batch): the forward of a
/// layer with a per-feature parameter (a learned scale, shift or gate).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_core::ops::binary::{param_forward, BinaryOp};
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let scale = Param::<S1<2>>::from_vec(&Cpu, vec![10.0, -1.0]).unwrap();
/// let mut y = Tensor::empty(&Cpu);
/// param_forward(BinaryOp::Mul, &x, &scale, &mut y);
/// assert_eq!(y.to_vec(), vec![10.0, -2.0, 30.0, -4.0]);
/// ```
pub fn param_forward<S: Shape, B: BinaryKernel, E: Float>(
    op: BinaryOp,
    x: &Tensor<S, B, E>,
    p: &Param<S, B, E>,
    out: &mut Tensor<S, B, E>,
) {
    out.set_batch(x.batch());
    let d = BinaryDims {
        outer: x.batch(),
        inner: S::NUMEL,
        broadcast_b: true,
    };
    x.device().binary_forward(op, d, x.buf(), &p.value, out.buf_mut());
}

/// Backward of [`param_forward`]: writes `dx` (resized to `x`'s batch) and
/// accumulates `p.grad += sum over the batch of dy * d op/dp`. `scratch`
/// holds the batch's parameter gradient: keep it in the layer's cache, so
/// that a training step allocates nothing.
pub fn param_backward<S: Shape, B: BinaryKernel + AxpyKernel, E: Float>(
    op: BinaryOp,
    x: &Tensor<S, B, E>,
    p: &mut Param<S, B, E>,
    dy: &Tensor<S, B, E>,
    dx: &mut Tensor<S, B, E>,
    scratch: &mut B::Buf<E>,
) {
    dx.set_batch(x.batch());
    let d = BinaryDims {
        outer: x.batch(),
        inner: S::NUMEL,
        broadcast_b: true,
    };
    let dev = x.device();
    let raw = p.raw_mut();
    dev.binary_backward(op, d, x.buf(), &raw.value, dy.buf(), dx.buf_mut(), scratch);
    dev.axpy(E::ONE, scratch, &mut raw.grad);
}

/// `a + b`; see [`binary`].
///
/// # Errors
/// As [`binary`].
pub fn add<S: Shape, B: BinaryKernel, E: Float>(a: &Tensor<S, B, E>, b: &Tensor<S, B, E>) -> Result<Tensor<S, B, E>> {
    binary(BinaryOp::Add, a, b)
}
/// `a - b`; see [`binary`].
///
/// # Errors
/// As [`binary`].
pub fn sub<S: Shape, B: BinaryKernel, E: Float>(a: &Tensor<S, B, E>, b: &Tensor<S, B, E>) -> Result<Tensor<S, B, E>> {
    binary(BinaryOp::Sub, a, b)
}
/// `a * b`; see [`binary`].
///
/// # Errors
/// As [`binary`].
pub fn mul<S: Shape, B: BinaryKernel, E: Float>(a: &Tensor<S, B, E>, b: &Tensor<S, B, E>) -> Result<Tensor<S, B, E>> {
    binary(BinaryOp::Mul, a, b)
}
/// `a / b`; see [`binary`].
///
/// # Errors
/// As [`binary`].
pub fn div<S: Shape, B: BinaryKernel, E: Float>(a: &Tensor<S, B, E>, b: &Tensor<S, B, E>) -> Result<Tensor<S, B, E>> {
    binary(BinaryOp::Div, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::prelude::*;

    const OPS: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];

    #[test]
    fn forward_values_same_shape_and_broadcast() {
        let a = Tensor::<S1<2>, Cpu, f64>::from_vec(&Cpu, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::<S1<2>, Cpu, f64>::from_vec(&Cpu, 2, vec![2.0, 4.0, 6.0, 8.0]).unwrap();
        assert_eq!(add(&a, &b).unwrap().to_vec(), vec![3.0, 6.0, 9.0, 12.0]);
        assert_eq!(sub(&a, &b).unwrap().to_vec(), vec![-1.0, -2.0, -3.0, -4.0]);
        assert_eq!(mul(&a, &b).unwrap().to_vec(), vec![2.0, 8.0, 18.0, 32.0]);
        assert_eq!(div(&a, &b).unwrap().to_vec(), vec![0.5, 0.5, 0.5, 0.5]);
        let s = Tensor::<S1<2>, Cpu, f64>::from_vec(&Cpu, 1, vec![2.0, -1.0]).unwrap();
        assert_eq!(mul(&a, &s).unwrap().to_vec(), vec![2.0, -2.0, 6.0, -4.0]);
        assert_eq!(sub(&a, &s).unwrap().to_vec(), vec![-1.0, 3.0, 1.0, 5.0]);
    }

    #[test]
    fn mismatched_batch_is_a_typed_error() {
        let a = Tensor::<S1<2>>::zeros(&Cpu, 3);
        let b = Tensor::<S1<2>>::zeros(&Cpu, 2);
        assert!(matches!(add(&a, &b), Err(Error::ShapeMismatch { op: "add", .. })));
        let dy = Tensor::<S1<2>>::zeros(&Cpu, 2);
        assert!(binary_backward(BinaryOp::Mul, &a, &a, &dy).is_err());
    }

    /// Finite differences of `sum(op(a, b) * g)` against both gradients, for
    /// every op, same-shape and broadcast.
    #[test]
    fn gradient_check_all_ops() {
        let mut rng = Rng::new(3);
        let n = 3;
        let a: Vec<f64> = (0..n * 4).map(|_| rng.uniform_range(0.5, 2.0)).collect();
        let g: Vec<f64> = (0..n * 4).map(|i| 0.3 + (i as f64 * 0.9).sin()).collect();
        for &bb in &[n, 1] {
            let b: Vec<f64> = (0..bb * 4).map(|_| rng.uniform_range(0.5, 2.0)).collect();
            for op in OPS {
                let ta = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, n, &a).unwrap();
                let tb = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, bb, &b).unwrap();
                let tg = Tensor::from_slice(&Cpu, n, &g).unwrap();
                let (da, db) = binary_backward(op, &ta, &tb, &tg).unwrap();
                let loss = |av: &[f64], bv: &[f64]| {
                    let ta = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, n, av).unwrap();
                    let tb = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, bb, bv).unwrap();
                    let y = binary(op, &ta, &tb).unwrap().to_vec();
                    y.iter().zip(&g).map(|(y, g)| y * g).sum::<f64>()
                };
                check_gradient(|v| loss(v, &b), &a, &da.to_vec(), GradCheck::default())
                    .unwrap_or_else(|e| panic!("{op:?} da (b batch {bb}): {e}"));
                check_gradient(|v| loss(&a, v), &b, &db.to_vec(), GradCheck::default())
                    .unwrap_or_else(|e| panic!("{op:?} db (b batch {bb}): {e}"));
            }
        }
    }

    /// A NaN in either operand gives NaN in that output element only.
    #[test]
    fn nan_propagates_element_wise() {
        let a = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![f32::NAN, 1.0]).unwrap();
        let b = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 2.0]).unwrap();
        for op in OPS {
            let y = binary(op, &a, &b).unwrap().to_vec();
            assert!(y[0].is_nan() && y[1].is_finite(), "{op:?}: {y:?}");
        }
    }

    /// An empty batch gives an empty output; a broadcast operand then gets a
    /// zero gradient (an empty sum).
    #[test]
    fn empty_batch() {
        let a = Tensor::<S1<3>>::zeros(&Cpu, 0);
        let b = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0]).unwrap();
        for op in OPS {
            assert!(binary(op, &a, &b).unwrap().is_empty());
            let (da, db) = binary_backward(op, &a, &b, &a).unwrap();
            assert!(da.is_empty());
            assert_eq!(db.to_vec(), vec![0.0; 3]);
        }
    }

    /// Large inputs take the parallel path and agree with the serial one.
    #[test]
    fn parallel_path_matches_serial() {
        let n = crate::cpu::PAR_THRESHOLD / 8 + 3;
        let mut rng = Rng::new(9);
        let a = Tensor::<S1<16>, Cpu, f64>::randn(&Cpu, n, &mut rng);
        let b = Tensor::<S1<16>, Cpu, f64>::randn(&Cpu, 1, &mut rng);
        let dy = Tensor::<S1<16>, Cpu, f64>::randn(&Cpu, n, &mut rng);
        let (_, db) = binary_backward(BinaryOp::Mul, &a, &b, &dy).unwrap();
        let (av, dyv) = (a.to_vec(), dy.to_vec());
        for j in 0..16 {
            let mut s = 0.0;
            for o in 0..n {
                s += dyv[o * 16 + j] * av[o * 16 + j];
            }
            assert_eq!(db.to_vec()[j], s);
        }
    }
}
