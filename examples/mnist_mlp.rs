//! # mnist_mlp: the PyTorch-style training loop
//!
//! A three-layer perceptron on MNIST, trained by a hand-written loop over a
//! shuffled [`DataLoader`] epoch: `forward_train` (returns the output and
//! the cache that backward needs), `cross_entropy` (loss and its gradient
//! with respect to the logits), `zero_grad`, `backward_params` (generated
//! by `#[network]`, no tape; `backward` would also return the gradient with
//! respect to the images, which training does not need), a
//! `NonFiniteGuard` check (NaN/Inf), `opt.step(&mut model)`. Then evaluation in
//! `eval()` mode with `forward` and an arg-max.
//!
//! ```sh
//! cargo run --release --example mnist_mlp
//! cargo run --release --example mnist_mlp -- --epochs 1 --lr 0.05 --batch-size 128
//! ```
//! Options: `--data DIR` (MNIST IDX files, default `data/mnist`), `--epochs`,
//! `--batch-size`, `--lr` (SGD with momentum 0.9, cosine-decayed), `--seed`,
//! `--device cpu|cuda|auto`, `--limit N` (first N training images), `--quiet`.
//! Ends with `test_accuracy=0.xxxx`.

pub mod common; // `pub`: tests/examples_smoke.rs includes this example
/// The network, declared once in examples/common/mlp.rs (`ddp_mnist` trains it too).
#[path = "common/mlp.rs"]
mod mlp;

use common::cli::Args;
use dl::nn::optim::{CosineAnnealing, Schedule};
use dl::nn::train::NonFiniteGuard;
use dl::prelude::*;
use mlp::Mlp;
use std::time::Instant;

const PROGRAM: &str = "mnist_mlp";

/// Test accuracy: inference mode (`eval()`), `forward` (no cache), arg-max.
fn evaluate<B: Backend>(model: &mut Mlp<B>, test_loader: &mut DataLoader<InMemoryDataset>, dev: &B) -> f64 {
    let (correct, seen) = common::or_exit(PROGRAM, common::count_correct(model, test_loader, dev));
    correct as f64 / seen.max(1) as f64
}

/// Trains and evaluates; returns the test accuracy. (`tests/examples_smoke.rs`
/// runs it on a subset.)
pub fn run<B: Backend>(args: &Args, dev: &B) -> f64 {
    let (train, test) = common::mnist(PROGRAM, args);
    let mut model = Mlp::<B>::init(dev, args.seed);
    common::say(args, <Mlp>::SUMMARY);
    let mut opt = Sgd::<B>::new(args.lr).momentum(0.9);
    let mut guard = NonFiniteGuard::<B, f32>::new(dev, NonFinite::Error);
    let mut loader = common::or_exit(PROGRAM, DataLoader::new(train, args.batch_size)).shuffle(args.seed);
    let mut test_loader = common::or_exit(PROGRAM, DataLoader::new(test, 1000));
    let start = Instant::now();
    let mut test_accuracy = f64::NAN;
    // Cosine decay of the learning rate, set at the start of each epoch
    // (as `lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)` stepped per epoch).
    let schedule = CosineAnnealing {
        t_max: args.epochs,
        eta_min: args.lr / 50.0,
    };
    for epoch in 0..args.epochs {
        let t = Instant::now();
        schedule.apply(&mut opt, args.lr, epoch);
        model.train();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (step, (x, y)) in common::or_exit(PROGRAM, loader.epoch(dev)).enumerate() {
            let (logits, mut cache) = model.forward_train(&x);
            let (loss, d_logits) = common::or_exit(PROGRAM, cross_entropy(&logits, &y));
            model.zero_grad();
            model.backward_params(&mut cache, &d_logits);
            // Stop with the epoch, step and parameter on a NaN or infinity
            // (as `fit` does; `NonFinite::SkipStep` would skip the step).
            if common::or_exit(PROGRAM, guard.check(&mut model, loss as f64, epoch, step)) {
                opt.step(&mut model);
            }
            loss_sum += loss as f64 * y.len() as f64;
            correct += common::correct(&logits.to_vec(), 10, &y);
            seen += y.len();
        }
        test_accuracy = evaluate(&mut model, &mut test_loader, dev);
        common::say(
            args,
            format!(
                "epoch {}/{} - lr {:.4} - loss {:.4} - accuracy {:.2}% - test_accuracy {:.2}% - {}",
                epoch + 1,
                args.epochs,
                opt.lr(),
                loss_sum / seen.max(1) as f64,
                100.0 * correct as f64 / seen.max(1) as f64,
                100.0 * test_accuracy,
                common::fmt_secs(t.elapsed().as_secs_f64())
            ),
        );
    }
    if args.epochs == 0 {
        test_accuracy = evaluate(&mut model, &mut test_loader, dev);
    }
    common::say(
        args,
        format!(
            "trained {} epoch(s) in {}",
            args.epochs,
            common::fmt_secs(start.elapsed().as_secs_f64())
        ),
    );
    test_accuracy
}

fn main() {
    let (args, dev) = common::setup(
        PROGRAM,
        "a multilayer perceptron trained by a PyTorch-style loop",
        Args::training(5, 64, 0.05),
    );
    let acc = common::on_device!(dev => run(&args, &dev));
    println!("test_accuracy={acc:.4}");
}
