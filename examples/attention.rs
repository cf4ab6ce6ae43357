//! # attention: MNIST read as a sequence of 28 row tokens
//!
//! Each image is a sequence `S2<28, 28>`: 28 tokens (the rows), 28 features
//! each (the loader reshapes for free: it only checks that 28 * 28 is the
//! sample length). A one-block post-norm transformer encoder classifies it:
//! a per-token linear embedding to `d_model = 64` plus a learned position
//! embedding, `Residual<MultiHeadAttention<64, 4>>` (self-attention,
//! `out = attn(x) + x`) and `LayerNorm`, a residual feed-forward block and
//! `LayerNorm`, `SeqMean` (mean over the tokens) and a `Linear` head.
//!
//! `Linear` on a sequence `S2<T, IN>` maps every token (the last axis), as
//! `nn.Linear` on `[N, T, IN]` does. It also shows a user-defined layer:
//! `PosEmbedding` is written here, implements `Module`, `Layer` and
//! `OutputShape`, and passes through `#[network]` like built-in layers,
//! shape-checked by the compiler.
//!
//! ```sh
//! cargo run --release --example attention
//! cargo run --release --example attention -- --epochs 1 --limit 5000
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 6), `--batch-size` (64), `--lr` (Adam, 2e-3, cosine-decayed per
//! epoch to a twentieth), `--seed`, `--device cpu|cuda|auto`, `--limit N`, `--quiet`.
//! Ends with `test_accuracy=0.xxxx`.

mod common;

use common::cli::Args;
use dl::core::init::Init;
use dl::core::ops::bias::BiasDims;
use dl::core::{Backend, Float, Param, RawParam};
use dl::prelude::*;

const PROGRAM: &str = "attention";

/// A learned position embedding added to the tokens: `y[n, t, :] = x[n, t, :] + weight[t, :]`.
/// Parameter `weight [T, D]`, initialised `N(0, 0.02)`.
#[derive(Clone, Debug)]
pub struct PosEmbedding<const T: usize, const D: usize, B: Backend = Cpu, E: Float = f32> {
    weight: Param<S2<T, D>, B, E>,
}

impl<const T: usize, const D: usize, B: Backend, E: Float> PosEmbedding<T, D, B, E> {
    fn dims(n: usize) -> BiasDims {
        // The [T, D] table is a bias over T * D "channels" of each sample.
        BiasDims {
            outer: n,
            channels: T * D,
            inner: 1,
        }
    }
}

impl<const T: usize, const D: usize, B: Backend, E: Float> Module<B, E> for PosEmbedding<T, D, B, E> {
    const NUM_PARAMS: usize = T * D;
    fn init_with(dev: &B, rng: &mut Rng) -> Self {
        Self {
            weight: Param::init(dev, Init::Normal { mean: 0.0, std: 0.02 }, rng),
        }
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<B, E>)) {
        f(&format!("{prefix}weight"), &self.weight);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {
        f(&format!("{prefix}weight"), &mut self.weight);
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>)) {
        f(&mut self.weight);
    }
}

impl<const T: usize, const D: usize, B: Backend, E: Float> OutputShape<S2<T, D>> for PosEmbedding<T, D, B, E> {
    type Out = S2<T, D>;
}

impl<const T: usize, const D: usize, B: Backend, E: Float> Layer<S2<T, D>, S2<T, D>, B, E>
    for PosEmbedding<T, D, B, E>
{
    type Cache = ();
    fn new_cache(_dev: &B) {}
    fn forward_into(&self, x: &Tensor<S2<T, D>, B, E>, out: &mut Tensor<S2<T, D>, B, E>) {
        out.copy_from(x);
        x.device()
            .bias_add(Self::dims(x.batch()), &self.weight.value, out.buf_mut());
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S2<T, D>, B, E>,
        _out: &Tensor<S2<T, D>, B, E>,
        _cache: &mut (),
        dy: &Tensor<S2<T, D>, B, E>,
        dx: &mut Tensor<S2<T, D>, B, E>,
    ) {
        dx.copy_from(dy);
        x.device()
            .bias_grad(Self::dims(x.batch()), dy.buf(), &mut self.weight.raw_mut().grad);
    }
}

/// The position-wise feed-forward block: 64 -> 128 -> 64 per token.
#[network(input = [28, 64])]
pub struct FeedForward {
    fc1: Linear<64, 128>,
    act: GELU,
    fc2: Linear<128, 64>,
}

/// A one-block transformer encoder over the 28 rows of an image.
#[network(input = [28, 28])]
pub struct RowTransformer {
    embed: Linear<28, 64>,
    pos: PosEmbedding<28, 64>,
    attn: Residual<MultiHeadAttention<64, 4>>,
    ln1: LayerNorm<64>,
    ff: Residual<FeedForward>,
    ln2: LayerNorm<64>,
    pool: SeqMean,
    head: Linear<64, 10>,
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "self-attention over the 28 rows of an MNIST digit",
        Args::training(6, 64, 2e-3),
    );
    common::on_device!(dev => common::fit_cosine_and_test::<_, RowTransformer<_>>(PROGRAM, &args, &dev))
}
