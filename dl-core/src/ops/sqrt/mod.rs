//! Square root.
//!
//! **PyTorch equivalent**: `torch.sqrt(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The square-root element-wise op (see [`sqrt`]).
    pub struct Sqrt;
    /// `y = sqrt(x)` element-wise (`NaN` for `x < 0`, as in PyTorch).
    ///
    /// **PyTorch equivalent**: `torch.sqrt(x)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![4.0, 0.0]).unwrap();
    /// assert_eq!(dl_core::ops::sqrt(&x).to_vec(), vec![2.0, 0.0]);
    /// ```
    pub fn sqrt(x);
    /// Backward of [`sqrt`]: `dx = dy / (2 y)` (`+inf` at `x = 0`, as in PyTorch).
    pub fn sqrt_backward(x, y, dy);
}
