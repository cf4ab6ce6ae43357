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
//! ```
//! Ends with `f32_accuracy=`, `int8_accuracy=`, `size_ratio=` (f32 bytes /
//! int8 bytes), `speedup=` (f32 / int8 batch-1 latency, one thread, the
//! fastest path) and `speedup_<path>=` per path.

#[allow(unused_macros, unused_imports)]
mod common;

use common::cli::Args;
use dl::nn::checkpoint;
use dl::nn::quant::{quantize, Observer, QgemmPath, QuantConfig, Quantized};
use dl::prelude::*;
use std::time::Instant;

const PROGRAM: &str = "quantize";

/// The mnist_cnn network (the same declaration as examples/mnist_cnn.rs).
#[network(input = [1, 28, 28])]
pub struct LeNet {
    conv1: Conv2d<1, 32, 3>,
    relu1: ReLU,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<32, 64, 3>,
    relu2: ReLU,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Linear<1600, 128>,
    relu3: ReLU,
    fc2: Linear<128, 10>,
}

fn defaults() -> Args {
    Args {
        epochs: 3,
        batch_size: 64,
        lr: 1e-3,
        ..Args::default()
    }
}

/// Median of `reps` timed calls of `f` (after `warm` untimed ones), in µs.
fn median_us(warm: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
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

    // Quantize with the first 1,000 training images.
    let t = Instant::now();
    let config = QuantConfig::default()
        .observer(Observer::MinMax)
        .calibration_samples(1000);
    let mut q: Quantized<LeNet> = common::or_exit(PROGRAM, quantize(&model, &*train, &config));
    common::say(
        &args,
        format!(
            "quantized in {} (path {})",
            common::fmt_secs(t.elapsed().as_secs_f64()),
            q.path()
        ),
    );
    let report = common::or_exit(PROGRAM, q.error_report(&model, &*train, 500));
    common::say(&args, &report);

    let f32_eval = common::or_exit(PROGRAM, model.evaluate(&test, &CrossEntropy::new(), 500));
    let int8_eval = common::or_exit(PROGRAM, q.evaluate(&*test, 500));
    let f32_bytes = common::or_exit(PROGRAM, checkpoint::save_to_bytes(&model)).len();
    let int8_bytes = common::or_exit(PROGRAM, q.to_bytes()).len();
    common::say(&args, format!("f32: {f32_eval}, {f32_bytes} bytes"));
    common::say(&args, format!("int8: {int8_eval}, {int8_bytes} bytes"));

    // Batch-1 latency on one thread.
    let x = Tensor::<S3<1, 28, 28>>::from_slice(&Cpu, 1, &test.data()[..784]).expect("one image");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    let best = QgemmPath::detect();
    let (f32_us, per_path) = pool.install(|| {
        let mut per_path = Vec::new();
        let mut f32_us = f64::INFINITY;
        // Alternate f32 and int8 measurements; keep the median of each round's median.
        let mut f32_rounds = Vec::new();
        let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); QgemmPath::available().len()];
        for _ in 0..5 {
            f32_rounds.push(median_us(50, 400, || {
                std::hint::black_box(model.forward(std::hint::black_box(&x)));
            }));
            for (i, p) in QgemmPath::available().into_iter().enumerate() {
                q.set_path(p).expect("available");
                rounds[i].push(median_us(50, 400, || {
                    std::hint::black_box(q.forward(std::hint::black_box(&x)));
                }));
            }
        }
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        f32_us = f32_us.min(med(f32_rounds));
        for (i, p) in QgemmPath::available().into_iter().enumerate() {
            per_path.push((p, med(rounds[i].clone())));
        }
        (f32_us, per_path)
    });
    common::say(&args, format!("batch-1 latency, 1 thread: f32 {f32_us:.1} us"));
    for (p, us) in &per_path {
        common::say(
            &args,
            format!("batch-1 latency, 1 thread: int8 {p} {us:.1} us ({:.2}x)", f32_us / us),
        );
    }
    let best_us = per_path
        .iter()
        .find(|(p, _)| *p == best)
        .map_or(f64::NAN, |(_, us)| *us);
    println!("f32_accuracy={:.4}", f32_eval.accuracy);
    println!("int8_accuracy={:.4}", int8_eval.accuracy);
    println!("size_ratio={:.2}", f32_bytes as f64 / int8_bytes as f64);
    println!("speedup={:.2}", f32_us / best_us);
    for (p, us) in &per_path {
        println!("speedup_{p}={:.2}", f32_us / us);
    }
}
