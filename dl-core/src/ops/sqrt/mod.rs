//! Square root.
//!
//! **PyTorch equivalent**: `torch.sqrt(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The square-root element-wise op (see [`sqrt`]).
    pub struct Sqrt;
    /// `y = sqrt(x)` element-wise (`NaN` for `x < 0`, as in PyTorch).
    ///
    /// **PyTorch equivalent**: `torch.sqrt(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![4.0, 0.0]).unwrap();
    /// assert_eq!(dl_core::ops::sqrt(&x).to_vec(), vec![2.0, 0.0]);
    /// ```
    pub fn sqrt(x);
    /// Backward of [`sqrt`]: `dx = dy / (2 y)` (`+inf` at `x = 0`, as in PyTorch).
    pub fn sqrt_backward(x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::check_unary_op;
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![0.25, 1.0, 9.0]).unwrap();
        let y = sqrt(&x);
        assert_eq!(y.to_vec(), vec![0.5, 1.0, 3.0]);
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 2.0, 6.0]).unwrap();
        assert_eq!(sqrt_backward(&x, &y, &dy).to_vec(), vec![1.0, 1.0, 1.0]);
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        check_unary_op(Sqrt, &[0.05, 0.3, 1.0, 2.5, 10.0]);
    }
}
