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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::{assert_close, check_unary_op};
    use crate::prelude::*;

    /// Reference values from Python's `math.erf` / `math.tanh` in f64.
    #[test]
    fn forward_and_backward_values() {
        let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 1, vec![-1.0, 0.5, 2.0]).unwrap();
        let ones = Tensor::from_vec(&Cpu, 1, vec![1.0; 3]).unwrap();
        let y = gelu(&x);
        assert_close(
            &y.to_vec(),
            &[-0.15865525393145707, 0.34573123063700656, 1.9544997361036416],
            1e-12,
            0.0,
        );
        let dx = gelu_backward(&x, &y, &ones).to_vec();
        assert_close(
            &dx,
            &[-0.08331547058768629, 0.8674951246561629, 1.085231801078197],
            1e-12,
            0.0,
        );
        let yt = gelu_tanh(&x);
        assert_close(
            &yt.to_vec(),
            &[-0.15880800939172324, 0.34571400982514394, 1.954597694087775],
            1e-12,
            0.0,
        );
    }
    /// Finite-difference gradient; NaN in gives NaN out; an empty batch gives an empty output.
    #[test]
    fn gradient_nan_and_empty_batch() {
        let xs = [-4.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5];
        check_unary_op(Gelu, &xs);
        check_unary_op(GeluTanh, &xs);
    }
}
