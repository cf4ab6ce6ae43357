//! Leaky ReLU: `x` for `x > 0`, `slope * x` otherwise, with
//! `leaky_relu'(0) = slope` as in PyTorch.
//!
//! **PyTorch equivalent**: `torch.nn.functional.leaky_relu(x, negative_slope)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

/// The leaky ReLU element-wise op (see [`leaky_relu`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// Slope for `x <= 0` (PyTorch's `negative_slope`).
    pub slope: f64,
}

impl Default for LeakyRelu {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        Self { slope: 0.01 }
    }
}

super::util::unary_fns! {
    /// `y = x > 0 ? x : slope * x` element-wise.
    ///
    /// **PyTorch equivalent**: `F.leaky_relu(x, negative_slope=slope)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![-2.0, 0.0, 3.0]).unwrap();
    /// assert_eq!(dl_core::ops::leaky_relu(&x, 0.5).to_vec(), vec![-1.0, 0.0, 3.0]);
    /// ```
    pub fn leaky_relu(x, slope: f64);
    /// Backward of [`leaky_relu`]: `dx = dy * (x > 0 ? 1 : slope)`.
    pub fn leaky_relu_backward(x, y, dy, slope: f64);
    op: LeakyRelu { slope };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{check_unary_grad, check_unary_nan_and_empty};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values_with_slope_at_zero() {
        let x = Tensor::<S1<4>, Cpu, f64>::from_vec(&Cpu, 1, vec![-2.0, 0.0, 0.5, 2.0]).unwrap();
        let y = leaky_relu(&x, 0.1);
        assert_eq!(y.to_vec(), vec![-0.2, 0.0, 0.5, 2.0]);
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        // leaky_relu'(0) = slope, as in PyTorch.
        assert_eq!(leaky_relu_backward(&x, &y, &dy, 0.1).to_vec(), vec![0.1, 0.2, 3.0, 4.0]);
        assert_eq!(LeakyRelu::default().slope, 0.01);
    }
    #[test]
    fn gradient_check() {
        check_unary_grad(LeakyRelu { slope: 0.2 }, &[-1.3, -0.2, 0.1, 0.7, 2.5]);
    }
    /// NaN in gives NaN out (its gradient is `dy * slope`, as in PyTorch); an
    /// empty batch gives an empty output.
    #[test]
    fn nan_and_empty_batch() {
        check_unary_nan_and_empty(LeakyRelu::default());
    }
}
