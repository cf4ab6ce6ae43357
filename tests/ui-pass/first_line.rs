// Issue 23: the first line a newcomer writes compiles without annotations
// (the default backend and f32), and f64 networks still initialise.
use dl::prelude::*;

#[network(input = [64])]
pub struct DigitsMlp {
    fc1: Linear<64, 32>,
    relu: ReLU,
    flat: Flatten,
    fc2: Linear<32, 10>,
}

fn main() {
    let dev = Cpu;
    let mut model = DigitsMlp::init(&dev, 42);
    let x = Tensor::zeros(&dev, 2);
    assert_eq!(model.forward(&x).shape(), vec![2, 10]);
    model.eval();
    let m64 = DigitsMlp::<Cpu, f64>::init(&dev, 42);
    let w32 = model.fc1.weight.value_vec();
    let w64 = m64.fc1.weight.value_vec();
    assert!((w32[0] as f64 - w64[0]).abs() < 1e-6);
}
