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
