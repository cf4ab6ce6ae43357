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
