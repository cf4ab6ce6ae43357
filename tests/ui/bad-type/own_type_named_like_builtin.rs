// A user's own type named like a built-in layer is not read as the built-in.
use dl::core::{Backend, Float};
use dl::prelude::*;
use std::marker::PhantomData;

mod mine {
    use super::*;
    /// Not dl's `Linear`.
    #[derive(Module, Clone, Debug)]
    pub struct Linear<const IN: usize, const OUT: usize, B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);
}

#[network(input = [4])]
pub struct Net {
    fc1: mine::Linear<4, 8>,
}

fn main() {}
