//! Benchmarks of `BENCHMARKS.md`, printed in its parseable format.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release --example bench -- gemm
//! ```
//! NAME is one of `B1`, `B2`, `B3`, `B4`, `gemm`, `all`.

use dl::core::ops::matmul::Gemm;
use dl::core::{Cpu, GemmKernel, Rng};
use std::time::Instant;

fn threads() -> usize {
    dl::core::cpu::num_threads()
}

/// Best GFLOP/s of `C = A B` for square `n`, over at least 5 repetitions and 1 s.
fn gemm_bench() {
    for n in [256usize, 512, 1024, 2048] {
        let mut rng = Rng::new(0);
        let a: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
        let mut c = vec![0f32; n * n];
        let g = Gemm::new(n, n, n, false, false);
        Cpu.gemm(g, &a, &b, &mut c);
        Cpu.gemm(g, &a, &b, &mut c);
        let mut best = f64::INFINITY;
        let mut times = vec![];
        let start = Instant::now();
        while times.len() < 5 || (start.elapsed().as_secs_f64() < 1.0 && times.len() < 200) {
            let t = Instant::now();
            Cpu.gemm(g, &a, &b, &mut c);
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

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    match name.as_str() {
        "gemm" => gemm_bench(),
        "all" => gemm_bench(),
        other => {
            eprintln!("usage: bench B1|B2|B3|B4|gemm|all (unknown: {other})");
            std::process::exit(2);
        }
    }
}
