//! Pruning on `#[network]` models (cross-crate: needs the macro): the
//! `Pruned` optimizer inside `fit`, sparse checkpoints of a network, and
//! channel pruning into a smaller declared network.
use dl::nn::checkpoint;
use dl::prelude::*;
use dl::prune::{
    load_sparse_from_bytes, magnitude_prune, measured_sparsity, prune_channels, sparse_to_bytes, ChannelPair,
    PolynomialDecay, PruneError, Pruned, Scope, Selection,
};
use std::sync::Arc;

#[network(input = [1, 12, 12])]
pub struct Big {
    conv1: Conv2d<1, 8, 3>,
    bn1: BatchNorm2d<8>,
    relu1: ReLU,
    conv2: Conv2d<8, 6, 3>,
    relu2: ReLU,
    flat: Flatten,
    fc: Linear<384, 10>,
}

/// `Big` with half the channels of each convolution.
#[network(input = [1, 12, 12])]
pub struct Small {
    conv1: Conv2d<1, 4, 3>,
    bn1: BatchNorm2d<4>,
    relu1: ReLU,
    conv2: Conv2d<4, 3, 3>,
    relu2: ReLU,
    flat: Flatten,
    fc: Linear<192, 10>,
}

#[network(input = [8])]
pub struct Mlp {
    fc1: Linear<8, 32>,
    relu: ReLU,
    fc2: Linear<32, 3>,
}

fn pairs() -> Vec<ChannelPair> {
    vec![ChannelPair::new("conv1", "conv2").norm("bn1"), ("conv2", "fc").into()]
}

/// Zeroes output channel `c` of `layer` (weight rows and bias).
fn zero_channel(model: &mut Big, layer: &str, c: usize) {
    model.visit_mut("", &mut |name, p| {
        if name == format!("{layer}.weight") || name == format!("{layer}.bias") {
            let row = p.numel() / p.dims[0];
            let mut v = p.value_vec();
            v[c * row..(c + 1) * row].iter_mut().for_each(|x| *x = 0.0);
            p.set_value(&v).unwrap();
        }
    });
}

fn images(n: usize, seed: u64) -> Tensor<S3<1, 12, 12>> {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..n * 144).map(|_| rng.normal() as f32).collect();
    Tensor::from_slice(&Cpu, n, &x).unwrap()
}

/// When the channels to be pruned are already zero, the small network
/// computes exactly what the big one does.
#[test]
fn channel_copy_matches_the_big_network_when_pruned_channels_are_zero() {
    let mut big = Big::init(&Cpu, 3);
    // Non-trivial batch-norm statistics on the kept channels.
    big.visit_mut("", &mut |name, p| {
        if name == "bn1.running_var" {
            p.set_value(&[1.5, 0.5, 2.0, 1.0, 0.8, 1.2, 3.0, 0.7]).unwrap();
        }
    });
    for c in [0, 2, 5, 7] {
        zero_channel(&mut big, "conv1", c);
    }
    for c in [1, 4, 5] {
        zero_channel(&mut big, "conv2", c);
    }
    let mut small = Small::init(&Cpu, 99);
    let report = prune_channels(&big, &mut small, &pairs()).unwrap();
    assert_eq!(report.kept("conv1"), Some(&[1, 3, 4, 6][..]));
    assert_eq!(report.kept("conv2"), Some(&[0, 2, 3][..]));
    big.eval();
    small.eval();
    let x = images(5, 1);
    let (want, got) = (big.forward(&x).to_vec(), small.forward(&x).to_vec());
    for (a, b) in want.iter().zip(&got) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
    }
}

#[test]
fn channel_pruning_doc_example() {
    let big: Big = Big::init(&Cpu, 0);
    let mut small = Small::init(&Cpu, 0);
    let report = prune_channels(&big, &mut small, &pairs()).unwrap();
    assert_eq!(report.kept("conv1").unwrap().len(), 4);
    // Forgetting the batch norm between conv1 and conv2 is a typed error.
    let e = prune_channels(&big, &mut small, &[("conv1", "conv2").into(), ("conv2", "fc").into()]).unwrap_err();
    assert!(matches!(e, PruneError::ShapeMismatch { .. }), "{e}");
}

/// Three separable blobs in 8 dimensions.
fn blobs(n: usize, seed: u64) -> Arc<InMemoryDataset> {
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(n * 8);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        for d in 0..8 {
            let centre = if d % 3 == c { 2.0 } else { 0.0 };
            x.push((centre + 0.5 * rng.normal()) as f32);
        }
        y.push(c);
    }
    Arc::new(InMemoryDataset::new(x, y, 8, 3).unwrap())
}

/// `Pruned` is an optimizer, so `fit` prunes on schedule and keeps the
/// pruned weights at zero through every Adam step.
#[test]
fn fit_with_a_pruning_schedule() {
    let train = blobs(300, 1);
    let mut model: Mlp = Mlp::init(&Cpu, 5);
    // 10 steps per epoch; 0% -> 80% over steps 0..=30, every 5 steps.
    let schedule = PolynomialDecay::new(0.0, 0.8, 0, 30).frequency(5);
    let mut config = FitConfig::new(Pruned::new(Adam::new(1e-2), schedule), CrossEntropy::new())
        .epochs(5)
        .batch_size(30)
        .shuffle_seed(1)
        .quiet(true);
    let history = model.fit_mut(&train, &mut config).unwrap();
    let masks = config.optimizer().masks().unwrap();
    assert_eq!(masks.num_pruned(), ((8 * 32 + 32 * 3) as f64 * 0.8).round() as usize);
    assert_eq!(
        measured_sparsity(&model, &Selection::weights()).unwrap(),
        masks.sparsity()
    );
    let eval = model.evaluate(&train, &CrossEntropy::new(), 100).unwrap();
    assert!(eval.accuracy > 0.9, "{eval} ({history})");

    // A bad selection is an error before the first step.
    let mut model: Mlp = Mlp::init(&Cpu, 5);
    let config = FitConfig::new(
        Pruned::new(Adam::new(1e-2), schedule).selection(Selection::names(["fc9.weight"])),
        CrossEntropy::new(),
    )
    .quiet(true);
    let e = model.fit(&train, config).unwrap_err();
    assert!(e.to_string().contains("fc9.weight"), "{e}");
}

#[test]
fn sparse_checkpoint_of_a_network() {
    let mut model = Big::init(&Cpu, 7);
    let masks = magnitude_prune(&mut model, &Selection::weights(), 0.9, Scope::Global).unwrap();
    let sparse = sparse_to_bytes(&model, &masks).unwrap();
    let dense = checkpoint::save_to_bytes(&model).unwrap();
    assert!(
        dense.len() as f64 / sparse.len() as f64 > 4.0,
        "{} / {}",
        dense.len(),
        sparse.len()
    );
    let mut other = Big::init(&Cpu, 8);
    let loaded = load_sparse_from_bytes(&mut other, &sparse).unwrap();
    assert_eq!(loaded.num_pruned(), masks.num_pruned());
    let x = images(3, 2);
    assert_eq!(model.forward(&x).to_vec(), other.forward(&x).to_vec());
}
