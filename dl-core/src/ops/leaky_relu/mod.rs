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
