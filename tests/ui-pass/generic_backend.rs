// Code generic over the backend and the dtype uses a generated network.
use dl::prelude::*;

#[network(input = [6])]
pub struct Mlp {
    fc1: Linear<6, 16>,
    act: GELU,
    drop: Dropout,
    fc2: Linear<16, 3>,
}

fn step<B: Backend, E: Float>(model: &mut Mlp<B, E>, cache: &mut MlpCache<B, E>, x: &Tensor<S1<6>, B, E>, dx: &mut Tensor<S1<6>, B, E>) {
    let dy = model.forward_train_with(x, cache).clone();
    model.zero_grad();
    model.backward_with(cache, &dy, dx);
}

fn main() {
    let mut m = Mlp::<Cpu, f32>::init(&Cpu, 3);
    let mut cache = Mlp::new_cache(&Cpu);
    let mut dx = Tensor::empty(&Cpu);
    step(&mut m, &mut cache, &Tensor::zeros(&Cpu, 4), &mut dx);
    m.eval();
    m.train();
}
