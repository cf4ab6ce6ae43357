//! # prune: the mnist_cnn network, 90% sparse and with half its channels
//!
//! Trains the `mnist_cnn` network (or loads `checkpoints/mnist_cnn.safetensors`
//! when `--data` is the default MNIST directory and the file exists), then
//! compresses it two ways:
//!
//! * **unstructured**: global magnitude pruning of every Conv2d/Linear
//!   weight from 0% to 90% along TF-MOT's polynomial schedule while
//!   fine-tuning (the `Pruned` optimizer wrapping Adam, inside `fit`), then
//!   a sparse checkpoint (bitmask + kept values) compared with the dense one;
//! * **structured**: half the output channels of both convolutions (the
//!   smallest by L1 norm) cut by copying the rest into `HalfLeNet`, a
//!   network declared below with `#[network]`, which is then fine-tuned and
//!   timed against the original.
//!
//! ```sh
//! cargo run --release --example prune
//! cargo run --release --example prune -- --data data/fashion --epochs 2 --seed 1
//! ```
//! Options: `--data DIR`, `--epochs N` (training of the dense network; each
//! fine-tuning runs `min(N, 2)` epochs), `--batch-size`, `--lr`, `--seed`,
//! `--limit N`, `--quiet`. Ends with `accuracy_before=`, `sparsity=`,
//! `accuracy_after=`, `size_ratio=` (dense file bytes / sparse file bytes),
//! `channel_accuracy_after=`, `speedup=` (original / half-channel forward
//! latency at batch 1, one thread, median of rounds of medians) and
//! `speedup_batch64=`.

#[allow(unused_macros, unused_imports)]
mod common;
#[path = "common/lenet.rs"]
mod lenet;

use dl::nn::checkpoint;
use dl::nn::data::InMemoryDataset;
use dl::prelude::*;
use dl::prune::{
    load_sparse, measured_sparsity, prune_channels, save_sparse, ChannelPair, PolynomialDecay, Pruned, Selection,
};
use lenet::LeNet;
use std::time::Instant;

const PROGRAM: &str = "prune";

/// `LeNet` with half the channels in each convolution (16 and 32): the
/// destination of the channel pruning. Every shape is checked at compile
/// time, as in the original.
#[network(input = [1, 28, 28])]
pub struct HalfLeNet {
    conv1: Conv2d<1, 16, 3>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<16, 32, 3>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<800, 128>,
    relu3: ReLU,
    fc2: Linear<128, 10>,
}

/// Forward latency of the big and the small network at batch `n`, one
/// thread: 5 alternating rounds, the median of the rounds' medians.
fn latency(big: &LeNet, small: &HalfLeNet, test: &InMemoryDataset, n: usize, reps: usize) -> (f64, f64) {
    let x = Tensor::<S3<1, 28, 28>>::from_slice(&Cpu, n, &test.data()[..784 * n]).expect("n images");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    pool.install(|| {
        let (mut b, mut s) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            b.push(common::median_us(reps / 8, reps, || {
                std::hint::black_box(big.forward(std::hint::black_box(&x)));
            }));
            s.push(common::median_us(reps / 8, reps, || {
                std::hint::black_box(small.forward(std::hint::black_box(&x)));
            }));
        }
        (common::median(b), common::median(s))
    })
}

fn main() {
    // The dense network: loaded, or trained as examples/mnist_cnn.rs does.
    let (args, mut model, train, test) =
        common::start_from_mnist_cnn::<LeNet>(PROGRAM, "magnitude and channel pruning of the mnist_cnn network");
    let ce = CrossEntropy::new();
    let finetune = args.epochs.clamp(1, 2);
    let before = common::or_exit(PROGRAM, model.evaluate(&test, &ce, 500));
    common::say(&args, format!("dense: {before}"));
    let dense_bytes = common::or_exit(PROGRAM, checkpoint::save_to_bytes(&model));

    // (a) Unstructured: 0% -> 90% over the first 60% of the fine-tuning
    // steps (every 50 steps, cubic), then fine-tuning with the masks fixed.
    let mut sparse_model: LeNet = LeNet::init(&Cpu, args.seed);
    common::or_exit(
        PROGRAM,
        checkpoint::load_from_bytes(&mut sparse_model, &dense_bytes, true),
    );
    let steps = (train.labels().len() as u64).div_ceil(args.batch_size as u64) * finetune as u64;
    let schedule = PolynomialDecay::new(0.0, 0.9, 0, steps * 6 / 10).frequency(50);
    let t = Instant::now();
    let mut config = common::fit_config(&args, Pruned::new(Adam::new(args.lr), schedule), ce)
        .epochs(finetune)
        .shuffle_seed(args.seed + 1)
        .callback(common::step_decay(args.lr, finetune));
    common::or_exit(PROGRAM, sparse_model.fit_mut(&train, &mut config));
    let masks = config.into_optimizer().into_parts().1.expect("the schedule pruned");
    common::say(
        &args,
        format!(
            "pruned and fine-tuned {finetune} epoch(s) in {}; per tensor: {:?}",
            common::fmt_secs(t.elapsed().as_secs_f64()),
            masks
                .layer_sparsity()
                .iter()
                .map(|(n, s)| format!("{n} {s:.3}"))
                .collect::<Vec<_>>()
        ),
    );
    let sparsity = common::or_exit(PROGRAM, measured_sparsity(&sparse_model, &Selection::weights()));
    let after = common::or_exit(PROGRAM, sparse_model.evaluate(&test, &ce, 500));
    let sparse_path = common::checkpoint_path(PROGRAM, "mnist_cnn_sparse.safetensors");
    let dense_path = common::checkpoint_path(PROGRAM, "mnist_cnn_pruned_dense.safetensors");
    common::or_exit(PROGRAM, save_sparse(&sparse_model, &masks, &sparse_path));
    common::or_exit(PROGRAM, checkpoint::save(&sparse_model, &dense_path));
    let size = |p: &std::path::Path| common::or_exit(PROGRAM, std::fs::metadata(p).map_err(|e| e.to_string())).len();
    let (dense_size, sparse_size) = (size(&dense_path), size(&sparse_path));
    // The sparse file restores the same network.
    let mut reloaded: LeNet = LeNet::init(&Cpu, args.seed + 7);
    common::or_exit(PROGRAM, load_sparse(&mut reloaded, &sparse_path));
    let re = common::or_exit(PROGRAM, reloaded.evaluate(&test, &ce, 500));
    common::say(
        &args,
        format!(
            "sparse: {after}; files: dense {dense_size} bytes, sparse {sparse_size} bytes ({}); reloaded: {re}",
            sparse_path.display()
        ),
    );

    // (b) Structured: keep the 16 of 32 and 32 of 64 channels with the
    // largest L1 norms, then fine-tune the smaller network.
    let mut small: HalfLeNet = HalfLeNet::init(&Cpu, args.seed);
    let pairs = [ChannelPair::new("conv1", "conv2"), ChannelPair::new("conv2", "fc1")];
    let report = common::or_exit(PROGRAM, prune_channels(&model, &mut small, &pairs));
    let copied = common::or_exit(PROGRAM, small.evaluate(&test, &ce, 500));
    common::say(
        &args,
        format!(
            "kept conv1 channels {:?}; copied, before fine-tuning: {copied}",
            report.kept("conv1").unwrap_or(&[])
        ),
    );
    let t = Instant::now();
    common::or_exit(
        PROGRAM,
        small.fit(
            &train,
            common::fit_config(&args, Adam::new(args.lr), ce)
                .epochs(finetune)
                .shuffle_seed(args.seed + 2)
                .callback(common::step_decay(args.lr, finetune)),
        ),
    );
    let channel_after = common::or_exit(PROGRAM, small.evaluate(&test, &ce, 500));
    common::say(
        &args,
        format!(
            "half channels, fine-tuned {finetune} epoch(s) in {}: {channel_after}",
            common::fmt_secs(t.elapsed().as_secs_f64())
        ),
    );
    let (big1, small1) = latency(&model, &small, &test, 1, 400);
    let (big64, small64) = latency(&model, &small, &test, 64, 40);
    common::say(
        &args,
        format!(
            "forward latency, 1 thread: batch 1 {big1:.1} us -> {small1:.1} us; batch 64 {big64:.0} us -> {small64:.0} us"
        ),
    );

    println!("accuracy_before={:.4}", before.accuracy);
    println!("sparsity={sparsity:.4}");
    println!("accuracy_after={:.4}", after.accuracy);
    println!("size_ratio={:.2}", dense_size as f64 / sparse_size as f64);
    println!("channel_fraction_pruned=0.50");
    println!("channel_accuracy_copied={:.4}", copied.accuracy);
    println!("channel_accuracy_after={:.4}", channel_after.accuracy);
    println!("speedup={:.2}", big1 / small1);
    println!("speedup_batch64={:.2}", big64 / small64);
}
