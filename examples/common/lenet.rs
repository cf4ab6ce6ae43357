//! The README's main network, shared by `mnist_cnn` (which trains it) and
//! `serve` (which serves its checkpoint): one declaration, so the served
//! network is exactly the trained one.

use dl::prelude::*;

/// Conv(32, 3x3) - ReLU - MaxPool - Conv(64, 3x3) - ReLU - MaxPool - FC(128) - FC(10).
#[network(input = [1, 28, 28])]
pub struct LeNet {
    conv1: Conv2d<1, 32, 3>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<32, 64, 3>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<1600, 128>,
    relu3: ReLU,
    fc2: Linear<128, 10>,
}
