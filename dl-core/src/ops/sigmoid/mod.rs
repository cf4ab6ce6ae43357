//! Sigmoid: `1 / (1 + e^-x)`, computed without overflow for any `x`.
//!
//! **PyTorch equivalent**: `torch.sigmoid(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The sigmoid element-wise op (see [`sigmoid`]).
    pub struct Sigmoid;
    /// `y = 1 / (1 + e^-x)` element-wise.
    ///
    /// **PyTorch equivalent**: `torch.sigmoid(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![-1000.0, 0.0, 1000.0]).unwrap();
    /// assert_eq!(dl_core::ops::sigmoid(&x).to_vec(), vec![0.0, 0.5, 1.0]);
    /// ```
    pub fn sigmoid(x);
    /// Backward of [`sigmoid`]: `dx = dy * y * (1 - y)`.
    pub fn sigmoid_backward(x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_op};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<4>, Cpu, f64>::from_vec(&Cpu, 1, vec![-2.0, 0.0, 1.0, 50.0]).unwrap();
        let y = sigmoid(&x);
        assert_close(
            &y.to_vec(),
            &[0.11920292202211755, 0.5, 0.7310585786300049, 1.0],
            1e-14,
            0.0,
        );
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 2.0, 1.0, 1.0]).unwrap();
        let dx = sigmoid_backward(&x, &y, &dy).to_vec();
        assert_close(&dx, &[0.10499358540350652, 0.5, 0.19661193324148185, 0.0], 1e-12, 1e-20);
    }
    #[test]
    fn extreme_inputs_stay_finite() {
        let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![-1e30, 1e30]).unwrap();
        assert_eq!(sigmoid(&x).to_vec(), vec![0.0, 1.0]);
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        check_unary_op(Sigmoid, &[-4.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    }
}
