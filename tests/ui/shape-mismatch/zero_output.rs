use dl::prelude::*;

#[network(input = [1, 8, 8])]
pub struct Net {
    conv: Conv2d<1, 4, 3, 0>,
    pool: MaxPool2d<2, 2, 2>,
    avg: AvgPool2d<3, 0>,
}

fn main() {}
