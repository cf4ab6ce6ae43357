use dl::prelude::*;

#[network(input = [1, 12, 12])]
pub struct Net {
    conv1: Conv2d<1, 8, 3>,
    pool1: MaxPool2d<2>,
    pool2: MaxPool2d<2>,
    conv2: Conv2d<8, 8, 5>,
}

fn main() {}
