//! Shared by the quantization examples (`quantize`, `quantize_resnet`):
//! quantizes a trained network after training with 1,000 calibration
//! images and compares it with the `f32` network: test accuracy,
//! checkpoint size, and batch-1 latency on one thread for every integer
//! GEMM path this CPU has. Prints `f32_accuracy=`, `int8_accuracy=`,
//! `size_ratio=` (f32 bytes / int8 bytes), `speedup=` (f32 / int8 batch-1
//! latency, one thread, the fastest path) and `speedup_<path>=`.

use crate::common;
use crate::common::cli::Args;
use dl::nn::checkpoint;
use dl::nn::quant::{quantize, Observer, QgemmPath, QuantConfig, Quantized};
use dl::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// Quantizes `model` (min/max calibration on the first 1,000 images of
/// `train`), prints the per-layer error report and the comparison, and
/// returns the quantized model (a 10-class classifier).
pub fn compare<N: Network<Cpu, f32, Output = S1<10>> + Sync>(
    program: &str,
    args: &Args,
    model: &mut N,
    train: &Arc<InMemoryDataset>,
    test: &Arc<InMemoryDataset>,
) -> Quantized<N> {
    // Min/max calibration on the first 1,000 training images.
    let config = QuantConfig::default()
        .observer(Observer::MinMax)
        .calibration_samples(1000);
    model.set_training(false);
    let t = Instant::now();
    let mut q: Quantized<N> = common::or_exit(program, quantize(&*model, &**train, &config));
    common::say(
        args,
        format!(
            "quantized in {} (path {})",
            common::fmt_secs(t.elapsed().as_secs_f64()),
            q.path()
        ),
    );
    let report = common::or_exit(program, q.error_report(&*model, &**train, 500));
    common::say(args, &report);

    let f32_eval = common::or_exit(program, model.evaluate(test, &CrossEntropy::new(), 500));
    let int8_eval = common::or_exit(program, q.evaluate(&**test, 500));
    let f32_bytes = common::or_exit(program, checkpoint::save_to_bytes(&*model)).len();
    let int8_bytes = common::or_exit(program, q.to_bytes()).len();
    common::say(args, format!("f32: {f32_eval}, {f32_bytes} bytes"));
    common::say(args, format!("int8: {int8_eval}, {int8_bytes} bytes"));
    let right = |e: &dl::nn::train::Evaluation| (e.accuracy * e.samples as f64).round() as i64;
    common::say(
        args,
        format!(
            "test images classified correctly: f32 {} of {}, int8 {} of {}",
            right(&f32_eval),
            f32_eval.samples,
            right(&int8_eval),
            int8_eval.samples
        ),
    );

    // Batch-1 latency on one thread.
    let len = <N::Input as Shape>::NUMEL;
    let x = Tensor::<N::Input>::from_slice(&Cpu, 1, &test.data()[..len]).expect("one image");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    let best = QgemmPath::detect();
    let (f32_us, per_path) = pool.install(|| {
        // Alternate f32 and int8 measurements; keep the median of each round's median.
        let mut f32_rounds = Vec::new();
        let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); QgemmPath::available().len()];
        for _ in 0..5 {
            f32_rounds.push(common::median_us(50, 400, || {
                std::hint::black_box(model.forward(std::hint::black_box(&x)));
            }));
            for (i, p) in QgemmPath::available().into_iter().enumerate() {
                q.set_path(p).expect("available");
                rounds[i].push(common::median_us(50, 400, || {
                    std::hint::black_box(q.forward(std::hint::black_box(&x)));
                }));
            }
        }
        let per_path: Vec<(QgemmPath, f64)> = QgemmPath::available()
            .into_iter()
            .enumerate()
            .map(|(i, p)| (p, common::median(rounds[i].clone())))
            .collect();
        (common::median(f32_rounds), per_path)
    });
    q.set_path(best).expect("available");
    common::say(args, format!("batch-1 latency, 1 thread: f32 {f32_us:.1} us"));
    for (p, us) in &per_path {
        common::say(
            args,
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
    q
}
