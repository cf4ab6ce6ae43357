//! The multilayer perceptron of `mnist_mlp` (trained by a hand-written
//! loop) and `ddp_mnist` (the same loop, data-parallel): one declaration.

use dl::prelude::*;

/// 784 -> 256 -> 128 -> 10 with ReLU.
#[network(input = [1, 28, 28])]
pub struct Mlp {
    flat: Flatten,
    fc1: Linear<784, 256>,
    relu1: ReLU,
    fc2: Linear<256, 128>,
    relu2: ReLU,
    fc3: Linear<128, 10>,
}
