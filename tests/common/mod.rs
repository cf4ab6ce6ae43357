//! Networks that several cross-crate tests exercise, declared once:
//! `network_grad` checks their backward against finite differences,
//! `cuda_network` runs them on both backends, `network_golden` checks a
//! training step of `GoldenCnn` against PyTorch. Each test file includes
//! this module with `mod common;` and uses what it needs.
#![allow(dead_code)]

use dl::prelude::*;

/// Linear, BatchNorm1d, GELU, Dropout, LogSoftmax.
#[network(input = [6])]
pub struct NormNet {
    fc1: Linear<6, 8>,
    bn: BatchNorm1d<8>,
    act: GELU,
    drop: Dropout<30>,
    fc2: Linear<8, 4>,
    out: LogSoftmax,
}

/// Full, causal and local multi-head attention on a sequence.
#[network(input = [5, 16])]
pub struct AttnNet {
    attn: MultiHeadAttention<16, 4>,
    ln: LayerNorm<16>,
    causal: MultiHeadAttention<16, 2, true>,
    local: LocalAttention<16, 2, 1>,
    pool: SeqMean,
    fc: Linear<16, 3>,
}

/// Token ids through an embedding.
#[network(input = [5])]
pub struct TokenNet {
    emb: Embedding<10, 4>,
    pool: SeqMean,
    fc: Linear<4, 2>,
}

/// The network of the `cnn_train_step` golden case:
/// `Conv2d(1, 4, 3, padding=1), ReLU, MaxPool2d(2), Flatten, Linear(64, 3)`.
#[network(input = [1, 8, 8])]
pub struct GoldenCnn {
    conv1: Conv2d<1, 4, 3, 1, 1>,
    relu: ReLU,
    pool: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<64, 3>,
}
