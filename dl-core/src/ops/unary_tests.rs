//! The element-wise ops of dl-core (`exp`, `log`, `sqrt`, `relu`,
//! `leaky_relu`, `sigmoid`, `tanh`, `gelu`, `gelu_tanh`, `powf`), one table
//! per property: forward and backward values against closed forms or f64
//! references (Python's `math` module), a finite-difference gradient with
//! NaN propagation and an empty batch ([`check_unary_op`]), and each op's
//! edge values.

use super::*;
use crate::ops::util::testing::{check_unary_grad, check_unary_nan_and_empty, check_unary_op, unary_values};
use crate::prelude::*;

/// `y = f(x)` and `dx = dy * f'(x)`, in f64 (Relu in f32).
#[test]
fn forward_and_backward_values() {
    let e = [(-1.0f64).exp(), 1.0, 2.0f64.exp()];
    unary_values(Exp, [-1.0, 0.0, 2.0], [2.0, 1.0, 1.0])
        .y(&e, 1e-15, 0.0)
        .dx(&[2.0 * e[0], 1.0, e[2]], 1e-15, 0.0);
    unary_values(Log, [0.5, 1.0, 4.0], [1.0, 3.0, 2.0])
        .y(&[-std::f64::consts::LN_2, 0.0, 4.0f64.ln()], 1e-15, 0.0)
        .dx(&[2.0, 3.0, 0.5], 1e-15, 0.0);
    unary_values(Sqrt, [0.25, 1.0, 9.0], [1.0, 2.0, 6.0])
        .y(&[0.5, 1.0, 3.0], 0.0, 0.0)
        .dx(&[1.0, 1.0, 1.0], 0.0, 0.0);
    unary_values(Relu, [-1.0f32, 0.0, 0.5, 2.0], [1.0, 2.0, 3.0, 4.0])
        .y(&[0.0, 0.0, 0.5, 2.0], 0.0, 0.0)
        .dx(&[0.0, 0.0, 3.0, 4.0], 0.0, 0.0);
    // leaky_relu'(0) = slope, as in PyTorch.
    unary_values(LeakyRelu { slope: 0.1 }, [-2.0, 0.0, 0.5, 2.0], [1.0, 2.0, 3.0, 4.0])
        .y(&[-0.2, 0.0, 0.5, 2.0], 0.0, 0.0)
        .dx(&[0.1, 0.2, 3.0, 4.0], 0.0, 0.0);
    unary_values(Sigmoid, [-2.0, 0.0, 1.0, 50.0], [1.0, 2.0, 1.0, 1.0])
        .y(&[0.11920292202211755, 0.5, 0.7310585786300049, 1.0], 1e-14, 0.0)
        .dx(&[0.10499358540350652, 0.5, 0.19661193324148185, 0.0], 1e-12, 1e-20);
    unary_values(Tanh, [-0.5, 0.0, 2.0], [1.0, 3.0, 1.0])
        .y(&[-0.46211715726000974, 0.0, 0.9640275800758169], 1e-14, 0.0)
        .dx(&[0.7864477329659274, 3.0, 0.07065082485316443], 1e-12, 0.0);
    let gelu_x = [-1.0, 0.5, 2.0];
    unary_values(Gelu, gelu_x, [1.0; 3])
        .y(
            &[-0.15865525393145707, 0.34573123063700656, 1.9544997361036416],
            1e-12,
            0.0,
        )
        .dx(
            &[-0.08331547058768629, 0.8674951246561629, 1.085231801078197],
            1e-12,
            0.0,
        );
    unary_values(GeluTanh, gelu_x, [1.0; 3]).y(
        &[-0.15880800939172324, 0.34571400982514394, 1.954597694087775],
        1e-12,
        0.0,
    );
    unary_values(Powf { exponent: 3.0 }, [-2.0, 0.0, 3.0], [1.0, 1.0, 2.0])
        .y(&[-8.0, 0.0, 27.0], 0.0, 0.0)
        .dx(&[12.0, 0.0, 54.0], 1e-14, 0.0);
    unary_values(Powf { exponent: 0.0 }, [-2.0, 0.0, 3.0], [1.0, 1.0, 2.0])
        .y(&[1.0, 1.0, 1.0], 0.0, 0.0)
        .dx(&[0.0, 0.0, 0.0], 0.0, 0.0);
}

/// Finite-difference gradient at each op's points; NaN in gives NaN out;
/// an empty batch gives an empty output.
#[test]
fn gradient_nan_and_empty_batch() {
    check_unary_op(Exp, &[-3.0, -0.2, 0.0, 0.7, 2.5]);
    check_unary_op(Log, &[0.05, 0.3, 1.0, 2.5, 10.0]);
    check_unary_op(Sqrt, &[0.05, 0.3, 1.0, 2.5, 10.0]);
    // max(NaN, 0) is defined here as NaN (as in PyTorch), not silently 0.
    check_unary_op(Relu, &[-1.3, -0.2, 0.1, 0.7, 2.5]);
    check_unary_grad(LeakyRelu { slope: 0.2 }, &[-1.3, -0.2, 0.1, 0.7, 2.5]);
    // NaN's gradient is `dy * slope`, as in PyTorch.
    check_unary_nan_and_empty(LeakyRelu::default());
    check_unary_op(Sigmoid, &[-4.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    check_unary_op(Tanh, &[-3.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    check_unary_op(Gelu, &[-4.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    check_unary_op(GeluTanh, &[-4.0, -1.3, -0.2, 0.0, 0.1, 0.7, 2.5]);
    check_unary_grad(Powf { exponent: 2.5 }, &[0.05, 0.3, 1.0, 2.5]);
    check_unary_grad(Powf { exponent: -1.5 }, &[0.2, 1.0, 3.0]);
    check_unary_grad(Powf { exponent: 3.0 }, &[-2.0, -0.5, 0.5, 1.5]);
    // For a non-zero exponent; `NaN^0 = 1` (IEEE, PyTorch) is an edge value below.
    check_unary_nan_and_empty(Powf { exponent: 2.0 });
}

/// Each op's own edge values, in f32.
#[test]
fn edge_values() {
    let x = |v: Vec<f32>| Tensor::<S1<2>>::from_vec(&Cpu, 1, v).unwrap();
    assert!(log(&x(vec![-1.0, 1.0])).to_vec()[0].is_nan());
    // Computed without overflow for any x.
    assert_eq!(sigmoid(&x(vec![-1e30, 1e30])).to_vec(), vec![0.0, 1.0]);
    assert_eq!(powf(&x(vec![f32::NAN, 2.0]), 0.0).to_vec(), vec![1.0, 1.0]);
    assert_eq!(LeakyRelu::default().slope, 0.01);
}
