//! `#[network]` structs generic over the backend, instantiated with
//! `B = Cuda` (feature `cuda`): a compile-time check that every layer's
//! kernels exist for `Cuda`, and, on a machine with a GPU, forward, backward
//! and a few training steps against the same networks on the CPU. Without
//! a GPU the runtime tests print `skipped: no CUDA driver/GPU (...)`.
#![cfg(feature = "cuda")]
use dl::core::ops::util::testing::assert_close;
use dl::core::Cuda;
use dl::nn::train::{train_step, StepBuffers};
use dl::prelude::*;

mod common;
use common::{AttnNet, NormNet, TokenNet};

#[network(input = [1, 12, 12])]
pub struct Cnn {
    conv1: Conv2d<1, 4, 3, 1, 1>,
    bn: BatchNorm2d<4>,
    relu: ReLU,
    pool: MaxPool2d<2>,
    conv2: Conv2d<4, 8, 3, 2, 1>,
    avg: AvgPool2d<3>,
    gap: GlobalAvgPool2d,
    fc: Linear<8, 5>,
}

/// Compile-time: the generated networks are `Network`s on `Cuda`.
#[test]
fn generic_networks_type_check_with_cuda() {
    fn is_network<N: Network<Cuda, f32>>() {}
    is_network::<Cnn<Cuda>>();
    is_network::<NormNet<Cuda>>();
    is_network::<AttnNet<Cuda>>();
    is_network::<TokenNet<Cuda>>();
    fn is_network_f64<N: Network<Cuda, f64>>() {}
    is_network_f64::<Cnn<Cuda, f64>>();
}

fn dev() -> Option<Cuda> {
    match Cuda::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            dl::core::cuda::skip_test(&format!("no CUDA driver/GPU ({e})"));
            None
        }
    }
}

/// Forward (training mode) and backward of `$net` on both devices from the
/// same initial weights and input `$x` (host values, per-sample shape `$s`).
macro_rules! same_on_both {
    ($net:ident, $s:ty, $batch:expr, $x:expr) => {{
        let Some(cuda) = dev() else { return };
        let x: Vec<f64> = $x;
        let batch = $batch;
        let mut a = $net::<Cpu, f64>::init(&Cpu, 7);
        let mut b = $net::<Cuda, f64>::init(&cuda, 7);
        let xa = Tensor::<$s, Cpu, f64>::from_slice(&Cpu, batch, &x).unwrap();
        let xb = Tensor::<$s, Cuda, f64>::from_slice(&cuda, batch, &x).unwrap();
        let (ya, mut ca) = a.forward_train(&xa);
        let (yb, mut cb) = b.forward_train(&xb);
        assert_close(&yb.to_vec(), &ya.to_vec(), 1e-9, 1e-11);
        let g: Vec<f64> = (0..ya.len()).map(|i| ((i as f64) * 0.37 + 0.1).sin()).collect();
        a.zero_grad();
        b.zero_grad();
        let dxa = a.backward(&mut ca, &Tensor::from_slice(&Cpu, batch, &g).unwrap());
        let dxb = b.backward(&mut cb, &Tensor::from_slice(&cuda, batch, &g).unwrap());
        assert_close(&dxb.to_vec(), &dxa.to_vec(), 1e-9, 1e-11);
        let (mut ga, mut gb) = (Vec::new(), Vec::new());
        a.visit("", &mut |n, p| ga.push((n.to_string(), p.grad_vec())));
        b.visit("", &mut |n, p| gb.push((n.to_string(), p.grad_vec())));
        assert_eq!(ga.len(), gb.len());
        for ((na, va), (nb, vb)) in ga.iter().zip(&gb) {
            assert_eq!(na, nb);
            assert_close(vb, va, 1e-9, 1e-11);
        }
    }};
}

fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.normal()).collect()
}

#[test]
fn cnn_matches_cpu() {
    same_on_both!(Cnn, S3<1, 12, 12>, 3, values(3 * 144, 1));
}

#[test]
fn norm_net_matches_cpu() {
    same_on_both!(NormNet, S1<6>, 9, values(9 * 6, 2));
}

#[test]
fn attention_net_matches_cpu() {
    same_on_both!(AttnNet, S2<5, 16>, 2, values(2 * 80, 3));
}

#[test]
fn token_net_matches_cpu() {
    same_on_both!(TokenNet, S1<5>, 4, (0..20).map(|i| ((i * 3) % 10) as f64).collect());
}

/// Five SGD steps of `Cnn` on both devices from the same weights and data
/// (drawn with `seed`), every step in an autocast scope of `p` (a no-op
/// for `F32`): the CUDA losses follow the CPU's within `rtol |cpu| + atol`.
fn steps_follow(cuda: &Cuda, p: dl::core::amp::Precision, seed: u64, rtol: f32, atol: f32) {
    use dl::core::amp::autocast;
    let xs: Vec<f32> = values(8 * 144, seed).iter().map(|&v| v as f32).collect();
    let labels: Vec<usize> = (0..8).map(|i| i % 5).collect();
    let mut a = Cnn::<Cpu, f32>::init(&Cpu, 3);
    let mut b = Cnn::<Cuda, f32>::init(cuda, 3);
    let xa = Tensor::<S3<1, 12, 12>>::from_slice(&Cpu, 8, &xs).unwrap();
    let xb = Tensor::<S3<1, 12, 12>, Cuda>::from_slice(cuda, 8, &xs).unwrap();
    let (mut ba, mut bb) = (StepBuffers::new(&Cpu), StepBuffers::new(cuda));
    let (mut oa, mut ob) = (Sgd::<Cpu>::new(0.1), Sgd::<Cuda>::new(0.1));
    let loss = CrossEntropy::new();
    for step in 0..5 {
        let la = autocast(&Cpu, p, || {
            train_step(&mut a, &mut ba, &xa, &labels[..], &loss, &mut oa)
        })
        .unwrap()
        .unwrap();
        let lb = autocast(cuda, p, || {
            train_step(&mut b, &mut bb, &xb, &labels[..], &loss, &mut ob)
        })
        .unwrap()
        .unwrap();
        assert!(
            (la - lb).abs() <= rtol * la.abs() + atol,
            "{p} step {step}: cpu {la}, cuda {lb}"
        );
    }
}

/// A few SGD steps of `Net<Cuda>` follow the CPU's losses.
#[test]
fn training_steps_follow_the_cpu() {
    let Some(cuda) = dev() else { return };
    steps_follow(&cuda, dl::core::amp::Precision::F32, 4, 1e-4, 1e-5);
}

/// A few SGD steps in bf16 and f16 autocast (tensor-core products on
/// CUDA, the CPU's emulation of them) follow each other's losses. The two
/// sum the `f32` products in different orders, so a product can round to
/// the neighbouring bf16/f16 value: within 2% of the loss, not bit for bit.
#[test]
fn autocast_training_steps_follow_the_cpu() {
    use dl::core::amp::Precision;
    let Some(cuda) = dev() else { return };
    for p in [Precision::Bf16, Precision::F16] {
        steps_follow(&cuda, p, 5, 2e-2, 1e-3);
    }
}

/// The PyTorch golden `train_step` cases (an MLP and a CNN: forward, loss,
/// every parameter gradient, one SGD step) on the GPU, through the same
/// runner as on the CPU. `DL_GOLDEN_DIR` points at the golden files when the
/// test binary runs outside the repository (`scripts/gpu_check.sh`).
#[test]
fn golden_train_steps_pass_on_cuda() {
    let Some(cuda) = dev() else { return };
    let dir = std::env::var_os("DL_GOLDEN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(dl::nn::golden::vendored_dir);
    let cases = dl::nn::golden::load_dir(&dir).unwrap();
    let mut ran = 0;
    for c in cases.iter().filter(|c| c.kind == "train_step") {
        dl::nn::golden::run_train_step_on(&cuda, c).unwrap_or_else(|e| panic!("golden case `{}` on CUDA: {e}", c.name));
        println!("golden {} on CUDA: ok", c.name);
        ran += 1;
    }
    assert!(ran >= 2, "expected the mlp and cnn train_step cases, ran {ran}");
}
