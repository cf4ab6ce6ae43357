//! In-place scaled accumulation `y += alpha * x` (BLAS `axpy`): residual
//! connections add their skip path with it, and gradients of shared inputs
//! are summed with it.
//!
//! **PyTorch equivalent**: `y.add_(x, alpha=alpha)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Accumulation kernel of a backend.
pub trait AxpyKernel: Storage {
    /// `y[i] += alpha * x[i]` for every element of `y`.
    ///
    /// # Panics
    /// If `x` is shorter than `y` (a bug in the caller).
    fn axpy<E: Float>(&self, alpha: E, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
}

/// `y += alpha * x` on tensors of the same shape and batch.
///
/// ```
/// use dl_core::prelude::*;
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 2.0]).unwrap();
/// let mut y = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![10.0, 20.0]).unwrap();
/// dl_core::ops::axpy::axpy(2.0, &x, &mut y).unwrap();
/// assert_eq!(y.to_vec(), vec![12.0, 24.0]);
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when the batch sizes differ.
pub fn axpy<S: Shape, B: AxpyKernel, E: Float>(alpha: E, x: &Tensor<S, B, E>, y: &mut Tensor<S, B, E>) -> Result<()> {
    if x.batch() != y.batch() {
        return Err(Error::ShapeMismatch {
            op: "axpy",
            lhs: x.shape(),
            rhs: y.shape(),
        });
    }
    let dev = x.device().clone();
    dev.axpy(alpha, x.buf(), y.buf_mut());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn values_serial_and_parallel() {
        for n in [0usize, 5, 100_003] {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let mut y: Vec<f64> = (0..n).map(|i| 1.0 - i as f64).collect();
            Cpu.axpy(0.5, &x, &mut y);
            for (i, v) in y.iter().enumerate() {
                assert_eq!(*v, 1.0 - 0.5 * i as f64);
            }
        }
    }

    #[test]
    fn batch_mismatch_is_a_typed_error() {
        let x = Tensor::<S1<2>>::zeros(&Cpu, 2);
        let mut y = Tensor::<S1<2>>::zeros(&Cpu, 3);
        assert!(matches!(
            axpy(1.0, &x, &mut y),
            Err(Error::ShapeMismatch { op: "axpy", .. })
        ));
    }

    #[test]
    #[should_panic(expected = "axpy")]
    fn short_source_panics() {
        Cpu.axpy(1.0f32, &vec![0.0; 2], &mut vec![0.0; 3]);
    }
}
