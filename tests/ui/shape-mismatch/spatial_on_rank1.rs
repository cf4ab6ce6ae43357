use dl::prelude::*;

#[network(input = [784])]
pub struct ConvOnFeatures {
    fc: Linear<784, 128>,
    conv: Conv2d<1, 8, 3>,
}

#[network(input = [784])]
pub struct PoolOnFeatures {
    pool: MaxPool2d<2>,
}

fn main() {}
