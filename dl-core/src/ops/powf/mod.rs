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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_grad, check_unary_nan_and_empty};
    use crate::prelude::*;

    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![-2.0, 0.0, 3.0]).unwrap();
        let y = powf(&x, 3.0);
        assert_eq!(y.to_vec(), vec![-8.0, 0.0, 27.0]);
        let dy = Tensor::from_vec(&Cpu, 1, vec![1.0, 1.0, 2.0]).unwrap();
        assert_close(
            &powf_backward(&x, &y, &dy, 3.0).to_vec(),
            &[12.0, 0.0, 54.0],
            1e-14,
            0.0,
        );
        let y0 = powf(&x, 0.0);
        assert_eq!(y0.to_vec(), vec![1.0, 1.0, 1.0]);
        assert_eq!(powf_backward(&x, &y0, &dy, 0.0).to_vec(), vec![0.0, 0.0, 0.0]);
    }
    #[test]
    fn gradient_check() {
        check_unary_grad(Powf { exponent: 2.5 }, &[0.05, 0.3, 1.0, 2.5]);
        check_unary_grad(Powf { exponent: -1.5 }, &[0.2, 1.0, 3.0]);
        check_unary_grad(Powf { exponent: 3.0 }, &[-2.0, -0.5, 0.5, 1.5]);
    }
    /// NaN in gives NaN out (for a non-zero exponent; `NaN^0 = 1` as in IEEE
    /// and PyTorch); an empty batch gives an empty output.
    #[test]
    fn nan_and_empty_batch() {
        check_unary_nan_and_empty(Powf { exponent: 2.0 });
        let x = Tensor::<S1<1>>::from_vec(&Cpu, 1, vec![f32::NAN]).unwrap();
        assert_eq!(powf(&x, 0.0).to_vec(), vec![1.0]);
    }
}
