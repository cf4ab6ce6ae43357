//! Benchmarks of `BENCHMARKS.md`, printed in its parseable format.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release --example bench -- B1
//! ```
//! NAME is one of `B1`, `B2`, `B3`, `B3-int8`, `B4`, `gemm`, `all`, or `fusion` (what
//! the GEMM's fused epilogues buy; not part of `all`). `bench/compare.sh`
//! runs these alternately with PyTorch's and numpy's figures.

use dl::core::ops::matmul::Gemm;
use dl::core::{GemmKernel, GemmWorkspace, Rng};
use dl::prelude::*;
use std::time::Instant;

#[allow(unused_macros, unused_imports)]
mod common;

#[path = "../bench/nets.rs"]
#[allow(dead_code)]
#[macro_use]
mod nets;
use nets::{synthetic, AttnBlock, Cnn, Mlp};

fn threads() -> usize {
    dl::core::cpu::num_threads()
}

/// Runs `warmup` untimed and `steps` timed training steps of `model` on a
/// fixed synthetic batch and prints the steps per second.
macro_rules! train_bench {
    ($name:literal, $net:ty, $shape:ty, $batch:expr, $seed:expr, $warmup:expr, $steps:expr) => {{
        let (x, labels, _) = synthetic::<$shape>($batch, $seed);
        let mut model = <$net>::init(&Cpu, $seed);
        let mut opt: Sgd = Sgd::new(0.01);
        let mut cache = <$net>::new_cache(&Cpu);
        let mut dlogits = Tensor::empty(&Cpu);
        // The loop runs on a worker of the pool (see `dl::core::cpu::in_pool`).
        let timed = dl::core::cpu::in_pool(|| {
            for _ in 0..$warmup {
                train_step!(model, opt, &x, &labels, &mut cache, &mut dlogits);
            }
            let mut per_step = Vec::with_capacity($steps);
            let mut loss = 0.0;
            let t0 = Instant::now();
            for _ in 0..$steps {
                let ts = Instant::now();
                loss = train_step!(model, opt, &x, &labels, &mut cache, &mut dlogits);
                per_step.push(ts.elapsed().as_secs_f64());
            }
            let dt = t0.elapsed().as_secs_f64();
            (per_step, loss, dt)
        });
        let (mut per_step, loss, dt) = timed;
        per_step.sort_by(f64::total_cmp);
        let sps = $steps as f64 / dt;
        println!(
            "{} dl threads={} steps_per_s={sps:.2} samples_per_s={:.1} ms_per_step={:.3} \
             med_step_steps_per_s={:.2} final_loss={loss:.4}",
            $name,
            threads(),
            sps * $batch as f64,
            1000.0 * dt / $steps as f64,
            1.0 / per_step[per_step.len() / 2],
        );
    }};
}

/// B3: median latency of the B1 network's inference forward at batch 1.
fn b3() {
    let (x, _, _) = synthetic::<S1<784>>(1, 2);
    let model = Mlp::init(&Cpu, 2);
    let mut times = dl::core::cpu::in_pool(|| {
        for _ in 0..200 {
            std::hint::black_box(model.forward(&x));
        }
        let mut times = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let t = Instant::now();
            std::hint::black_box(model.forward(std::hint::black_box(&x)));
            times.push(t.elapsed().as_nanos() as f64 / 1000.0);
        }
        times
    });
    times.sort_by(f64::total_cmp);
    println!(
        "B3 dl threads={} median_us={:.2} p10_us={:.2} p90_us={:.2}",
        threads(),
        times[times.len() / 2],
        times[times.len() / 10],
        times[9 * times.len() / 10],
    );
}

/// Median latency (µs) of 2,000 calls of `f` after 200 untimed ones.
fn median_latency_us(mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let mut times: Vec<f64> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// B3-int8: the B3 MLP quantized, batch 1: dynamic quantization (as
/// PyTorch's `quantize_dynamic`, the compared figure), static quantization
/// (calibrated on 256 synthetic samples) and f32, in the same run.
fn b3_int8() {
    use dl::nn::quant::{quantize, quantize_dynamic, QuantConfig};
    let (x, _, _) = synthetic::<S1<784>>(1, 2);
    let model = Mlp::init(&Cpu, 2);
    let dynq = quantize_dynamic(&model).expect("the MLP quantizes");
    let (calib, _, labels) = synthetic::<S1<784>>(256, 3);
    let calib = InMemoryDataset::new(calib.to_vec(), labels, 784, 10).expect("a data set");
    let stat = quantize(&model, &calib, &QuantConfig::default()).expect("the MLP quantizes");
    let (d, s, f) = dl::core::cpu::in_pool(|| {
        let d = median_latency_us(|| {
            std::hint::black_box(dynq.forward(std::hint::black_box(&x)));
        });
        let s = median_latency_us(|| {
            std::hint::black_box(stat.forward(std::hint::black_box(&x)));
        });
        let f = median_latency_us(|| {
            std::hint::black_box(model.forward(std::hint::black_box(&x)));
        });
        (d, s, f)
    });
    println!(
        "B3-int8 dl threads={} median_us={d:.2} static_median_us={s:.2} f32_median_us={f:.2} path={}",
        threads(),
        dynq.path()
    );
}

/// Best GFLOP/s of `C = A B` for square `n`, over at least 5 repetitions and 1 s.
fn gemm_bench() {
    for n in [256usize, 512, 1024, 2048] {
        let mut rng = Rng::new(0);
        let a: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
        let mut c = vec![0f32; n * n];
        let g = Gemm::new(n, n, n, false, false);
        // The packing memory a layer keeps in its cache.
        let mut ws = GemmWorkspace::new();
        Cpu.gemm_ws(&mut ws, g, &a, &b, &mut c);
        Cpu.gemm_ws(&mut ws, g, &a, &b, &mut c);
        let mut best = f64::INFINITY;
        let mut times = vec![];
        let start = Instant::now();
        while times.len() < 5 || (start.elapsed().as_secs_f64() < 1.0 && times.len() < 200) {
            let t = Instant::now();
            Cpu.gemm_ws(&mut ws, g, &a, &b, &mut c);
            let dt = t.elapsed().as_secs_f64();
            best = best.min(dt);
            times.push(dt);
        }
        times.sort_by(f64::total_cmp);
        let flop = 2.0 * (n as f64).powi(3);
        println!(
            "GEMM dl threads={} n={n} best_gflops={:.1} med_gflops={:.1} reps={}",
            threads(),
            flop / best / 1e9,
            flop / times[times.len() / 2] / 1e9,
            times.len()
        );
    }
}

/// Median microseconds of `f` over 200 runs (after 20 untimed).
fn median_us(f: impl FnMut()) -> f64 {
    common::median_us(20, 200, f)
}

/// What each fused GEMM epilogue buys: the product with the bias (and
/// ReLU or GELU) in its epilogue against the product followed by the
/// separate passes a network runs (`bias_add`, then the activation layer
/// writing its own output), and `C += A B` (beta 1) against a product into
/// a temporary plus `axpy`. Linear shapes of B1 (`x W^T`, bias per column)
/// and a B2 convolution (`W cols`, bias per row).
fn fusion_bench() {
    use dl::core::ops::axpy::AxpyKernel;
    use dl::core::ops::bias::{BiasDims, BiasKernel};
    use dl::core::ops::matmul::{gemm_strided_ws, Activation, BiasAxis, Epilogue, GemmOptions};
    use dl::core::ops::util::UnaryKernel;
    use dl::core::ops::{Gelu, Relu};
    let shapes = [
        (
            "linear 128x784->512",
            128usize,
            512usize,
            784usize,
            true,
            BiasAxis::Columns,
        ),
        ("linear 128x512->512", 128, 512, 512, true, BiasAxis::Columns),
        ("conv 32ch 28x28 k=9", 32, 784, 9, false, BiasAxis::Rows),
        ("conv 64ch 14x14 k=288", 64, 196, 288, false, BiasAxis::Rows),
    ];
    dl::core::cpu::in_pool(|| {
        for (name, m, n, k, tb, axis) in shapes {
            let mut rng = Rng::new(1);
            let mut v = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
            let (a, b) = (v(m * k), v(k * n));
            let bias = v(if axis == BiasAxis::Rows { m } else { n });
            let (mut c, mut y, mut tmp) = (vec![0f32; m * n], vec![0f32; m * n], vec![0f32; m * n]);
            let g = Gemm::new(m, n, k, false, tb);
            let (lda, ldb) = (k, if tb { k } else { n });
            let bd = match axis {
                BiasAxis::Rows => BiasDims {
                    outer: 1,
                    channels: m,
                    inner: n,
                },
                BiasAxis::Columns => BiasDims {
                    outer: m,
                    channels: n,
                    inner: 1,
                },
            };
            let opts = GemmOptions::default();
            let ws = std::cell::RefCell::new(GemmWorkspace::new());
            let fused = |c: &mut Vec<f32>, act| {
                let ep = Epilogue {
                    bias: Some((&bias[..], axis)),
                    act,
                };
                gemm_strided_ws(&mut ws.borrow_mut(), &g, &a, lda, &b, ldb, c, n, ep, opts)
            };
            let plain = median_us(|| Cpu.gemm_ws(&mut ws.borrow_mut(), g, &a, &b, &mut c));
            let sep_bias = median_us(|| {
                Cpu.gemm_ws(&mut ws.borrow_mut(), g, &a, &b, &mut c);
                Cpu.bias_add(bd, &bias, &mut c);
            });
            let fus_bias = median_us(|| fused(&mut c, Activation::None));
            let sep_relu = median_us(|| {
                Cpu.gemm_ws(&mut ws.borrow_mut(), g, &a, &b, &mut c);
                Cpu.bias_add(bd, &bias, &mut c);
                Cpu.unary_forward(Relu, &c, &mut y);
            });
            let fus_relu = median_us(|| fused(&mut y, Activation::Relu));
            let sep_gelu = median_us(|| {
                Cpu.gemm_ws(&mut ws.borrow_mut(), g, &a, &b, &mut c);
                Cpu.bias_add(bd, &bias, &mut c);
                Cpu.unary_forward(Gelu, &c, &mut y);
            });
            let fus_gelu = median_us(|| fused(&mut y, Activation::Gelu));
            let sep_acc = median_us(|| {
                Cpu.gemm_ws(&mut ws.borrow_mut(), g, &a, &b, &mut tmp);
                Cpu.axpy(1.0, &tmp, &mut c);
            });
            let fus_acc = median_us(|| Cpu.gemm_ws(&mut ws.borrow_mut(), g.accumulate(), &a, &b, &mut c));
            println!(
                "FUSION {name} threads={} gemm_us={plain:.1} bias_sep_us={sep_bias:.1} bias_fused_us={fus_bias:.1} \
                 bias_relu_sep_us={sep_relu:.1} bias_relu_fused_us={fus_relu:.1} \
                 bias_gelu_sep_us={sep_gelu:.1} bias_gelu_fused_us={fus_gelu:.1} \
                 acc_sep_us={sep_acc:.1} acc_fused_us={fus_acc:.1}",
                threads()
            );
        }
    });
}

fn run(name: &str) {
    match name {
        "B1" => train_bench!("B1", Mlp, S1<784>, 128, 0, 20, 200),
        "B2" => train_bench!("B2", Cnn, S3<1, 28, 28>, 64, 1, 5, 50),
        "B3" => b3(),
        "B3-int8" => b3_int8(),
        "B4" => train_bench!("B4", AttnBlock, S2<64, 128>, 32, 3, 5, 50),
        "gemm" => gemm_bench(),
        "fusion" => fusion_bench(),
        _ => unreachable!(),
    }
}

fn main() {
    let names = ["B1", "B2", "B3", "B3-int8", "B4", "gemm"];
    let name = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    match name.as_str() {
        "all" => names.iter().for_each(|n| run(n)),
        n if names.contains(&n) || n == "fusion" => run(n),
        other => {
            eprintln!("usage: bench NAME, NAME one of B1, B2, B3, B3-int8, B4, gemm, fusion, all (unknown: {other})");
            std::process::exit(2);
        }
    }
}
