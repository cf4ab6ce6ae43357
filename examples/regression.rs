//! # regression: disease progression from the diabetes data (float targets)
//!
//! The diabetes data (442 patients, 10 features, one float target; see
//! `data/README.md`) is split into a training part and a held-out fifth
//! (seeded shuffle), the features are standardised with the training
//! statistics (and the target too, for the optimiser's sake), and a linear
//! model `Linear<10, 1>` is trained with `fit` on the mean squared error
//! (`Mse`, a loss whose target is a float tensor: the `Tabular` data set
//! supplies each row's target). `fit` reports the regression metrics (MSE,
//! MAE, R²) per epoch, `evaluate` on the held-out fifth; MSE and MAE are
//! printed in the target's own units.
//!
//! One fifth of 442 rows is a small test set: the held-out R² of the same
//! model moves by about ±0.07 from one split to the next. So the example
//! holds out each fifth in turn (5-fold cross-validation, the protocol of
//! the reference figure, R² 0.48 for least squares) and reports every
//! fold's test R² and their mean as `test_r2=`; `--limit 1` keeps only the
//! first held-out fifth.
//!
//! **PyTorch equivalent**: `nn.Linear(10, 1)`, `nn.MSELoss()`, Adam
//! (Keras: `model.fit(x, y, epochs=..)` with `loss="mse", metrics=["mae"]`).
//!
//! ```sh
//! cargo run --release --example regression
//! ```
//! Options: `--data DIR` (default `data/diabetes`), `--epochs` (default
//! 100), `--batch-size` (128), `--lr` (Adam, 0.01), `--seed` (the split, the
//! initialisation and the shuffling), `--limit K` (run only the first K
//! folds; 0, the default, runs all 5), `--device cpu|cuda|auto`, `--quiet`.
//! Ends with `test_r2=0.xxxx` (the mean held-out R² of the folds run).

mod common;
/// The network, declared once in examples/common/linear.rs (`tests/fit_targets.rs` trains it too).
#[path = "common/linear.rs"]
mod linear;

use common::cli::Args;
use dl::core::Backend;
use dl::nn::data::tabular::{load_diabetes, Tabular};
use dl::nn::train::{Evaluation, Metric};
use dl::prelude::*;
use linear::Regressor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const PROGRAM: &str = "regression";

fn defaults() -> Args {
    Args {
        data: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/diabetes")),
        ..Args::training(100, 128, 0.01)
    }
}

fn main() {
    let (args, dev) = common::setup(PROGRAM, "linear regression on the diabetes data", defaults());
    common::on_device!(dev => run(&args, &dev))
}

/// A fold's held-out figures, MSE and MAE in the target's units.
struct Figures {
    mse: f64,
    mae: f64,
    r2: f64,
}

/// Trains and evaluates on `dev` (any backend): one model per held-out fifth.
fn run<B: Backend>(args: &Args, dev: &B) {
    let data = common::or_exit(PROGRAM, load_diabetes(&args.data));
    let folds = if args.limit == 0 { 5 } else { args.limit.min(5) };
    let start = Instant::now();
    let mut results = Vec::new();
    for fold in 0..folds {
        let te = run_fold(args, dev, &data, fold);
        common::say(
            args,
            format!(
                "fold {} of 5, held-out fifth: mse {:.2} - mae {:.2} - r2 {:.4}",
                fold + 1,
                te.mse,
                te.mae,
                te.r2
            ),
        );
        println!("fold_r2={:.4}", te.r2);
        results.push(te);
    }
    let mean = |f: fn(&Figures) -> f64| results.iter().map(f).sum::<f64>() / results.len() as f64;
    common::say(
        args,
        format!(
            "mean over {folds} held-out fifth(s) ({} in all)",
            common::fmt_secs(start.elapsed().as_secs_f64())
        ),
    );
    println!("test_mse={:.2}", mean(|m| m.mse));
    println!("test_mae={:.2}", mean(|m| m.mae));
    println!("test_r2={:.4}", mean(|m| m.r2));
}

/// The standardised figures of `e` in the target's units (R² does not change).
fn in_units(e: &Evaluation, std: f64) -> Figures {
    let get = |m: Metric| e.metrics.get(m).unwrap_or(f64::NAN);
    Figures {
        mse: get(Metric::Mse) * std * std,
        mae: get(Metric::Mae) * std,
        r2: get(Metric::R2),
    }
}

/// Fits on four fifths and returns the metrics on the held-out one.
fn run_fold<B: Backend>(args: &Args, dev: &B, data: &Tabular, fold: usize) -> Figures {
    let (mut train, mut test) = data.fold(5, fold, args.seed);
    let stats = train.standardise();
    test.standardise_with(&stats);
    let n = train.rows as f32;
    let mean = train.targets.iter().sum::<f32>() / n;
    let std = (train.targets.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    for t in [&mut train, &mut test] {
        t.targets.iter_mut().for_each(|v| *v = (*v - mean) / std);
    }
    if fold == 0 {
        common::say_rows(args, &train, &test);
    }
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut model = Regressor::<B>::init(dev, args.seed);
    let history = common::or_exit(
        PROGRAM,
        model.fit(
            &train,
            common::fit_config(args, Adam::<B>::new(args.lr), Mse).quiet(true),
        ),
    );
    if fold == 0 && !args.quiet {
        let last = history.last().expect("at least one epoch");
        common::say(
            args,
            format!(
                "{} epochs; last: training mse (standardised target) {:.4}, r2 {:.4}",
                history.epochs.len(),
                last.train_loss,
                last.train_metrics.r2.unwrap_or(f64::NAN)
            ),
        );
    }
    let tr = common::or_exit(PROGRAM, model.evaluate(&train, &Mse, 512));
    let tr = in_units(&tr, std as f64);
    common::say(
        args,
        format!(
            "fold {} of 5, training part: mse {:.2} - mae {:.2} - r2 {:.4}",
            fold + 1,
            tr.mse,
            tr.mae,
            tr.r2
        ),
    );
    let te = common::or_exit(PROGRAM, model.evaluate(&test, &Mse, 512));
    in_units(&te, std as f64)
}
