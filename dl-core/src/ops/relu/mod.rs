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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::check_unary_grad;
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![-1.0, 0.0, 0.5, 2.0]).unwrap();
        let y = relu(&x);
        assert_eq!(y.to_vec(), vec![0.0, 0.0, 0.5, 2.0]);
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(relu_backward(&x, &y, &dy).to_vec(), vec![0.0, 0.0, 3.0, 4.0]);
    }
    #[test]
    fn gradient_check() {
        check_unary_grad(Relu, &[-1.3, -0.2, 0.1, 0.7, 2.5]);
    }
    #[test]
    fn nan_propagates() {
        let x = Tensor::<S1<1>>::from_vec(&Cpu, 1, vec![f32::NAN]).unwrap();
        // max(NaN, 0) is defined here as NaN (as in PyTorch), not silently 0.
        assert!(relu(&x).to_vec()[0].is_nan());
    }
}
