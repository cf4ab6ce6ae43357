//! # mnist_cnn: a LeNet-like CNN to 99% on MNIST
//!
//! The main job of the README. A two-convolution network declared with
//! `#[network]` (every shape checked at compile time; the summary below is
//! a `const`), trained Keras-style with `model.fit` (Adam, a step-decay
//! learning-rate schedule, the test set as validation data), evaluated
//! with `model.evaluate` (both in `common::fit_and_test`, which the
//! `sequence` and `attention` examples share; `common::fit_config` builds
//! the `FitConfig` from the command line), and saved to
//! `checkpoints/mnist_cnn.safetensors` (PyTorch `state_dict` names:
//! `conv1.weight`, `fc2.bias`, ...).
//!
//! ```sh
//! cargo run --release --example mnist_cnn
//! cargo run --release --example mnist_cnn -- --epochs 1 --limit 5000   # a quick look
//! cargo run --release --features cuda --example mnist_cnn -- --device cuda  # on a GPU
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`
//! (default 3), `--batch-size` (64), `--lr` (Adam, 1e-3, divided by 10 for
//! the last epoch), `--seed`, `--device cpu|cuda|auto`, `--limit N` (first
//! N training images), `--quiet`. Ends with `test_accuracy=0.99xx`.

mod common;
#[path = "common/lenet.rs"]
mod lenet;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::prelude::*;
pub use lenet::LeNet;

const PROGRAM: &str = "mnist_cnn";

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "a LeNet-like CNN trained to 99% on MNIST",
        common::mnist_cnn_args(),
    );
    common::on_device!(dev => run(&args, &dev))
}

/// Trains, evaluates and saves the network on `dev` (any backend).
fn run<B: Backend>(args: &Args, dev: &B) {
    let (train, test) = common::mnist(PROGRAM, args);
    let mut model = LeNet::<B>::init(dev, args.seed);
    common::say(args, <LeNet>::SUMMARY);

    // Adam at --lr, then a tenth of it for the last epoch (when there is
    // more than one).
    let config = common::fit_config(args, Adam::<B>::new(args.lr), CrossEntropy::new())
        .callback(common::step_decay(args.lr, args.epochs));
    let eval = common::fit_and_test(PROGRAM, args, &mut model, &train, &test, config);
    let path = common::checkpoint_path(PROGRAM, "mnist_cnn.safetensors");
    common::or_exit(PROGRAM, checkpoint::save(&model, &path));
    common::say(args, format!("saved {}", path.display()));
    println!("test_accuracy={:.4}", eval.accuracy);
}
