//! GPU benchmarks of `BENCHMARKS.md`: `B1-gpu` (the B1 MLP training step at
//! batch 1024), `B2-gpu` (the B2 CNN training step at batch 256) and
//! `B4-gpu` (the B4 attention block at batch 32), in `f32`, and `B2-gpu-bf16`
//! and `B4-gpu-bf16`, the same steps in a bf16 autocast scope (issue 20:
//! PyTorch's twin runs them under `torch.autocast(dtype=torch.bfloat16)`),
//! with the networks written once, generic over the backend, and run on
//! `Cuda`.
//!
//! ```sh
//! cargo run --release --features cuda --example bench_gpu -- all    # or one name: B1, B2, B2-bf16, B4, B4-bf16
//! DL_BENCH_DEVICE=cpu DL_BENCH_QUICK=1 cargo run --features cuda --example bench_gpu   # smoke run on the CPU
//! ```
//! Output lines: `B1-gpu dl steps_per_s=... samples_per_s=... ms_per_step=... final_loss=... precision=f32 device=...`.
//! Every step downloads its loss (the loss kernels return it), so the
//! timing includes one host synchronisation per step.

use dl::core::amp::{autocast, Precision};
use dl::core::cuda::Device;
use dl::nn::train::{train_step, StepBuffers};
use dl::prelude::*;
use std::time::Instant;

/// The networks of B1 (`Mlp`) and B2 (`Cnn`), declared once for every backend.
#[path = "../bench/nets.rs"]
#[allow(dead_code, unused_macros)]
mod nets;
use nets::{AttnBlock, Cnn, Mlp};

/// The benchmarks `all` runs, in order.
const ALL: [&str; 5] = ["B1", "B2", "B2-bf16", "B4", "B4-bf16"];

/// Times `steps` SGD (lr 0.01) cross-entropy steps of `model` in precision
/// `p` (an autocast scope) after `warmup` steps, on synthetic data drawn
/// with `seed`; prints the result line.
#[allow(clippy::too_many_arguments)]
fn run<N, B>(name: &str, dev: &B, mut model: N, p: Precision, batch: usize, warmup: usize, steps: usize, seed: u64)
where
    B: Backend,
    N: Network<B, f32, Output = S1<10>>,
{
    let mut rng = Rng::new(seed);
    let x = Tensor::<N::Input, B>::randn(dev, batch, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|_| (rng.next_u64() % 10) as usize).collect();
    let mut bufs = StepBuffers::new(dev);
    let mut opt = Sgd::<B>::new(0.01);
    let loss = CrossEntropy::new();
    let mut last = 0.0;
    let mut step = || {
        autocast(dev, p, || {
            train_step(&mut model, &mut bufs, &x, &labels[..], &loss, &mut opt)
        })
        .expect("autocast")
        .expect("train step")
    };
    for _ in 0..warmup {
        last = step();
    }
    dev.synchronize();
    let t = Instant::now();
    for _ in 0..steps {
        last = step();
    }
    dev.synchronize();
    let dt = t.elapsed().as_secs_f64();
    let sps = steps as f64 / dt;
    println!(
        "{name} dl steps_per_s={sps:.2} samples_per_s={:.1} ms_per_step={:.3} final_loss={last:.4} precision={p} device={}",
        sps * batch as f64,
        1000.0 * dt / steps as f64,
        dev.name().replace(' ', "_")
    );
}

fn bench<B: Backend>(dev: &B, which: &str) {
    // DL_BENCH_QUICK=1: 1 warm-up and 2 timed steps (a smoke run, not a figure).
    let quick = std::env::var("DL_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (w1, t1, w2, t2) = if quick { (1, 2, 1, 2) } else { (20, 200, 5, 50) };
    for name in ALL.into_iter().filter(|n| which == "all" || which == *n) {
        let p = if name.ends_with("-bf16") {
            Precision::Bf16
        } else {
            Precision::F32
        };
        let label = format!("{}-gpu{}", &name[..2], &name[2..]);
        match &name[..2] {
            "B1" => run(&label, dev, Mlp::<B>::init(dev, 0), p, 1024, w1, t1, 0),
            "B2" => run(&label, dev, Cnn::<B>::init(dev, 1), p, 256, w2, t2, 1),
            _ => run(&label, dev, AttnBlock::<B>::init(dev, 3), p, 32, w2, t2, 3),
        }
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if which != "all" && !ALL.contains(&which.as_str()) {
        eprintln!("usage: bench_gpu all|{} (unknown: {which})", ALL.join("|"));
        std::process::exit(2);
    }
    let want = std::env::var("DL_BENCH_DEVICE").unwrap_or_else(|_| "cuda".into());
    let (dev, why) = Device::parse(&want).unwrap_or_else(|e| {
        eprintln!("bench_gpu: device `{want}`: {e}");
        std::process::exit(1);
    });
    eprintln!("bench_gpu: {why}");
    match dev {
        Device::Cuda(c) => bench(&c, &which),
        Device::Cpu(c) => bench(&c, &which),
    }
}
