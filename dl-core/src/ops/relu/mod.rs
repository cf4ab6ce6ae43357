//! ReLU: `max(x, 0)`, with `relu'(0) = 0` as in PyTorch.
//!
//! **PyTorch equivalent**: `torch.relu(x)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

super::util::unary_fns! {
    /// The ReLU element-wise op (see [`relu`]).
    pub struct Relu;
    /// `y = max(x, 0)` element-wise.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![-2.0, 0.0, 3.0]).unwrap();
    /// assert_eq!(dl_core::ops::relu(&x).to_vec(), vec![0.0, 0.0, 3.0]);
    /// ```
    pub fn relu(x);
    /// Backward of [`relu`]: `dx = dy * (x > 0)`.
    pub fn relu_backward(x, y, dy);
}
