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
