use dl::prelude::*;

#[network(input = [3, 16, 16])]
pub struct Net {
    conv: Conv2d<3, 32, 3, 1, 1>,
    bn: BatchNorm2d<16>,
    relu: ReLU,
}

fn main() {}
