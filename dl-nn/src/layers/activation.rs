//! Activation layers: stateless element-wise ops on any shape.
//!
//! **PyTorch equivalent**: `nn.ReLU()`.

use crate::module::{Layer, Module, OutputShape};
use dl_core::ops::util::{unary_backward_into, unary_into};
use dl_core::{Backend, Cpu, Float, RawParam, Rng, Shape, Tensor};
use std::marker::PhantomData;

/// Implements a stateless element-wise activation layer over any shape.
macro_rules! activation_layer {
    ($(#[$m:meta])* $name:ident, $op:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

        impl<B: Backend, E: Float> Module<B, E> for $name<B, E> {
            const NUM_PARAMS: usize = 0;
            fn init(_dev: &B, _rng: &mut Rng) -> Self {
                Self(PhantomData)
            }
            fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &RawParam<B, E>)) {}
            fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {}
            fn for_each_param(&mut self, _f: &mut dyn FnMut(&mut RawParam<B, E>)) {}
        }

        impl<S: Shape, B: Backend, E: Float> OutputShape<S> for $name<B, E> {
            type Out = S;
        }

        impl<S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for $name<B, E> {
            type Cache = ();
            fn new_cache(_dev: &B) {}
            fn forward(&self, x: &Tensor<S, B, E>) -> Tensor<S, B, E> {
                dl_core::ops::util::unary($op, x)
            }
            fn forward_train(&mut self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>, _c: &mut ()) {
                unary_into($op, x, out);
            }
            fn backward(
                &mut self,
                x: &Tensor<S, B, E>,
                out: &Tensor<S, B, E>,
                _c: &(),
                dy: &Tensor<S, B, E>,
                dx: &mut Tensor<S, B, E>,
            ) {
                unary_backward_into($op, x, out, dy, dx);
            }
        }
    };
}

activation_layer!(
    /// Rectified linear unit, `max(x, 0)`. PyTorch: `nn.ReLU()`.
    ReLU,
    dl_core::ops::Relu
);

/// Checks an activation layer's backward against finite differences (f64).
#[cfg(test)]
pub(crate) fn check_activation<L: Layer<dl_core::S1<6>, dl_core::S1<6>, Cpu, f64>>(xs: [f64; 12]) {
    use dl_core::gradcheck::{check_gradient, GradCheck};
    use dl_core::S1;
    let mut l = L::init(&Cpu, &mut Rng::new(0));
    let x = Tensor::<S1<6>, Cpu, f64>::from_slice(&Cpu, 2, &xs).unwrap();
    let g: Vec<f64> = (0..12).map(|i| 0.3 + (i as f64 * 0.7).sin()).collect();
    let gt = Tensor::from_slice(&Cpu, 2, &g).unwrap();
    let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
    let mut cache = L::new_cache(&Cpu);
    l.forward_train(&x, &mut out, &mut cache);
    l.backward(&x, &out, &cache, &gt, &mut dx);
    let f = |v: &[f64]| {
        let y = l.forward(&Tensor::from_slice(&Cpu, 2, v).unwrap()).to_vec();
        y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
    };
    check_gradient(f, &xs, &dx.to_vec(), GradCheck::default()).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn relu_layer_gradient() {
        check_activation::<ReLU<Cpu, f64>>([-1.0, 0.5, 2.0, -0.3, 0.8, -2.0, 1.5, -0.1, 0.2, 3.0, -4.0, 0.9]);
    }
}
