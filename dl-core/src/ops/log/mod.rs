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
