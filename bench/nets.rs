//! The benchmark networks of `BENCHMARKS.md`, shared by `examples/bench.rs`,
//! `examples/bench_gpu.rs`, `examples/bench_ddp.rs` and
//! `tests/alloc_free_step.rs` (they include this file with `#[path]`).

use dl::prelude::*;

/// B1 and B3: 784 -> 512 -> ReLU -> 256 -> ReLU -> 10.
#[network(input = [784])]
pub struct Mlp {
    fc1: Linear<784, 512>,
    relu1: ReLU,
    fc2: Linear<512, 256>,
    relu2: ReLU,
    fc3: Linear<256, 10>,
}

/// B2: the LeNet-like CNN on `[1, 28, 28]`, the README's network
/// (`examples/mnist_cnn.rs`), declared once in `examples/common/lenet.rs`.
#[path = "../examples/common/lenet.rs"]
mod lenet;
#[allow(unused_imports)] // not every benchmark that includes this file runs B2
pub use lenet::LeNet as Cnn;

/// B4: `LayerNorm(x + MHA(x))`, mean over the sequence, Linear 128 -> 10.
#[network(input = [64, 128])]
pub struct AttnBlock {
    attn: Residual<MultiHeadAttention<128, 4>>,
    norm: LayerNorm<128>,
    pool: SeqMean,
    out: Linear<128, 10>,
}

/// A training step as `BENCHMARKS.md` defines it: zero grads, forward into
/// the reused cache, cross-entropy into the reused gradient buffer,
/// backward (parameter gradients only: the input is data, as in PyTorch
/// where it does not require a gradient), optimizer step.
/// Returns the loss.
#[allow(unused_macros)]
macro_rules! train_step {
    ($model:expr, $opt:expr, $x:expr, $labels:expr, $cache:expr, $dlogits:expr) => {{
        $model.zero_grad();
        let logits = $model.forward_train_with($x, $cache);
        let loss =
            dl::nn::loss::cross_entropy::cross_entropy_idx_into(logits, $labels, 0.0, $dlogits).expect("valid labels");
        $model.backward_params($cache, $dlogits);
        $opt.step(&mut $model);
        loss
    }};
}

/// Synthetic inputs (standard normal) and labels (uniform in `0..10`) from
/// a fixed seed.
pub fn synthetic<S: Shape>(batch: usize, seed: u64) -> (Tensor<S>, <Cpu as Storage>::Idx, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let x = Tensor::<S>::randn(&Cpu, batch, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|_| rng.below(10)).collect();
    let idx = dl::nn::loss::cross_entropy::labels_to_idx(&Cpu, &labels, 10).expect("labels below 10");
    (x, idx, labels)
}
