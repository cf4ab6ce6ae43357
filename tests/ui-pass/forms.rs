// Other accepted forms: paths, named constants, private structs, defaults.
use dl::prelude::*;

const HIDDEN: usize = 32;

#[network(input = [16])]
struct Private {
    fc1: dl::nn::layers::Linear<16, HIDDEN>,
    act: dl::nn::layers::LeakyReLU,
    fc2: Linear<HIDDEN, 4>,
    bn: BatchNorm1d<4>,
    sig: Sigmoid,
}

#[network(input = [2, 8, 8])]
pub(crate) struct Pools {
    /// Documented field.
    max: MaxPool2d<3, 1, 1>,
    avg: AvgPool2d<2>,
    flat: Flatten,
    tanh: Tanh,
}

fn main() {
    let m: Private = Private::init(&Cpu, 0);
    assert_eq!(m.forward(&Tensor::zeros(&Cpu, 1)).shape(), vec![1, 4]);
    assert_eq!(<Pools>::SUMMARY.layers[2].output_shape, &[32]);
}
