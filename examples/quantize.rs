//! # quantize: the mnist_cnn network in 8-bit integers
//!
//! Trains the `mnist_cnn` network (or loads `checkpoints/mnist_cnn.safetensors`
//! when `--data` is the default MNIST directory and the file exists),
//! quantizes it after training with 1,000 calibration images (per-channel
//! `i8` weights, `u8` activations, min/max observers), and compares:
//! accuracy on the test set, checkpoint size, and batch-1 latency on one
//! thread, for every integer GEMM path this CPU has.
//!
//! ```sh
//! cargo run --release --example quantize
//! cargo run --release --example quantize -- --data data/fashion --epochs 2 --seed 1
//! # a data set it has never seen: scikit-learn's digits in MNIST format
//! cargo run --release --example digits_to_idx -- /tmp/digits-idx
//! cargo run --release --example quantize -- --data /tmp/digits-idx
//! ```
//! Ends with `f32_accuracy=`, `int8_accuracy=`, `size_ratio=` (f32 bytes /
//! int8 bytes), `speedup=` (f32 / int8 batch-1 latency, one thread, the
//! fastest path) and `speedup_<path>=` per path.

#[allow(unused_macros, unused_imports)]
mod common;
#[path = "quant_common/mod.rs"]
mod quant_common;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::prelude::*;
use std::time::Instant;

const PROGRAM: &str = "quantize";

/// The mnist_cnn network, declared once in examples/common/lenet.rs.
#[path = "common/lenet.rs"]
mod lenet;
use lenet::LeNet;

fn defaults() -> Args {
    Args {
        epochs: 3,
        batch_size: 64,
        lr: 1e-3,
        ..Args::default()
    }
}

fn main() {
    let (args, _) = common::setup(
        PROGRAM,
        "post-training int8 quantization of the mnist_cnn network",
        defaults(),
    );
    let (train, test) = common::mnist(PROGRAM, &args);
    let ckpt = std::path::Path::new("checkpoints/mnist_cnn.safetensors");
    let default_data = args.data == Args::default().data;
    let mut model = LeNet::init(&Cpu, args.seed);
    if default_data && ckpt.exists() {
        common::or_exit(PROGRAM, checkpoint::load(&mut model, ckpt, true));
        common::say(&args, format!("loaded {}", ckpt.display()));
    } else {
        let (base_lr, epochs) = (args.lr, args.epochs);
        let schedule = LrScheduler::new(move |e| {
            if epochs > 1 && e + 1 == epochs {
                base_lr / 10.0
            } else {
                base_lr
            }
        });
        let t = Instant::now();
        common::or_exit(
            PROGRAM,
            model.fit(
                &train,
                FitConfig::new(Adam::new(args.lr), CrossEntropy::new())
                    .epochs(args.epochs)
                    .batch_size(args.batch_size)
                    .shuffle_seed(args.seed)
                    .callback(schedule)
                    .quiet(args.quiet),
            ),
        );
        common::say(
            &args,
            format!(
                "trained {} epoch(s) in {}",
                args.epochs,
                common::fmt_secs(t.elapsed().as_secs_f64())
            ),
        );
    }

    // Quantize with the first 1,000 training images and compare.
    quant_common::compare(PROGRAM, &args, &mut model, &train, &test);
}
