//! GELU, exact (`0.5 x (1 + erf(x / sqrt 2))`) and the tanh approximation
//! (`0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`).
//!
//! **PyTorch equivalent**: `F.gelu(x)` and `F.gelu(x, approximate="tanh")`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// Exact GELU, with the error function (see [`gelu`]).
    pub struct Gelu;
    /// `y = 0.5 x (1 + erf(x / sqrt 2))` element-wise.
    ///
    /// **PyTorch equivalent**: `F.gelu(x)` (`approximate="none"`).
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 10.0]).unwrap();
    /// assert_eq!(dl_core::ops::gelu(&x).to_vec(), vec![0.0, 10.0]);
    /// ```
    pub fn gelu(x);
    /// Backward of [`gelu`]: `dx = dy * (Phi(x) + x phi(x))`.
    pub fn gelu_backward(x, y, dy);
}

super::util::unary_fns! {
    /// GELU, tanh approximation (see [`gelu_tanh`]).
    pub struct GeluTanh;
    /// `y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` element-wise.
    ///
    /// **PyTorch equivalent**: `F.gelu(x, approximate="tanh")`.
    pub fn gelu_tanh(x);
    /// Backward of [`gelu_tanh`].
    pub fn gelu_tanh_backward(x, y, dy);
}
