//! Kernels at the edges of their index arithmetic, against plain safe loops.
//!
//! * GEMM (the one `unsafe` CPU kernel): every transpose combination with
//!   each of `m`, `n`, `k` (and all three at once) at 1, primes, and just
//!   below and above the block sizes 16, 32, 64 and 128.
//! * Element-wise kernels and row-wise softmax at sizes around
//!   [`PAR_CHUNK`] and [`PAR_THRESHOLD`], where they switch from one
//!   thread to fixed parallel chunks (a skipped or doubled element at a
//!   chunk border shows as a mismatch).
//! * Softmax and log-softmax gradients stay finite for logits of 1e4.
//!
//! Convolution and pooling at odd sizes are covered by
//! `conv2d/tests.rs` and `pool2d/tests.rs` (`edge_dims`).

use crate::cpu::{par_zip3_map, par_zip_map, PAR_CHUNK, PAR_THRESHOLD};
use crate::ops::axpy::axpy;
use crate::ops::matmul::{check_gemm_transposes, gemm_reference, Gemm};
use crate::ops::*;
use crate::prelude::*;
use crate::GemmKernel;

/// GEMM edge sizes of the issue: 1, primes, around 16, 32, 64 and 128.
const GEMM_SIZES: [usize; 13] = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129];

fn rand_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

#[test]
fn gemm_all_transposes_at_block_edges() {
    let mut rng = Rng::new(17);
    for &s in &GEMM_SIZES {
        // The size in one dimension at a time (others small and odd), and
        // in all three.
        for (m, n, k) in [(s, 5, 3), (3, s, 5), (5, 3, s), (s, s, s)] {
            // Overwrite and accumulate (beta = 0 must not read C: it
            // starts as NaN then).
            for beta in [0.0, 0.5] {
                check_gemm_transposes(&mut rng, (m, n, k), 1.25, beta);
            }
        }
    }
}

/// The `f32` paths of `A B^T` (AVX dot products for a few rows of A, an
/// AVX transpose then `A B` for larger ones) against an `f64` loop.
#[test]
fn gemm_f32_a_bt_paths_at_edges() {
    let mut rng = Rng::new(23);
    for &m in &[1usize, 3, 4, 5, 31, 32, 33, 70] {
        for &n in &[1usize, 31, 65, 200] {
            for &k in &[1usize, 17, 33, 100, 300] {
                let g = Gemm::<f32>::new(m, n, k, false, true);
                let a = rand_vec(&mut rng, m * k);
                let b = rand_vec(&mut rng, k * n);
                let (a32, b32): (Vec<f32>, Vec<f32>) = (
                    a.iter().map(|&v| v as f32).collect(),
                    b.iter().map(|&v| v as f32).collect(),
                );
                let mut c = vec![f32::NAN; m * n];
                Cpu.gemm(g, &a32, &b32, &mut c);
                let ga = Gemm::<f64>::new(m, n, k, false, true);
                let a64: Vec<f64> = a32.iter().map(|&v| v as f64).collect();
                let b64: Vec<f64> = b32.iter().map(|&v| v as f64).collect();
                let mut r = vec![0.0; m * n];
                gemm_reference(&ga, &a64, &b64, &mut r);
                for (i, (x, y)) in c.iter().zip(&r).enumerate() {
                    assert!(
                        (*x as f64 - y).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + y.abs()),
                        "m={m} n={n} k={k} element {i}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

/// The parallel matrix-vector path gives the same bits on 1 and 2 threads.
#[test]
fn gemv_is_independent_of_the_thread_count() {
    let mut rng = Rng::new(29);
    let (n, k) = (700, 400);
    let a: Vec<f32> = rand_vec(&mut rng, k).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = rand_vec(&mut rng, n * k).iter().map(|&v| v as f32).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        let mut c = vec![0f32; n];
        pool.install(|| Cpu.gemm(Gemm::new(1, n, k, false, true), &a, &b, &mut c));
        c
    };
    let one: Vec<u32> = run(1).iter().map(|v| v.to_bits()).collect();
    let two: Vec<u32> = run(2).iter().map(|v| v.to_bits()).collect();
    assert_eq!(one, two);
}

/// Element counts around the switch to parallel chunks.
fn par_sizes() -> [usize; 10] {
    [
        1,
        7,
        PAR_CHUNK - 1,
        PAR_CHUNK + 1,
        PAR_THRESHOLD - 1,
        PAR_THRESHOLD,
        PAR_THRESHOLD + 1,
        PAR_THRESHOLD + PAR_CHUNK - 1,
        PAR_THRESHOLD + PAR_CHUNK + 1,
        5 * PAR_CHUNK + 3,
    ]
}

#[test]
fn par_maps_visit_every_element_once() {
    for n in par_sizes() {
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut y = vec![f64::NAN; n];
        par_zip_map(&x, &mut y, |v| 2.0 * v + 1.0);
        assert!(
            y.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f64 + 1.0),
            "par_zip_map n={n}"
        );
        let mut out = vec![f64::NAN; n];
        par_zip3_map(&x, &y, &x, &mut out, |a, b, c| a + b - 3.0 * c);
        let want: Vec<f64> = (0..n)
            .map(|i| i as f64 + (2.0 * i as f64 + 1.0) - 3.0 * i as f64)
            .collect();
        assert_eq!(out, want, "par_zip3_map n={n}");
    }
}

#[test]
fn element_wise_ops_around_the_parallel_threshold() {
    let mut rng = Rng::new(3);
    for n in par_sizes() {
        let xs = rand_vec(&mut rng, n);
        let ys = rand_vec(&mut rng, n);
        let x = Tensor::<S1<1>, Cpu, f64>::from_slice(&Cpu, n, &xs).unwrap();
        let y = Tensor::<S1<1>, Cpu, f64>::from_slice(&Cpu, n, &ys).unwrap();
        let map = |f: fn(f64) -> f64| xs.iter().map(|&v| f(v)).collect::<Vec<f64>>();
        assert_eq!(relu(&x).to_vec(), map(|v| v.max(0.0)), "relu n={n}");
        let r = relu(&x);
        let want: Vec<f64> = xs
            .iter()
            .zip(&ys)
            .map(|(&v, &d)| if v > 0.0 { d } else { 0.0 })
            .collect();
        assert_eq!(relu_backward(&x, &r, &y).to_vec(), want, "relu_backward n={n}");
        assert_close(
            &sigmoid(&x).to_vec(),
            &map(|v| 1.0 / (1.0 + (-v).exp())),
            &format!("sigmoid n={n}"),
        );
        assert_close(&tanh(&x).to_vec(), &map(f64::tanh), &format!("tanh n={n}"));
        assert_close(&exp(&x).to_vec(), &map(f64::exp), &format!("exp n={n}"));
        let sum: Vec<f64> = xs.iter().zip(&ys).map(|(a, b)| a + b).collect();
        assert_eq!(add(&x, &y).unwrap().to_vec(), sum, "add n={n}");
        let prod: Vec<f64> = xs.iter().zip(&ys).map(|(a, b)| a * b).collect();
        assert_eq!(mul(&x, &y).unwrap().to_vec(), prod, "mul n={n}");
        let mut z = y.clone();
        axpy(0.5, &x, &mut z).unwrap();
        let want: Vec<f64> = xs.iter().zip(&ys).map(|(a, b)| b + 0.5 * a).collect();
        assert_close(&z.to_vec(), &want, &format!("axpy n={n}"));
    }
}

/// Rows of 7 around the threshold: 4681 rows are 32767 elements, 4682 are
/// 32774; 5852 rows straddle a chunk border inside a row.
#[test]
fn softmax_rows_around_the_parallel_threshold() {
    let mut rng = Rng::new(4);
    for rows in [1, 1170, 1171, 4681, 4682, 5852] {
        let xs = rand_vec(&mut rng, rows * 7);
        let x = Tensor::<S1<7>, Cpu, f64>::from_slice(&Cpu, rows, &xs).unwrap();
        let mut want = Vec::with_capacity(xs.len());
        let mut want_log = Vec::with_capacity(xs.len());
        for r in xs.chunks(7) {
            let m = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            want.extend(r.iter().map(|v| (v - m).exp() / s));
            want_log.extend(r.iter().map(|v| v - m - s.ln()));
        }
        assert_close(&softmax(&x).to_vec(), &want, &format!("softmax rows={rows}"));
        assert_close(
            &log_softmax(&x).to_vec(),
            &want_log,
            &format!("log_softmax rows={rows}"),
        );
    }
}

/// Gradients of softmax and log-softmax at logits of magnitude 1e4 are
/// finite and equal those at the same logits shifted near 0 (both
/// functions are shift invariant), in f32.
#[test]
fn softmax_gradients_are_finite_for_logits_of_1e4() {
    let big = vec![1e4f32, 1e4 + 1.0, 1e4 - 2.0, -1e4, 1e4, 0.0];
    let small = vec![0.0f32, 1.0, -2.0, -2e4, 0.0, -1e4];
    let dy = vec![0.3f32, -1.0, 0.7, 2.0, -0.5, 0.25];
    let t = |v: &[f32]| Tensor::<S1<3>>::from_slice(&Cpu, 2, v).unwrap();
    let dy = t(&dy);
    for log in [false, true] {
        let grad = |x: &[f32]| {
            let x = t(x);
            if log {
                log_softmax_backward(&log_softmax(&x), &dy).to_vec()
            } else {
                softmax_backward(&softmax(&x), &dy).to_vec()
            }
        };
        let (g, want) = (grad(&big), grad(&small));
        assert!(g.iter().all(|v| v.is_finite()), "log={log}: {g:?}");
        for (a, b) in g.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5, "log={log}: {g:?} vs {want:?}");
        }
    }
}
