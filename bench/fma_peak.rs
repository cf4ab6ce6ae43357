//! Peak FMA probe: a loop of independent fused multiply-adds on registers
//! only (no loads or stores), on 1 thread and on every core, printing
//! GFLOP/s per core. The GEMM's efficiency is its GFLOP/s over this peak.
//!
//!     cargo run --release --example fma_peak [THREADS]
//!
//! AVX-512F and AVX2+FMA are measured where the CPU has them (on cores
//! with one 512-bit FMA unit, or 512-bit instructions split in two, both
//! give the same figure). On other targets it prints nothing measured.

use std::time::Instant;

/// Accumulators per thread: enough independent chains to cover the FMA
/// latency (4 cycles) times the FMA units (2).
#[cfg(target_arch = "x86_64")]
mod probe {
    use std::arch::x86_64::*;

    /// The body of every probe, written with one ISA's intrinsics (`set1`,
    /// `fmadd`, `setzero`, `add`): `$chains` independent accumulators, each
    /// through `iters` rounds of `a = a * 0.9999 + 1e-7`, then their sum
    /// (one vector). Expanded inside the probe, so it is compiled with the
    /// probe's target features.
    macro_rules! fma_chains {
        ($iters:expr, $chains:literal, $set1:ident, $fmadd:ident, $zero:ident, $add:ident) => {{
            let mut acc = [$set1(0.0); $chains];
            let x = $set1(0.999_9);
            let y = $set1(1e-7);
            for _ in 0..$iters {
                for a in acc.iter_mut() {
                    *a = $fmadd(*a, x, y);
                }
            }
            let mut s = $zero();
            for a in acc {
                s = $add(s, a);
            }
            s
        }};
    }

    /// `iters` rounds of 24 independent 16-lane f32 FMAs.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iters: u64) -> (f32, f64) {
        let s = fma_chains!(
            iters,
            24,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_setzero_ps,
            _mm512_add_ps
        );
        (_mm512_reduce_add_ps(s), iters as f64 * 24.0 * 16.0 * 2.0)
    }

    /// `iters` rounds of 12 independent 8-lane f32 FMAs.
    ///
    /// # Safety
    /// The CPU has AVX and FMA.
    #[target_feature(enable = "avx,fma")]
    pub unsafe fn avx2(iters: u64) -> (f32, f64) {
        let s = fma_chains!(
            iters,
            12,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_setzero_ps,
            _mm256_add_ps
        );
        let mut out = [0f32; 8];
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        (out.iter().sum(), iters as f64 * 12.0 * 8.0 * 2.0)
    }
}

/// GFLOP/s per thread of `f` run on `threads` threads at once: the best of
/// 300 short runs (about 1 ms each), so that on a shared machine some run
/// gets the cores to itself, as the GEMM benchmark's best repetition does.
fn measure(threads: usize, f: fn(u64) -> (f32, f64)) -> f64 {
    let iters = 100_000u64;
    let mut best = 0f64;
    for _ in 0..300 {
        let t = Instant::now();
        let flops: f64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || f(iters))).collect();
            hs.into_iter()
                .map(|h| {
                    let (v, fl) = h.join().expect("probe thread");
                    std::hint::black_box(v);
                    fl
                })
                .sum()
        });
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9 / threads as f64);
    }
    best
}

fn main() {
    let threads = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(clippy::type_complexity)]
        let mut kinds: Vec<(&str, fn(u64) -> (f32, f64))> = vec![];
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F checked just above.
            kinds.push(("avx512", |i| unsafe { probe::avx512(i) }));
        }
        if std::is_x86_feature_detected!("avx") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX and FMA checked just above.
            kinds.push(("avx2", |i| unsafe { probe::avx2(i) }));
        }
        for (name, f) in kinds {
            for t in [1, threads] {
                let g = measure(t, f);
                println!(
                    "FMA peak f32 {name} threads={t} gflops_per_core={g:.1} gflops_total={:.1}",
                    g * t as f64
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("FMA peak: no probe for this target ({threads} threads)");
}
