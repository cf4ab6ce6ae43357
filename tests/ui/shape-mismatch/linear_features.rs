use dl::prelude::*;

#[network(input = [1, 28, 28])]
pub struct LeNet {
    conv1: Conv2d<1, 32, 3>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<32, 64, 3>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<1500, 128>,
    relu3: ReLU,
    fc2: Linear<128, 10>,
}

fn main() {}
