//! Activation layers: stateless element-wise ops on any shape, and softmax /
//! log-softmax over the last axis.
//!
//! **PyTorch equivalent**: `nn.ReLU()`, `nn.Sigmoid()`, `nn.Tanh()`,
//! `nn.GELU()`, `nn.GELU(approximate="tanh")`, `nn.LeakyReLU(slope)`,
//! `nn.Softmax(dim=-1)`, `nn.LogSoftmax(dim=-1)`.

use crate::module::{Module, OutputShape};
use dl_core::ops::softmax::{last_axis, SoftmaxDims};
use dl_core::{Backend, Cpu, Float, Shape};
use std::marker::PhantomData;

/// Implements `OutputShape<S> = S` for a shape-preserving activation.
macro_rules! same_shape {
    ($name:ident) => {
        impl<S: Shape, B: Backend, E: Float> OutputShape<S> for $name<B, E> {
            type Out = S;
        }
    };
}

/// Implements `Layer<S, S>` for an element-wise activation whose op is
/// `$op` (an expression of the layer, bound to `$l`).
macro_rules! unary_layer {
    ($name:ident, |$l:ident| $op:expr) => {
        super::cacheless_layer!(
            [S: Shape] $name<B, E>: S => S,
            |$l, x, out| x.device().unary_forward($op, x.buf(), out.buf_mut()),
            |dy, dx| x.device().unary_backward($op, x.buf(), out.buf(), dy.buf(), dx.buf_mut())
        );
    };
}

/// Declares a built-in layer without state, `$name<B, E>`, that keeps the
/// shape (`Module` derived, `OutputShape<S>` with `Out = S`).
macro_rules! stateless_layer_struct {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, Module)]
        #[module(crate = crate, builtin)]
        pub struct $name<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);
        same_shape!($name);
    };
}

/// Declares a unit-like activation struct with its `Module` and `Layer` impls.
macro_rules! activation_layer {
    ($(#[$m:meta])* $name:ident, $op:expr) => {
        stateless_layer_struct!($(#[$m])* $name);
        unary_layer!($name, |_l| $op);
    };
}

activation_layer!(
    /// Rectified linear unit, `max(x, 0)`. PyTorch: `nn.ReLU()`.
    ReLU,
    dl_core::ops::Relu
);
activation_layer!(
    /// Logistic sigmoid, `1 / (1 + e^-x)`. PyTorch: `nn.Sigmoid()`.
    Sigmoid,
    dl_core::ops::Sigmoid
);
activation_layer!(
    /// Hyperbolic tangent. PyTorch: `nn.Tanh()`.
    Tanh,
    dl_core::ops::Tanh
);
activation_layer!(
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`. PyTorch: `nn.GELU()`.
    GELU,
    dl_core::ops::Gelu
);
activation_layer!(
    /// GELU, tanh approximation. PyTorch: `nn.GELU(approximate="tanh")`.
    GELUTanh,
    dl_core::ops::GeluTanh
);

/// Leaky ReLU: `x` for `x > 0`, `slope * x` otherwise (`leaky_relu'(0) = slope`).
///
/// **PyTorch equivalent**: `nn.LeakyReLU(negative_slope=slope)`; `init` gives
/// PyTorch's default slope 0.01.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let mut l = LeakyReLU::<Cpu, f32>::init(&Cpu, 0);
/// l.slope = 0.5;
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![-2.0, 3.0]).unwrap();
/// assert_eq!(l.forward(&x).to_vec(), vec![-1.0, 3.0]);
/// ```
#[derive(Clone, Copy, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct LeakyReLU<B: Backend = Cpu, E: Float = f32> {
    /// Slope for `x <= 0` (default 0.01).
    #[skip(init = 0.01)]
    pub slope: f64,
    _p: PhantomData<(B, E)>,
}

impl<B: Backend, E: Float> LeakyReLU<B, E> {
    /// A leaky ReLU with the given slope.
    pub fn new(slope: f64) -> Self {
        Self { slope, _p: PhantomData }
    }
}

impl<B: Backend, E: Float> Default for LeakyReLU<B, E> {
    fn default() -> Self {
        Self::new(0.01)
    }
}

same_shape!(LeakyReLU);
unary_layer!(LeakyReLU, |l| dl_core::ops::LeakyRelu { slope: l.slope });

/// The softmax dims of a batch of `batch` samples of shape `S`, over its last axis.
fn last_axis_dims<S: Shape>(batch: usize, log: bool) -> SoftmaxDims {
    let (rows, cols) = last_axis::<S>(batch);
    SoftmaxDims::new(rows, cols, log)
}

/// Implements a softmax-like layer over the last axis.
macro_rules! softmax_layer {
    ($(#[$m:meta])* $name:ident, $log:expr) => {
        stateless_layer_struct!($(#[$m])* $name);
        super::cacheless_layer!(
            [S: Shape] $name<B, E>: S => S,
            |_l, x, out| x.device().softmax_forward(last_axis_dims::<S>(x.batch(), $log), x.buf(), out.buf_mut()),
            |dy, dx| x.device().softmax_backward(last_axis_dims::<S>(x.batch(), $log), out.buf(), dy.buf(), dx.buf_mut())
        );
    };
}

softmax_layer!(
    /// Softmax over the last axis (numerically stable). PyTorch: `nn.Softmax(dim=-1)`.
    Softmax,
    false
);
softmax_layer!(
    /// Log-softmax over the last axis (numerically stable). PyTorch: `nn.LogSoftmax(dim=-1)`.
    LogSoftmax,
    true
);

/// Checks an activation layer's backward against finite differences (f64).
#[cfg(test)]
pub(crate) fn check_activation<L: crate::module::Layer<dl_core::S1<6>, dl_core::S1<6>, Cpu, f64> + Clone>(
    xs: [f64; 12],
) {
    let l = L::init(&Cpu, 0);
    let x = dl_core::Tensor::<dl_core::S1<6>, Cpu, f64>::from_slice(&Cpu, 2, &xs).unwrap();
    super::test_util::check_layer(&l, &x, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::Layer;
    use dl_core::Tensor;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};
    use dl_core::{S1, S2};

    const XS: [f64; 12] = [-1.0, 0.5, 2.0, -0.3, 0.8, -2.0, 1.5, -0.1, 0.2, 3.0, -4.0, 0.9];

    #[test]
    fn relu_layer_gradient() {
        check_activation::<ReLU<Cpu, f64>>(XS);
    }
    #[test]
    fn smooth_activation_gradients() {
        check_activation::<Sigmoid<Cpu, f64>>(XS);
        check_activation::<Tanh<Cpu, f64>>(XS);
        check_activation::<GELU<Cpu, f64>>(XS);
        check_activation::<GELUTanh<Cpu, f64>>(XS);
        check_activation::<LeakyReLU<Cpu, f64>>(XS);
        check_activation::<Softmax<Cpu, f64>>(XS);
        check_activation::<LogSoftmax<Cpu, f64>>(XS);
    }
    #[test]
    fn softmax_is_over_the_last_axis() {
        let x = Tensor::<S2<2, 2>, Cpu, f64>::from_vec(&Cpu, 1, vec![0.0, 0.0, 1e4, 1e4]).unwrap();
        let y = Softmax::<Cpu, f64>::default().forward(&x);
        assert_eq!(y.to_vec(), vec![0.5, 0.5, 0.5, 0.5]);
        let ly = LogSoftmax::<Cpu, f64>::default().forward(&x).to_vec();
        assert!(ly.iter().all(|v| (v + std::f64::consts::LN_2).abs() < 1e-12));
    }
    #[test]
    fn leaky_relu_slope_field_and_default() {
        let mut l = LeakyReLU::<Cpu, f64>::init(&Cpu, 0);
        assert_eq!(l.slope, 0.01);
        l.slope = 0.2;
        let x = Tensor::<S1<2>, Cpu, f64>::from_vec(&Cpu, 1, vec![-1.0, 0.0]).unwrap();
        let mut out = Tensor::empty(&Cpu);
        l.forward_train_into(&x, &mut out, &mut ());
        let mut dx = Tensor::empty(&Cpu);
        l.backward_into(
            &x,
            &out,
            &mut (),
            &Tensor::from_vec(&Cpu, 1, vec![1.0, 1.0]).unwrap(),
            &mut dx,
        );
        assert_eq!(out.to_vec(), vec![-0.2, 0.0]);
        assert_eq!(dx.to_vec(), vec![0.2, 0.2]);
    }
    #[test]
    fn activations_have_no_state() {
        assert!(super::super::test_util::state_dict(&GELU::<Cpu, f32>::default(), "act.").is_empty());
        assert!(super::super::test_util::state_dict(&LeakyReLU::<Cpu, f32>::default(), "act.").is_empty());
        assert!(super::super::test_util::state_dict(&Softmax::<Cpu, f32>::default(), "sm.").is_empty());
    }
}
