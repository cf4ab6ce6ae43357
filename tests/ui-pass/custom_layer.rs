// A user-defined layer passes through the macro, typed by `OutputShape`.
use dl::core::{Backend, Float, RawParam};
use dl::prelude::*;
use std::marker::PhantomData;

/// Identity on any shape.
pub struct Identity<B: Backend, E: Float>(PhantomData<(B, E)>);

impl<B: Backend, E: Float> Module<B, E> for Identity<B, E> {
    const NUM_PARAMS: usize = 0;
    fn init_with(_dev: &B, _rng: &mut Rng) -> Self {
        Identity(PhantomData)
    }
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &RawParam<B, E>)) {}
    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {}
    fn for_each_param(&mut self, _f: &mut dyn FnMut(&mut RawParam<B, E>)) {}
}

impl<S: Shape, B: Backend, E: Float> OutputShape<S> for Identity<B, E> {
    type Out = S;
}

impl<S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for Identity<B, E> {
    type Cache = ();
    fn new_cache(_dev: &B) {}
    fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
        out.copy_from(x);
    }
    fn backward_into(&mut self, _x: &Tensor<S, B, E>, _o: &Tensor<S, B, E>, _c: &mut (), dy: &Tensor<S, B, E>, dx: &mut Tensor<S, B, E>) {
        dx.copy_from(dy);
    }
}

#[network(input = [10])]
pub struct Net {
    fc: Linear<10, 4>,
    id: Identity,
    head: Linear<4, 2>,
}

fn main() {
    let m: Net = Net::init(&Cpu, 1);
    assert_eq!(m.forward(&Tensor::zeros(&Cpu, 3)).shape(), vec![3, 2]);
    assert_eq!(<Net>::SUMMARY.layers[1].output_shape, &[4]);
}
