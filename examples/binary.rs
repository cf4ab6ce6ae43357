//! # binary: breast-cancer diagnosis with one logit (float 0/1 targets)
//!
//! The breast-cancer data (569 samples, 30 features, label 0 malignant / 1
//! benign; see `data/README.md`) is split into a training part and a
//! held-out fifth (seeded shuffle), the features are standardised with the
//! training statistics, and a logistic regression `Linear<30, 1>` (one
//! logit) is fitted by full-batch Adam on binary cross-entropy with logits
//! (`BceWithLogits`, whose target is a float tensor of 0s and 1s). It
//! prints the binary accuracy (logit > 0 predicts 1) on both parts.
//!
//! **PyTorch equivalent**: `nn.Linear(30, 1)`, `nn.BCEWithLogitsLoss()`, Adam.
//!
//! ```sh
//! cargo run --release --example binary
//! ```
//! Options: `--data FILE` (default `data/breast_cancer/breast_cancer.csv.gz`),
//! `--epochs` (full-batch steps, default 300), `--lr` (Adam, 0.01), `--seed`
//! (the split and the initialisation), `--device cpu|cuda|auto`, `--quiet`.
//! Ends with `test_accuracy=0.xxxx`.

mod common;

use dl::cli::Args;
use dl::core::Backend;
use dl::nn::data::tabular::{load_breast_cancer, Tabular};
use dl::nn::train::metrics::binary_accuracy;
use dl::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "binary";

/// Logistic regression: one logit from the 30 standardised features.
#[network(input = [30])]
pub struct Logistic {
    fc: Linear<30, 1>,
}

fn defaults() -> Args {
    Args {
        epochs: 300,
        lr: 0.01,
        data: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/breast_cancer/breast_cancer.csv.gz"
        )),
        ..Args::default()
    }
}

fn main() {
    let (args, dev) = common::setup(PROGRAM, "logistic regression on the breast-cancer data", defaults());
    common::on_device!(dev => run(&args, &dev))
}

fn tensors<B: Backend>(dev: &B, t: &Tabular) -> (Tensor<S1<30>, B>, Tensor<S1<1>, B>) {
    (
        common::or_exit(PROGRAM, Tensor::from_slice(dev, t.rows, &t.features)),
        common::or_exit(PROGRAM, Tensor::from_slice(dev, t.rows, &t.targets)),
    )
}

/// Trains and evaluates on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let data = common::or_exit(PROGRAM, load_breast_cancer(&args.data));
    let (mut train, mut test) = data.holdout(5, args.seed);
    let stats = train.standardise();
    test.standardise_with(&stats);
    common::say(
        args,
        format!(
            "data: {} training and {} test rows of {} features from {}",
            train.rows,
            test.rows,
            train.cols,
            args.data.display()
        ),
    );
    let (x, y) = tensors(dev, &train);
    let (xt, _) = tensors(dev, &test);

    let mut model = Logistic::<B>::init(dev, args.seed);
    let mut opt = Adam::<B>::new(args.lr);
    let mut grad = Tensor::empty(dev);
    let start = Instant::now();
    for step in 0..args.epochs {
        let (logits, mut cache) = model.forward_train(&x);
        let loss = common::or_exit(PROGRAM, BceWithLogits.loss(&logits, &y, &mut grad));
        model.zero_grad();
        model.backward_params(&mut cache, &grad);
        opt.step(&mut model);
        if step % 100 == 0 || step + 1 == args.epochs {
            let acc = binary_accuracy(&logits.to_vec(), &train.targets);
            common::say(args, format!("step {step}: training bce {loss:.4}, accuracy {acc:.4}"));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    model.eval();
    let train_acc = binary_accuracy(&model.forward(&x).to_vec(), &train.targets);
    let test_acc = binary_accuracy(&model.forward(&xt).to_vec(), &test.targets);
    common::say(
        args,
        format!(
            "train accuracy {train_acc:.4}, test accuracy {test_acc:.4} ({} of training)",
            common::fmt_secs(secs)
        ),
    );
    println!("test_accuracy={test_acc:.4}");
}
