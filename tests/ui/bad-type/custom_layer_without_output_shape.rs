// A user's layer that forgets `OutputShape`: one error, naming the trait.
use dl::core::{Backend, Float};
use dl::prelude::*;
use std::marker::PhantomData;

#[derive(Module, Clone, Debug)]
pub struct Identity<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

impl<S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for Identity<B, E> {
    type Cache = ();
    fn new_cache(_: &B) {}
    fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
        out.copy_from(x);
    }
    fn backward_into(&mut self, _: &Tensor<S, B, E>, _: &Tensor<S, B, E>, _: &mut (), dy: &Tensor<S, B, E>, dx: &mut Tensor<S, B, E>) {
        dx.copy_from(dy);
    }
}

#[network(input = [4])]
pub struct Net {
    fc: Linear<4, 4>,
    id: Identity,
    head: Linear<4, 2>,
}

fn main() {}
