// Networks nest; `#[shape]` gives later known layers literal numbers.
use dl::prelude::*;

#[network(input = [8, 4, 4])]
pub struct ConvBlock {
    conv: Conv2d<8, 8, 3, 1, 1>,
    bn: BatchNorm2d<8>,
    relu: ReLU,
}

#[network(input = [1, 4, 4])]
pub struct Net {
    stem: Conv2d<1, 8, 1>,
    block1: ConvBlock,
    #[shape([8, 4, 4])]
    block2: ConvBlock,
    flat: Flatten,
    head: Linear<128, 2>,
}

#[network(input = [1, 4, 4])]
pub struct Outer {
    inner: Net,
    softmax: Softmax,
}

fn main() {
    let mut m: Outer = Outer::init(&Cpu, 0);
    let x = Tensor::<S3<1, 4, 4>>::zeros(&Cpu, 2);
    let mut cache = Outer::new_cache(&Cpu);
    let y = m.forward_train_with(&x, &mut cache).clone();
    let mut dx = Tensor::empty(&Cpu);
    m.backward_with(&mut cache, &y, &mut dx);
    assert_eq!(dx.shape(), vec![2, 1, 4, 4]);
}
