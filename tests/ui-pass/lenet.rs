// The design's LeNet, one training step, the summary.
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
    fc1: Linear<1600, 128>,
    relu3: ReLU,
    fc2: Linear<128, 10>,
}

fn main() {
    let dev = Cpu;
    let mut model = LeNet::init(&dev, 42);
    let x = Tensor::<S3<1, 28, 28>>::zeros(&dev, 2);
    let (logits, mut cache) = model.forward_train(&x);
    model.zero_grad();
    let _dx = model.backward(&mut cache, &logits);
    assert_eq!(<LeNet>::SUMMARY.layers[6].output_shape, &[1600]);
}
