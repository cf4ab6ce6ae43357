// Sequence layers in a network: Linear on every position, Conv1d and 1-D
// pooling over [channels, length], a bidirectional LSTM, a GRU, LastStep.
use dl::prelude::*;

#[network(input = [3, 32])]
pub struct ConvSeq {
    conv1: Conv1d<3, 8, 5, 1, 2>,
    relu: ReLU,
    pool: MaxPool1d<2>,
    conv2: Conv1d<8, 8, 3, 2>,
    avg: AvgPool1d<3, 1, 1>,
    gap: GlobalAvgPool1d,
    fc: Linear<8, 2>,
}

#[network(input = [12, 6])]
pub struct Recurrent {
    proj: Linear<6, 8>,
    lstm: LSTM<8, 5, 2, true>,
    gru: GRU<10, 4>,
    last: LastStep,
    head: Linear<4, 3>,
}

fn main() {
    let mut c = ConvSeq::init(&Cpu, 0);
    let x = Tensor::<S2<3, 32>>::zeros(&Cpu, 2);
    let (y, mut cache) = c.forward_train(&x);
    assert_eq!(y.shape(), vec![2, 2]);
    let dx = c.backward(&mut cache, &y);
    assert_eq!(dx.shape(), vec![2, 3, 32]);
    let mut r = Recurrent::init(&Cpu, 0);
    let x = Tensor::<S2<12, 6>>::zeros(&Cpu, 2);
    let (y, mut cache) = r.forward_train(&x);
    assert_eq!(y.shape(), vec![2, 3]);
    let dx = r.backward(&mut cache, &y);
    assert_eq!(dx.shape(), vec![2, 12, 6]);
    let mut names = vec![];
    r.visit("", &mut |n, _| names.push(n.to_string()));
    assert!(names.contains(&"lstm.weight_hh_l1_reverse".to_string()));
    assert!(names.contains(&"gru.bias_ih_l0".to_string()));
}
