use dl::prelude::*;

#[network(input = [4])]
pub struct Net {
    fc: Linear<4>,
    relu: ReLU<2>,
    conv: Conv2d<1, 2, 3, 1, 0, 7>,
}

fn main() {}
