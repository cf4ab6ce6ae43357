use dl::core::{Backend, Float, RawParam};
use dl::prelude::*;

/// A user layer: `[4] -> [6]` (a `Linear` inside).
pub struct Widen<B: Backend, E: Float> {
    inner: Linear<4, 6, B, E>,
}

impl<B: Backend, E: Float> Module<B, E> for Widen<B, E> {
    const NUM_PARAMS: usize = 30;
    fn init_with(dev: &B, rng: &mut Rng) -> Self {
        Self { inner: Module::init_with(dev, rng) }
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<B, E>)) {
        self.inner.visit(prefix, f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {
        self.inner.visit_mut(prefix, f)
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>)) {
        self.inner.for_each_param(f)
    }
}

impl<B: Backend, E: Float> OutputShape<S1<4>> for Widen<B, E> {
    type Out = S1<6>;
}

impl<B: Backend, E: Float> Layer<S1<4>, S1<6>, B, E> for Widen<B, E> {
    type Cache = GemmWorkspace;
    fn new_cache(_dev: &B) -> GemmWorkspace { GemmWorkspace::new() }
    fn forward_into(&self, x: &Tensor<S1<4>, B, E>, out: &mut Tensor<S1<6>, B, E>) {
        self.inner.forward_into(x, out)
    }
    fn forward_train_into(&mut self, x: &Tensor<S1<4>, B, E>, out: &mut Tensor<S1<6>, B, E>, c: &mut GemmWorkspace) {
        self.inner.forward_train_into(x, out, c)
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S1<4>, B, E>,
        out: &Tensor<S1<6>, B, E>,
        c: &mut GemmWorkspace,
        dy: &Tensor<S1<6>, B, E>,
        dx: &mut Tensor<S1<4>, B, E>,
    ) {
        self.inner.backward_into(x, out, c, dy, dx)
    }
}

#[network(input = [4])]
pub struct Net {
    widen: Widen,
    fc: Linear<5, 2>,
}

fn main() {}
