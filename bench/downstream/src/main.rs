//! Training speed of a crate that depends on `dl`: the digits MLP and a
//! slice of an MNIST CNN epoch, both with `fit`. Prints
//! `mlp_steps_per_s=..` and `cnn_steps_per_s=..`, from process CPU time
//! (robust on a loaded machine; run with `RAYON_NUM_THREADS=1`) and from
//! wall time. `bench/downstream.sh` runs it built in dev and in release and
//! prints the ratios.
use dl::nn::data::{load_digits, load_mnist_with, MnistOptions};
use dl::prelude::*;
use std::sync::Arc;
use std::time::Instant;

#[network(input = [64])]
pub struct DigitsMlp {
    fc1: Linear<64, 128>,
    relu1: ReLU,
    fc2: Linear<128, 128>,
    relu2: ReLU,
    fc3: Linear<128, 10>,
}

/// The README's MNIST network, declared once in `examples/common/lenet.rs`
/// (user code there too: `#[network]` and `dl::prelude` only).
#[path = "../../../examples/common/lenet.rs"]
mod lenet;
use lenet::LeNet;

fn data(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
}

/// User plus system CPU seconds of this process (Linux `/proc/self/stat`;
/// 0 where it cannot be read).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the
    // 12th, stime the 13th of those, in clock ticks (100 per second).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    f.get(11).zip(f.get(12)).map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// Runs `epoch` (one call trains `steps` steps) until at least `min_s`
/// seconds of CPU time have passed; prints the steps per CPU second and
/// per wall second.
fn measure(name: &str, steps: usize, min_s: f64, mut epoch: impl FnMut() -> dl::Result<()>) -> dl::Result<()> {
    epoch()?; // warm-up: allocations, thread pool, page faults
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut done = 0;
    while done == 0 || cpu_seconds() - cpu0 < min_s {
        epoch()?;
        done += steps;
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "{name}_steps_per_s={:.2} wall_steps_per_s={:.2} ({done} steps, {cpu:.2} s CPU, {wall:.2} s wall)",
        done as f64 / cpu,
        done as f64 / wall
    );
    Ok(())
}

fn main() -> dl::Result<()> {
    let dev = Cpu;
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let min_s: f64 = std::env::var("MIN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    if which == "all" || which == "mlp" {
        let train = Arc::new(load_digits(data("digits/digits.csv.gz"))?);
        let mut model = DigitsMlp::<Cpu, f32>::init(&dev, 42);
        let steps = train.len().div_ceil(32);
        measure("mlp", steps, min_s, || {
            model.fit(
                &train,
                FitConfig::new(Adam::new(1e-3), CrossEntropy::new())
                    .epochs(1)
                    .batch_size(32)
                    .quiet(true),
            )?;
            Ok(())
        })?;
    }
    if which == "all" || which == "cnn" {
        let opts = MnistOptions {
            normalize: true,
            limit: Some(640),
        };
        let train = Arc::new(load_mnist_with(data("mnist"), Split::Train, opts)?);
        let mut model = LeNet::<Cpu, f32>::init(&dev, 42);
        let steps = train.len().div_ceil(64);
        measure("cnn", steps, min_s, || {
            model.fit(
                &train,
                FitConfig::new(Sgd::new(0.05).momentum(0.9), CrossEntropy::new())
                    .epochs(1)
                    .batch_size(64)
                    .quiet(true),
            )?;
            Ok(())
        })?;
    }
    Ok(())
}
