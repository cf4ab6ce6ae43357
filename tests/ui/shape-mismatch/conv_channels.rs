use dl::prelude::*;

#[network(input = [3, 32, 32])]
pub struct Net {
    conv1: Conv2d<3, 16, 3>,
    relu: ReLU,
    conv2: Conv2d<32, 64, 3>,
}

fn main() {}
