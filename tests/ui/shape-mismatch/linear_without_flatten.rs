use dl::prelude::*;

#[network(input = [1, 28, 28])]
pub struct Net {
    conv: Conv2d<1, 8, 3>,
    pool: MaxPool2d<2>,
    fc: Linear<1352, 10>,
}

fn main() {}
