// One misspelt layer type: one error, the unresolved name.
use dl::prelude::*;

#[network(input = [4])]
pub struct Net {
    fc1: Lineer<4, 8>,
    relu: ReLU,
    fc2: Linear<8, 2>,
}

fn main() {}
