//! The generated backward of whole networks against a finite-difference
//! check (f64): input gradient and every trainable parameter's gradient.
//!
//! The scalar objective is `L = sum(output * g)` for a fixed, non-uniform
//! `g`, so `dL/doutput = g` is what `backward` receives.
use dl::core::gradcheck::{check_gradient, GradCheck};
use dl::prelude::*;

mod common;
use common::{AttnNet, GoldenCnn, NormNet, TokenNet};

#[network(input = [6])]
pub struct Mlp {
    fc1: Linear<6, 8>,
    act: Tanh,
    fc2: Linear<8, 3>,
}

#[network(input = [5, 8])]
pub struct SeqNet {
    ln: LayerNorm<8>,
    act: GELUTanh,
    pool: SeqMean,
    fc: Linear<8, 3>,
    sm: Softmax,
}

/// A block used as a layer of [`Outer`].
#[network(input = [8])]
pub struct Inner {
    fc: Linear<8, 8>,
    act: Sigmoid,
}

#[network(input = [6])]
pub struct Outer {
    fc: Linear<6, 8>,
    block: Inner,
    act: LeakyReLU,
    #[shape([8])]
    block2: Inner,
    bn: BatchNorm1d<8>,
    head: Linear<8, 2>,
}

const OPTS: GradCheck = GradCheck {
    eps: 1e-6,
    rtol: 1e-5,
    atol: 1e-7,
};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks input (when `$check_input`) and parameter gradients of `$net`.
macro_rules! gradcheck_net {
    ($net:ty, $x:expr, $check_input:expr) => {{
        let dev = Cpu;
        let x = $x;
        let batch = x.batch();
        let fresh = <$net>::init(&dev, 7);
        let mut model = fresh.clone();
        let (y, mut cache) = model.forward_train(&x);
        let g: Vec<f64> = (0..y.len()).map(|i| ((i as f64) * 0.37 + 0.1).sin()).collect();
        let gt = Tensor::from_slice(&dev, batch, &g).unwrap();
        model.zero_grad();
        let dx = model.backward(&mut cache, &gt);
        // Every numeric evaluation starts from the state before the analytic
        // pass (so dropout draws the same mask).
        let loss = |m: &$net, x: &Tensor<_, Cpu, f64>| -> f64 {
            let mut m = m.clone();
            let (y, _) = m.forward_train(x);
            dot(&y.to_vec(), &g)
        };
        if $check_input {
            check_gradient(
                |v| loss(&fresh, &Tensor::from_slice(&dev, batch, v).unwrap()),
                &x.to_vec(),
                &dx.to_vec(),
                OPTS,
            )
            .unwrap_or_else(|e| panic!("{}: input gradient: {e}", stringify!($net)));
        }
        let mut params = Vec::new();
        model.visit("", &mut |n, p| {
            if p.is_trainable() {
                params.push((n.to_string(), p.value_vec(), p.grad_vec()));
            }
        });
        assert!(!params.is_empty());
        for (name, value, grad) in &params {
            let mut m = fresh.clone();
            check_gradient(
                |v| {
                    m.visit_mut("", &mut |n, p| {
                        if n == name {
                            p.set_value(v).unwrap();
                        }
                    });
                    loss(&m, &x)
                },
                value,
                grad,
                OPTS,
            )
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", stringify!($net)));
        }
        params.len()
    }};
}

fn randn<S: Shape>(batch: usize, seed: u64) -> Tensor<S, Cpu, f64> {
    Tensor::randn(&Cpu, batch, &mut Rng::new(seed))
}

#[test]
fn mlp_backward_matches_finite_differences() {
    assert_eq!(gradcheck_net!(Mlp<Cpu, f64>, randn::<S1<6>>(4, 1), true), 4);
}

#[test]
fn norm_dropout_network_backward_matches_finite_differences() {
    // Linear, BatchNorm1d (weight, bias), Linear: 6 trainable tensors.
    assert_eq!(gradcheck_net!(NormNet<Cpu, f64>, randn::<S1<6>>(5, 2), true), 6);
}

#[test]
fn sequence_network_backward_matches_finite_differences() {
    assert_eq!(gradcheck_net!(SeqNet<Cpu, f64>, randn::<S2<5, 8>>(3, 3), true), 4);
}

#[test]
fn nested_network_backward_matches_finite_differences() {
    // fc, block.fc, block2.fc, bn, head: 10 trainable tensors.
    assert_eq!(gradcheck_net!(Outer<Cpu, f64>, randn::<S1<6>>(4, 4), true), 10);
}

#[test]
fn embedding_network_parameter_gradients() {
    let ids: Vec<f64> = [1, 4, 4, 9, 0, 3, 3, 2, 7, 5].iter().map(|&v| v as f64).collect();
    let x = Tensor::<S1<5>, Cpu, f64>::from_slice(&Cpu, 2, &ids).unwrap();
    assert_eq!(gradcheck_net!(TokenNet<Cpu, f64>, x, false), 3);
}

#[test]
fn backward_accumulates_and_zero_grad_clears() {
    let mut m = <Mlp<Cpu, f64>>::init(&Cpu, 3);
    let x = randn::<S1<6>>(2, 5);
    let (y, mut cache) = m.forward_train(&x);
    m.zero_grad();
    m.backward(&mut cache, &y);
    let once = m.fc1.weight.grad_vec();
    m.backward(&mut cache, &y);
    let twice = m.fc1.weight.grad_vec();
    assert!(once.iter().any(|&v| v != 0.0));
    for (a, b) in once.iter().zip(&twice) {
        assert!((2.0 * a - b).abs() < 1e-12);
    }
    m.zero_grad();
    let mut all_zero = true;
    m.visit("", &mut |_, p| all_zero &= p.grad_vec().iter().all(|&v| v == 0.0));
    assert!(all_zero);
}

/// A ResNet basic block without its final activation.
#[network(input = [4, 6, 6])]
pub struct BasicBlock {
    conv1: Conv2d<4, 4, 3, 1, 1>,
    bn1: BatchNorm2d<4>,
    relu: ReLU,
    conv2: Conv2d<4, 4, 3, 1, 1>,
    bn2: BatchNorm2d<4>,
}

/// A downsampling block: [4, 6, 6] -> [8, 3, 3].
#[network(input = [4, 6, 6])]
pub struct DownBlock {
    conv: Conv2d<4, 8, 3, 2, 1>,
    bn: BatchNorm2d<8>,
}

#[network(input = [1, 6, 6])]
pub struct TinyResNet {
    stem: Conv2d<1, 4, 3, 1, 1>,
    block1: Residual<BasicBlock>,
    relu: ReLU,
    down: ResidualProj<DownBlock, Conv2d<4, 8, 1, 2>>,
    pool: AvgPool2d<3>,
    gap: GlobalAvgPool2d,
    fc: Linear<8, 3>,
}

#[test]
fn cnn_backward_matches_finite_differences() {
    assert_eq!(gradcheck_net!(GoldenCnn<Cpu, f64>, randn::<S3<1, 8, 8>>(2, 6), true), 4);
}

#[test]
fn residual_network_backward_matches_finite_differences() {
    // stem 2, block1 8, down 4 + shortcut 2, fc 2.
    assert_eq!(
        gradcheck_net!(TinyResNet<Cpu, f64>, randn::<S3<1, 6, 6>>(2, 7), true),
        18
    );
}

#[test]
fn attention_network_backward_matches_finite_differences() {
    // Three attention layers with 4 tensors each, LayerNorm 2, fc 2.
    assert_eq!(gradcheck_net!(AttnNet<Cpu, f64>, randn::<S2<5, 16>>(2, 8), true), 16);
}

/// A network whose first layer is a residual block (its `backward_params`
/// reaches the block's first convolution).
#[network(input = [4, 6, 6])]
pub struct ResidualFirst {
    block: Residual<BasicBlock>,
    gap: GlobalAvgPool2d,
    fc: Linear<4, 3>,
}

/// A network whose first layer is a projection residual block.
#[network(input = [4, 6, 6])]
pub struct ProjectionFirst {
    down: ResidualProj<DownBlock, Conv2d<4, 8, 1, 2>>,
    gap: GlobalAvgPool2d,
    fc: Linear<8, 3>,
}

/// `backward_params` (no input gradient) accumulates exactly the parameter
/// gradients that `backward` does, bit for bit, for every layer kind that
/// skips its input-gradient work when it comes first: Linear, Conv2d,
/// MultiHeadAttention, Residual, ResidualProj, and the generated network.
macro_rules! params_only_matches_backward {
    ($net:ty, $x:expr) => {{
        let mut m = <$net>::init(&Cpu, 11);
        let x = $x;
        let (y, mut cache) = m.forward_train(&x);
        let g: Vec<f64> = (0..y.len()).map(|i| ((i as f64) * 0.61 + 0.2).cos()).collect();
        let dy = Tensor::from_slice(&Cpu, y.batch(), &g).unwrap();
        let grads = |m: &$net| {
            let mut v = Vec::new();
            m.visit("", &mut |n, p| {
                v.push((
                    n.to_string(),
                    p.grad_vec().iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                ))
            });
            v
        };
        m.zero_grad();
        let _ = m.backward(&mut cache, &dy);
        let full = grads(&m);
        m.zero_grad();
        m.backward_params(&mut cache, &dy);
        let only = grads(&m);
        assert!(full.iter().any(|(_, g)| g.iter().any(|&b| f64::from_bits(b) != 0.0)));
        assert_eq!(full, only, "{}", stringify!($net));
    }};
}

#[test]
fn backward_params_matches_backward_for_every_first_layer_kind() {
    params_only_matches_backward!(Mlp<Cpu, f64>, randn::<S1<6>>(4, 21));
    params_only_matches_backward!(GoldenCnn<Cpu, f64>, randn::<S3<1, 8, 8>>(2, 22));
    params_only_matches_backward!(AttnNet<Cpu, f64>, randn::<S2<5, 16>>(2, 23));
    params_only_matches_backward!(ResidualFirst<Cpu, f64>, randn::<S3<4, 6, 6>>(2, 24));
    params_only_matches_backward!(ProjectionFirst<Cpu, f64>, randn::<S3<4, 6, 6>>(2, 25));
    params_only_matches_backward!(TinyResNet<Cpu, f64>, randn::<S3<1, 6, 6>>(2, 26));
}
