//! # mnist_cnn: a LeNet-like CNN to 99% on MNIST
//!
//! The main job of the README. A two-convolution network declared with
//! `#[network]` (every shape checked at compile time; the summary below is
//! a `const`), trained Keras-style with `model.fit` (Adam, a step-decay
//! learning-rate schedule, the test set as validation data), evaluated
//! with `model.evaluate`, and saved to `checkpoints/mnist_cnn.safetensors`
//! (PyTorch `state_dict` names: `conv1.weight`, `fc2.bias`, ...). The
//! settings (`common::mnist_cnn_args`) and the schedule
//! (`common::step_decay`) are shared with the examples that start from
//! this network (quantize, prune).
//!
//! ```sh
//! cargo run --release --example mnist_cnn
//! cargo run --release --example mnist_cnn -- --epochs 1 --limit 5000   # a quick look
//! cargo run --release --features cuda --example mnist_cnn -- --device cuda  # on a GPU
//! cargo run --release --example mnist_cnn -- --precision bf16   # mixed precision
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 3), `--batch-size` (64), `--lr` (Adam, 1e-3, divided by 10 for
//! the last epoch), `--seed`, `--device cpu|cuda|auto`, `--limit N` (first
//! N training images), `--precision f32|bf16|f16` (mixed precision: the
//! products in bf16/f16 with `f32` accumulation and weights; on the CPU an
//! emulation of the numerics, at `f32` speed), `--quiet`. Ends with
//! `test_accuracy=0.99xx`.

mod common;
#[path = "common/lenet.rs"]
mod lenet;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::prelude::*;
pub use lenet::LeNet;
use std::time::Instant;

const PROGRAM: &str = "mnist_cnn";

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "a LeNet-like CNN trained to 99% on MNIST",
        Args {
            accepts_precision: true,
            ..common::mnist_cnn_args()
        },
    );
    common::on_device!(dev => run(&args, &dev))
}

/// Trains, evaluates and saves the network on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let (train, test) = common::mnist(PROGRAM, args);
    let mut model = LeNet::<B>::init(dev, args.seed);
    common::say(args, <LeNet>::SUMMARY);

    // Keras-style training: Adam at --lr, then a tenth of it for the last
    // epoch (when there is more than one), the test set as validation data.
    let start = Instant::now();
    let history = common::or_exit(
        PROGRAM,
        model.fit(
            &train,
            FitConfig::new(Adam::<B>::new(args.lr), CrossEntropy::new())
                .epochs(args.epochs)
                .batch_size(args.batch_size)
                .shuffle_seed(args.seed)
                .validation(&test)
                .validation_batch_size(500)
                .callback(common::step_decay(args.lr, args.epochs))
                .quiet(args.quiet)
                .mixed_precision(args.precision),
        ),
    );
    let train_secs = start.elapsed().as_secs_f64();
    common::say(args, &history);

    // Evaluated in the training precision (the weights stay f32).
    let eval = common::or_exit(
        PROGRAM,
        dl::core::amp::autocast(dev, args.precision, || model.evaluate(&test, &CrossEntropy::new(), 500))
            .map_err(dl::nn::train::TrainError::from)
            .and_then(|r| r),
    );
    common::say(
        args,
        format!(
            "test: {eval} after {} epoch(s), {} of training",
            history.epochs.len(),
            common::fmt_secs(train_secs)
        ),
    );
    let path = common::checkpoint_path(PROGRAM, "mnist_cnn.safetensors");
    common::or_exit(PROGRAM, checkpoint::save(&model, &path));
    common::say(args, format!("saved {}", path.display()));
    println!("test_accuracy={:.4}", eval.accuracy);
}
