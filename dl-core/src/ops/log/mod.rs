//! Natural logarithm.
//!
//! **PyTorch equivalent**: `torch.log(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The natural-logarithm element-wise op (see [`log`]).
    pub struct Log;
    /// `y = ln(x)` element-wise: `ln(0) = -inf`, `ln(x < 0) = NaN`, as in PyTorch.
    ///
    /// **PyTorch equivalent**: `torch.log(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 0.0]).unwrap();
    /// assert_eq!(dl_core::ops::log(&x).to_vec(), vec![0.0, f32::NEG_INFINITY]);
    /// ```
    pub fn log(x);
    /// Backward of [`log`]: `dx = dy / x`.
    pub fn log_backward(x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_op};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![0.5, 1.0, 4.0]).unwrap();
        let y = log(&x);
        assert_close(&y.to_vec(), &[-std::f64::consts::LN_2, 0.0, 4.0f64.ln()], 1e-15, 0.0);
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 3.0, 2.0]).unwrap();
        assert_close(&log_backward(&x, &y, &dy).to_vec(), &[2.0, 3.0, 0.5], 1e-15, 0.0);
        let neg = Tensor::<S1<1>>::from_vec(&Cpu, 1, vec![-1.0]).unwrap();
        assert!(log(&neg).to_vec()[0].is_nan());
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        check_unary_op(Log, &[0.05, 0.3, 1.0, 2.5, 10.0]);
    }
}
