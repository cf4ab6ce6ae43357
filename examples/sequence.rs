//! # sequence: MNIST rows as a 28-step sequence through an LSTM
//!
//! Each image is read as a sequence `S2<28, 28>`: 28 time steps (the rows
//! from top to bottom), 28 features each. An `LSTM<28, 128>` runs over the
//! rows (its input projection of all 28 steps is one GEMM, then the
//! recurrence), `LastStep` keeps the hidden state after the last row and a
//! `Linear<128, 10>` head classifies it. Training is backpropagation through
//! time with Adam and a cosine-decayed learning rate, through `fit`.
//!
//! **PyTorch equivalent**: `nn.LSTM(28, 128, batch_first=True)`,
//! `output[:, -1]`, `nn.Linear(128, 10)`; the `state_dict` names are
//! PyTorch's (`lstm.weight_ih_l0`, ...), so the checkpoint loads there.
//!
//! ```sh
//! cargo run --release --example sequence
//! cargo run --release --example sequence -- --epochs 1 --limit 5000
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 3), `--batch-size` (64), `--lr` (Adam, 2e-3, cosine-decayed per
//! epoch to a twentieth), `--seed`, `--device cpu|cuda|auto`, `--limit N`, `--quiet`.
//! Ends with `test_accuracy=0.xxxx`.

mod common;

use common::cli::Args;
use dl::prelude::*;

const PROGRAM: &str = "sequence";

/// An LSTM over the 28 rows of an image, classified from its last state.
#[network(input = [28, 28])]
pub struct RowLstm {
    lstm: LSTM<28, 128>,
    last: LastStep,
    head: Linear<128, 10>,
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "an LSTM over the 28 rows of an MNIST digit",
        Args::training(3, 64, 2e-3),
    );
    common::on_device!(dev => common::fit_cosine_and_test::<_, RowLstm<_>>(PROGRAM, &args, &dev))
}
