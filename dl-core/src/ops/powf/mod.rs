//! Power with a constant exponent: `x^p`.
//!
//! **PyTorch equivalent**: `torch.pow(x, p)` with a Python-float `p`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

/// The power element-wise op (see [`powf`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Powf {
    /// The exponent `p`.
    pub exponent: f64,
}

super::util::unary_fns! {
    /// `y = x^p` element-wise (IEEE `pow`: a negative base with a non-integer
    /// exponent gives NaN, as in PyTorch).
    ///
    /// **PyTorch equivalent**: `torch.pow(x, p)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![3.0, -2.0]).unwrap();
    /// assert_eq!(dl_core::ops::powf(&x, 2.0).to_vec(), vec![9.0, 4.0]);
    /// ```
    pub fn powf(x, exponent: f64);
    /// Backward of [`powf`]: `dx = dy * p * x^(p - 1)` (0 when `p = 0`).
    pub fn powf_backward(x, y, dy, exponent: f64);
    op: Powf { exponent };
}
