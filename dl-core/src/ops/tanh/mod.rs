//! Hyperbolic tangent.
//!
//! **PyTorch equivalent**: `torch.tanh(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The tanh element-wise op (see [`tanh`]).
    pub struct Tanh;
    /// `y = tanh(x)` element-wise.
    ///
    /// **PyTorch equivalent**: `torch.tanh(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![-100.0, 0.0, 100.0]).unwrap();
    /// assert_eq!(dl_core::ops::tanh(&x).to_vec(), vec![-1.0, 0.0, 1.0]);
    /// ```
    pub fn tanh(x);
    /// Backward of [`tanh`]: `dx = dy * (1 - y^2)`.
    pub fn tanh_backward(x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_op};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![-0.5, 0.0, 2.0]).unwrap();
        let y = tanh(&x);
        assert_close(
            &y.to_vec(),
            &[-0.46211715726000974, 0.0, 0.9640275800758169],
            1e-14,
            0.0,
        );
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 3.0, 1.0]).unwrap();
        let dx = tanh_backward(&x, &y, &dy).to_vec();
        assert_close(&dx, &[0.7864477329659274, 3.0, 0.07065082485316443], 1e-12, 0.0);
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        check_unary_op(Tanh, &[-3.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    }
}
