//! # keras_fit: the Keras-style API with callbacks
//!
//! `model.fit(&train, FitConfig::new(opt, loss)...)` with everything Keras
//! users reach for:
//!
//! * validation data: the last 10 000 training images are held out
//!   (`InMemoryDataset::split`), the test set is only used at the end;
//! * `EarlyStopping` on `val_loss` (patience 2);
//! * `ModelCheckpoint` on `val_accuracy`, restoring the best epoch's weights
//!   at the end and saving them to `checkpoints/keras_fit_best.safetensors`
//!   at every improvement;
//! * an LR schedule callback (`LrScheduler::from_schedule(StepLr ..)`:
//!   halve the learning rate every 2 epochs);
//! * the `History` summary, its CSV, and the PNG plot of the curves written to
//!   `checkpoints/keras_fit_history.png`;
//! * `model.evaluate` and `model.predict` on the test set.
//!
//! ```sh
//! cargo run --release --example keras_fit
//! cargo run --release --example keras_fit -- --epochs 2 --limit 20000
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 6, early stopping may end sooner), `--batch-size` (64), `--lr`
//! (Adam, 1e-3), `--seed`, `--device cpu|cuda|auto`, `--limit N` (first N
//! training images, the last sixth of them for validation), `--quiet`.
//! Ends with `test_accuracy=0.xxxx`.

mod common;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::nn::optim::StepLr;
use dl::prelude::*;
use std::sync::Arc;
use std::time::Instant;

const PROGRAM: &str = "keras_fit";

/// A small CNN: Conv(16, 5x5) - pool - Conv(32, 5x5) - pool - FC(128) - Dropout - FC(10).
#[network(input = [1, 28, 28])]
pub struct SmallCnn {
    conv1: Conv2d<1, 16, 5>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<16, 32, 5>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<512, 128>,
    relu3: ReLU,
    drop: Dropout<25>,
    fc2: Linear<128, 10>,
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "Keras-style fit with validation and callbacks",
        Args::training(6, 64, 1e-3),
    );
    common::on_device!(dev => run(&args, &dev))
}

/// The whole example on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let (all_train, test) = common::mnist(PROGRAM, args);
    // Hold out the last sixth (10 000 of 60 000) for validation.
    let n = all_train.labels().len();
    let (train, val) = common::or_exit(PROGRAM, all_train.split(n - n / 6));
    let (train, val) = (Arc::new(train), Arc::new(val));
    common::say(
        args,
        format!("split: {} for training, {} for validation", train.len(), val.len()),
    );

    let mut model = SmallCnn::<B>::init(dev, args.seed);
    common::say(args, <SmallCnn>::SUMMARY);

    let best_path = common::checkpoint_path(PROGRAM, "keras_fit_best.safetensors");
    let mut early = EarlyStopping::new(Monitor::ValLoss).patience(2);
    let save_to = best_path.clone();
    let mut best = ModelCheckpoint::new(Monitor::ValAccuracy)
        .restore_best(true)
        .on_improve(move |epoch, m: &SmallCnn<B>| {
            checkpoint::save(m, &save_to).map_err(|e| e.to_string())?;
            println!("  checkpoint: val_accuracy improved at epoch {}, saved", epoch + 1);
            Ok(())
        });
    let schedule = LrScheduler::from_schedule(
        StepLr {
            step_size: 2,
            gamma: 0.5,
        },
        args.lr,
    );

    let start = Instant::now();
    let history = common::or_exit(
        PROGRAM,
        model.fit(
            &train,
            common::fit_config(args, Adam::<B>::new(args.lr), CrossEntropy::new())
                .validation(&val)
                .validation_batch_size(500)
                .callback(&mut early)
                .callback(&mut best)
                .callback(schedule),
        ),
    );
    let secs = start.elapsed().as_secs_f64();

    // The epoch lines were printed as `fit` went: a one-line summary here
    // (`history.table()` would print them again).
    common::say(args, format!("history: {history}"));
    if let (Some(e), Some(v)) = (best.best_epoch(), best.best_value()) {
        common::say(
            args,
            format!(
                "restored the weights of epoch {} (val_accuracy {:.2}%), saved in {}",
                e + 1,
                100.0 * v,
                best_path.display()
            ),
        );
    }
    if !history.epochs.is_empty() {
        let png = common::checkpoint_path(PROGRAM, "keras_fit_history.png");
        common::or_exit(PROGRAM, history.plot_png(&png));
        let csv = common::checkpoint_path(PROGRAM, "keras_fit_history.csv");
        common::or_exit(PROGRAM, history.write_csv(&csv));
        common::say(args, format!("curves: {} and {}", png.display(), csv.display()));
    }

    let eval = common::or_exit(PROGRAM, model.evaluate(&test, &CrossEntropy::new(), 500));
    let pred = common::or_exit(PROGRAM, model.predict(&test, 500));
    let first: Vec<String> = pred.classes.iter().take(10).map(|c| c.to_string()).collect();
    common::say(
        args,
        format!(
            "test: {eval} after {} epoch(s), {} of training\npredicted classes of the first 10 test images: {} (labels {:?})",
            history.epochs.len(),
            common::fmt_secs(secs),
            first.join(" "),
            &test.labels()[..10]
        ),
    );
    println!("test_accuracy={:.4}", eval.accuracy);
}
