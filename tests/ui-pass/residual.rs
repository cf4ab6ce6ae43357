// Residual blocks declared as networks; a projection shortcut.
use dl::prelude::*;

#[network(input = [16, 8, 8])]
pub struct BasicBlock {
    conv1: Conv2d<16, 16, 3, 1, 1>,
    bn1: BatchNorm2d<16>,
    relu: ReLU,
    conv2: Conv2d<16, 16, 3, 1, 1>,
    bn2: BatchNorm2d<16>,
}

#[network(input = [16, 8, 8])]
pub struct Down {
    conv1: Conv2d<16, 32, 3, 2, 1>,
    bn1: BatchNorm2d<32>,
}

#[network(input = [3, 8, 8])]
pub struct ResNet {
    stem: Conv2d<3, 16, 3, 1, 1>,
    block1: Residual<BasicBlock>,
    relu1: ReLU,
    block2: ResidualProj<Down, Conv2d<16, 32, 1, 2>>,
    gap: GlobalAvgPool2d,
    fc: Linear<32, 10>,
    mlp_res: Residual<Linear<10, 10>>,
}

fn main() {
    let m: ResNet = ResNet::init(&Cpu, 0);
    let y = m.forward(&Tensor::zeros(&Cpu, 1));
    assert_eq!(y.shape(), vec![1, 10]);
    let mut names = Vec::new();
    m.visit("", &mut |n, _| names.push(n.to_string()));
    assert!(names.contains(&"block1.conv2.weight".to_string()));
    assert!(names.contains(&"block2.shortcut.weight".to_string()));
}
