//! # binary: breast-cancer diagnosis with one logit (float 0/1 targets)
//!
//! The breast-cancer data (569 samples, 30 features, label 0 malignant / 1
//! benign; see `data/README.md`) is split into a training part and a
//! held-out fifth (seeded shuffle), the features are standardised with the
//! training statistics, and a logistic regression `Linear<30, 1>` (one
//! logit) is trained with `fit` on binary cross-entropy with logits
//! (`BceWithLogits`, whose target is a float tensor of 0s and 1s: the
//! `Tabular` data set supplies each row's 0/1). `fit` and `evaluate` report
//! the binary accuracy (a logit above 0 predicts 1); a validation pass on
//! the held-out fifth each epoch shows `val_binary_accuracy`.
//!
//! **PyTorch equivalent**: `nn.Linear(30, 1)`, `nn.BCEWithLogitsLoss()`, Adam
//! (Keras: `loss="binary_crossentropy", metrics=["binary_accuracy"]`).
//!
//! ```sh
//! cargo run --release --example binary
//! ```
//! Options: `--data FILE` (default `data/breast_cancer/breast_cancer.csv.gz`),
//! `--epochs` (default 30), `--batch-size` (32), `--lr` (Adam, 0.01),
//! `--seed` (the split, the initialisation and the shuffling), `--device
//! cpu|cuda|auto`, `--quiet`. Ends with `test_accuracy=0.xxxx`.

mod common;
/// The network, declared once in examples/common/linear.rs (`tests/fit_targets.rs` trains it too).
#[path = "common/linear.rs"]
mod linear;

use common::cli::Args;
use dl::core::Backend;
use dl::nn::data::tabular::load_breast_cancer;
use dl::nn::train::{Evaluation, Metric, Progress};
use dl::prelude::*;
use linear::Logistic;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const PROGRAM: &str = "binary";

fn defaults() -> Args {
    Args {
        data: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/breast_cancer/breast_cancer.csv.gz"
        )),
        ..Args::training(30, 32, 0.01)
    }
}

fn main() {
    let (args, dev) = common::setup(PROGRAM, "logistic regression on the breast-cancer data", defaults());
    common::on_device!(dev => run(&args, &dev))
}

/// Trains and evaluates on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let data = common::or_exit(PROGRAM, load_breast_cancer(&args.data));
    let (mut train, mut test) = data.holdout(5, args.seed);
    let stats = train.standardise();
    test.standardise_with(&stats);
    common::say_rows(args, &train, &test);
    let (train, test) = (Arc::new(train), Arc::new(test));

    let mut model = Logistic::<B>::init(dev, args.seed);
    let start = Instant::now();
    let history = common::or_exit(
        PROGRAM,
        model.fit(
            &train,
            common::fit_config(args, Adam::<B>::new(args.lr), BceWithLogits)
                .validation(&test)
                .progress(Progress::Lines),
        ),
    );
    let secs = start.elapsed().as_secs_f64();
    let train_eval = common::or_exit(PROGRAM, model.evaluate(&train, &BceWithLogits, 512));
    let test_eval = common::or_exit(PROGRAM, model.evaluate(&test, &BceWithLogits, 512));
    let acc = |e: &Evaluation| e.metrics.get(Metric::BinaryAccuracy).unwrap_or(f64::NAN);
    common::say(
        args,
        format!(
            "{} epochs ({}): train {train_eval}, test {test_eval}",
            history.epochs.len(),
            common::fmt_secs(secs)
        ),
    );
    println!("train_accuracy={:.4}", acc(&train_eval));
    println!("test_accuracy={:.4}", acc(&test_eval));
}
