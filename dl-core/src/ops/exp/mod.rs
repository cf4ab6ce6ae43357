//! Exponential `e^x`.
//!
//! **PyTorch equivalent**: `torch.exp(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The exponential element-wise op (see [`exp`]).
    pub struct Exp;
    /// `y = e^x` element-wise (overflows to `+inf` like PyTorch).
    ///
    /// **PyTorch equivalent**: `torch.exp(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, f32::NEG_INFINITY]).unwrap();
    /// assert_eq!(dl_core::ops::exp(&x).to_vec(), vec![1.0, 0.0]);
    /// ```
    pub fn exp(x);
    /// Backward of [`exp`]: `dx = dy * y`.
    pub fn exp_backward(x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_op};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![-1.0, 0.0, 2.0]).unwrap();
        let y = exp(&x);
        let e = [(-1.0f64).exp(), 1.0, 2.0f64.exp()];
        assert_close(&y.to_vec(), &e, 1e-15, 0.0);
        let dy = Tensor::from_vec(&Cpu, 1, vec![2.0, 1.0, 1.0]).unwrap();
        assert_close(
            &exp_backward(&x, &y, &dy).to_vec(),
            &[2.0 * e[0], 1.0, e[2]],
            1e-15,
            0.0,
        );
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        check_unary_op(Exp, &[-3.0, -0.2, 0.0, 0.7, 2.5]);
    }
}
