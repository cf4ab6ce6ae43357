use super::*;
use crate::ops::util::testing::assert_close;
use crate::{Cpu, Rng};

fn rand_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

/// Every transpose combination, at sizes around the kernel block sizes
/// (1, primes, just below and above 8/16/32/64), against the safe reference.
#[test]
fn all_transposes_match_reference_at_edge_sizes() {
    let mut rng = Rng::new(11);
    let sizes = [1usize, 2, 3, 7, 8, 9, 15, 17, 31, 33, 63, 65, 97];
    for (idx, &m) in sizes.iter().enumerate() {
        let n = sizes[(idx * 5 + 3) % sizes.len()];
        let k = sizes[(idx * 7 + 1) % sizes.len()];
        for beta in [0.0, 1.0, 0.5] {
            check_gemm_transposes(&mut rng, (m, n, k), 1.5, beta);
        }
    }
}

#[test]
fn f32_large_parallel_matches_reference() {
    let mut rng = Rng::new(2);
    check_gemm(&mut rng, Gemm::<f32>::new(130, 129, 257, false, true), 1e-4);
}

#[test]
fn batched_with_shared_b() {
    let mut rng = Rng::new(3);
    let (m, n, k, cnt) = (3, 4, 5, 6);
    let a = rand_vec(&mut rng, cnt * m * k);
    let b = rand_vec(&mut rng, k * n);
    let mut c = vec![0.0; cnt * m * n];
    let bt = Batch {
        count: cnt,
        a_stride: m * k,
        b_stride: 0,
        c_stride: m * n,
        ..Default::default()
    };
    Cpu.gemm_batched(Gemm::new(m, n, k, false, false), bt, &a, &b, &mut c);
    for i in 0..cnt {
        let mut r = vec![0.0; m * n];
        gemm_reference(&Gemm::new(m, n, k, false, false), &a[i * m * k..], &b, &mut r);
        assert_close(&c[i * m * n..(i + 1) * m * n], &r, 1e-12, 1e-12);
    }
}

/// A batch large enough for the parallel path (single-threaded products in
/// fixed groups, one workspace slot per group), on 1, 2 and 3 threads: the
/// same bits as each product alone, with one kept workspace that grows on
/// the first call and not after; one large product likewise.
#[test]
fn workspace_batches_are_deterministic_and_reused() {
    let mut rng = Rng::new(8);
    let (m, n, k, cnt) = (40, 70, 50, 7);
    let a: Vec<f32> = rand_vec(&mut rng, cnt * m * k).into_iter().map(|v| v as f32).collect();
    let b: Vec<f32> = rand_vec(&mut rng, k * n).into_iter().map(|v| v as f32).collect();
    let g = Gemm::new(m, n, k, false, false);
    let mut want = vec![0f32; cnt * m * n + 3];
    for i in 0..cnt {
        let c = &mut want[3 + i * m * n..3 + (i + 1) * m * n];
        gemm_strided(
            &g,
            &a[i * m * k..],
            k,
            &b,
            n,
            c,
            n,
            Epilogue::default(),
            GemmOptions::default(),
        );
    }
    let bt = Batch {
        count: cnt,
        a_stride: m * k,
        b_stride: 0,
        c_offset: 3,
        c_stride: m * n,
        ..Default::default()
    };
    let big_a: Vec<f32> = rand_vec(&mut rng, 300 * 60).into_iter().map(|v| v as f32).collect();
    let big_b: Vec<f32> = rand_vec(&mut rng, 60 * 58).into_iter().map(|v| v as f32).collect();
    let big = Gemm::new(300, 58, 60, false, false);
    let mut big_want = vec![0f32; 300 * 58];
    gemm_strided(
        &big,
        &big_a,
        60,
        &big_b,
        58,
        &mut big_want,
        58,
        Epilogue::default(),
        GemmOptions {
            path: None,
            parallel: false,
        },
    );
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        pool.install(|| {
            let mut ws = GemmWorkspace::new();
            let mut c = vec![f32::NAN; cnt * m * n + 3];
            Cpu.gemm_batched_ws(&mut ws, g, bt, &a, &b, &mut c);
            assert_eq!(c[3..], want[3..], "{threads} threads");
            let held = ws.bytes();
            assert!(held > 0);
            Cpu.gemm_batched_ws(&mut ws, g, bt, &a, &b, &mut c);
            assert_eq!(c[3..], want[3..], "{threads} threads, second call");
            assert_eq!(ws.bytes(), held, "{threads} threads: the workspace grew again");
            let mut c = vec![0f32; 300 * 58];
            Cpu.gemm_ws(&mut ws, big, &big_a, &big_b, &mut c);
            assert_eq!(c, big_want, "one product on {threads} threads");
            let held = ws.bytes();
            Cpu.gemm_ws(&mut ws, big, &big_a, &big_b, &mut c);
            assert_eq!(ws.bytes(), held);
        });
    }
}

#[test]
fn matmul_gradient_check() {
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::prelude::*;
    let mut rng = Rng::new(5);
    let a = Tensor::<S2<2, 3>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let b = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let g = Tensor::<S2<2, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let (da, db) = matmul_backward(&a, &b, &g);
    let loss = |a: &Tensor<S2<2, 3>, Cpu, f64>, b: &Tensor<S2<3, 4>, Cpu, f64>| {
        matmul(a, b)
            .unwrap()
            .to_vec()
            .iter()
            .zip(g.to_vec())
            .map(|(x, y)| x * y)
            .sum::<f64>()
    };
    let fa = |x: &[f64]| loss(&Tensor::from_slice(&Cpu, 2, x).unwrap(), &b);
    check_gradient(fa, &a.to_vec(), &da.to_vec(), GradCheck::default()).unwrap();
    let fb = |x: &[f64]| loss(&a, &Tensor::from_slice(&Cpu, 2, x).unwrap());
    check_gradient(fb, &b.to_vec(), &db.to_vec(), GradCheck::default()).unwrap();
}

#[test]
fn batch_mismatch_is_an_error() {
    use crate::prelude::*;
    let a = Tensor::<S2<1, 2>>::zeros(&Cpu, 2);
    let b = Tensor::<S2<2, 1>>::zeros(&Cpu, 3);
    assert!(matches!(matmul(&a, &b), Err(Error::ShapeMismatch { .. })));
}

// ---- The blocked driver, path by path, against a float64 reference ----

use super::{gemm_strided, Activation, BiasAxis, Epilogue, GemmOptions, GemmPath};
use crate::Float;

/// Operands of one strided product, generated from a seed.
struct Case<E> {
    g: Gemm<E>,
    a: Vec<E>,
    lda: usize,
    b: Vec<E>,
    ldb: usize,
    c: Vec<E>,
    ldc: usize,
    bias: Vec<E>,
}

impl<E: Float> Case<E> {
    /// An `m x n x k` product with row strides padded by `pad` and
    /// alpha/beta not 0 or 1.
    #[allow(clippy::too_many_arguments)]
    fn new(
        rng: &mut Rng,
        m: usize,
        n: usize,
        k: usize,
        ta: bool,
        tb: bool,
        pad: [usize; 3],
        alpha: f64,
        beta: f64,
    ) -> Self {
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        let (lda, ldb, ldc) = (ac + pad[0], bc + pad[1], n + pad[2]);
        let mut v = |len: usize| -> Vec<E> { (0..len).map(|_| E::from_f64(rng.uniform_range(-1.0, 1.0))).collect() };
        Case {
            g: Gemm {
                alpha: E::from_f64(alpha),
                beta: E::from_f64(beta),
                ..Gemm::new(m, n, k, ta, tb)
            },
            a: v(ar * lda),
            lda,
            b: v(br * ldb),
            ldb,
            c: v(m * ldc),
            ldc,
            bias: v(m.max(n)),
        }
    }

    /// The product in float64 (with the epilogue's bias), and for each
    /// element a bound on its rounding error: `4 eps (k + 4)` times the sum
    /// of the magnitudes of the terms.
    fn reference(&self, bias: Option<BiasAxis>) -> (Vec<f64>, Vec<f64>) {
        let g = &self.g;
        let f = |v: E| v.to_f64();
        let eps = if E::DTYPE == crate::DType::F32 {
            f32::EPSILON as f64
        } else {
            f64::EPSILON
        };
        let (mut want, mut tol) = (vec![0.0; g.m * g.n], vec![0.0; g.m * g.n]);
        for i in 0..g.m {
            for j in 0..g.n {
                let (mut acc, mut mag) = (0.0f64, 0.0f64);
                for p in 0..g.k {
                    let av = f(if g.trans_a {
                        self.a[p * self.lda + i]
                    } else {
                        self.a[i * self.lda + p]
                    });
                    let bv = f(if g.trans_b {
                        self.b[j * self.ldb + p]
                    } else {
                        self.b[p * self.ldb + j]
                    });
                    acc += av * bv;
                    mag += (av * bv).abs();
                }
                // beta 0 does not read C (which may hold NaN).
                let old = if g.beta == E::ZERO {
                    0.0
                } else {
                    f(self.c[i * self.ldc + j])
                };
                let bs = match bias {
                    Some(BiasAxis::Rows) => f(self.bias[i]),
                    Some(BiasAxis::Columns) => f(self.bias[j]),
                    None => 0.0,
                };
                let (alpha, beta) = (f(g.alpha), f(g.beta));
                want[i * g.n + j] = alpha * acc + beta * old + bs;
                tol[i * g.n + j] = 4.0 * eps * (g.k as f64 + 4.0) * (alpha.abs() * mag + (beta * old).abs() + bs.abs());
            }
        }
        (want, tol)
    }

    /// Runs the product on `path` and checks it against the reference,
    /// including that the padding between rows of C is untouched.
    fn check(&self, path: GemmPath, parallel: bool, bias: Option<BiasAxis>, what: &str) -> Vec<E> {
        let c = self.run(path, parallel, bias);
        self.compare(&c, bias, &format!("{what} {path:?}"));
        c
    }

    /// Runs the product on `path`.
    fn run(&self, path: GemmPath, parallel: bool, bias: Option<BiasAxis>) -> Vec<E> {
        self.run_on(Some(path), parallel, bias)
    }

    /// Runs the product on `path`, or as the library chooses (`None`: the
    /// matrix-vector shortcut for a few rows of `A B^T`).
    fn run_on(&self, path: Option<GemmPath>, parallel: bool, bias: Option<BiasAxis>) -> Vec<E> {
        let mut c = self.c.clone();
        let ep = Epilogue {
            bias: bias.map(|ax| (&self.bias[..], ax)),
            act: Activation::None,
        };
        let opts = GemmOptions { path, parallel };
        gemm_strided(
            &self.g, &self.a, self.lda, &self.b, self.ldb, &mut c, self.ldc, ep, opts,
        );
        c
    }

    /// Checks `c` against the reference, and that the padding between rows
    /// of C is untouched.
    fn compare(&self, c: &[E], bias: Option<BiasAxis>, what: &str) {
        let (want, tol) = self.reference(bias);
        let g = &self.g;
        for i in 0..g.m {
            for j in 0..self.ldc {
                let got = c[i * self.ldc + j];
                if j >= g.n {
                    assert_eq!(
                        got.to_f64().to_bits(),
                        self.c[i * self.ldc + j].to_f64().to_bits(),
                        "{what}: padding written"
                    );
                    continue;
                }
                let (w, t) = (want[i * g.n + j], tol[i * g.n + j]);
                assert!(
                    (got.to_f64() - w).abs() <= t,
                    "{what} {g:?} lds=({}, {}, {}): C[{i}][{j}] = {got}, want {w} (tolerance {t:e})",
                    self.lda,
                    self.ldb,
                    self.ldc
                );
            }
        }
    }
}

/// The paths this CPU can run; the others are reported (not failed).
fn paths() -> Vec<GemmPath> {
    GemmPath::ALL
        .into_iter()
        .filter(|p| {
            let ok = p.available();
            if !ok {
                println!("skipping the {} GEMM path: this CPU lacks its instructions", p.name());
            }
            ok
        })
        .collect()
}

/// The sizes, sampled: each size appears in each of m, n and k,
/// with products above ~2.5M multiply-adds trimmed (the test profile is
/// opt-level 1 and the reference a plain loop).
fn sampled_grid() -> Vec<(usize, usize, usize)> {
    const S: [usize; 16] = [1, 2, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257, 1000];
    let mut out = vec![];
    for i in 0..S.len() {
        for (sn, sk) in [(5, 11), (3, 7), (9, 2)] {
            let (m, mut n, mut k) = (S[i], S[(i * sn + 3) % 16], S[(i * sk + 11) % 16]);
            while m * n * k > 2_500_000 {
                if n >= k {
                    n = n / 4 + 1;
                } else {
                    k = k / 4 + 1;
                }
            }
            out.push((m, n, k));
        }
    }
    out
}

fn grid_for<E: Float>(seed: u64) {
    let mut rng = Rng::new(seed);
    for path in paths() {
        for (idx, &(m, n, k)) in sampled_grid().iter().enumerate() {
            let (ta, tb) = (idx % 2 == 1, (idx / 2) % 2 == 1);
            // Every transpose combination for every size triple on the
            // fastest path, one (rotating) combination on the others.
            let combos: Vec<(bool, bool)> = if path == GemmPath::ALL[0] || idx % 3 == 0 {
                vec![(false, false), (false, true), (true, false), (true, true)]
            } else {
                vec![(ta, tb)]
            };
            for (ta, tb) in combos {
                let case = Case::<E>::new(&mut rng, m, n, k, ta, tb, [0, 0, 0], -1.25, 0.75);
                case.check(path, true, None, "grid");
            }
        }
    }
}

#[test]
fn every_path_every_transpose_sampled_sizes_f32() {
    grid_for::<f32>(101);
}

#[test]
fn every_path_every_transpose_sampled_sizes_f64() {
    grid_for::<f64>(102);
}

/// Several KC and NC blocks (k and n above the blocking sizes), beta 0
/// (C not read: NaN in C must not leak) and a row and a column bias.
#[test]
fn blocked_depth_and_width_beta_zero_and_biases() {
    let mut rng = Rng::new(7);
    for path in paths() {
        let mut case = Case::<f32>::new(&mut rng, 13, 4100, 600, false, true, [3, 1, 2], 0.5, 0.0);
        case.c.iter_mut().step_by(7).for_each(|v| *v = f32::NAN);
        for i in 0..13 {
            for j in 4100..4102 {
                case.c[i * case.ldc + j] = 9.0;
            }
        }
        case.check(path, true, Some(BiasAxis::Columns), "wide");
        let case = Case::<f64>::new(&mut rng, 300, 21, 530, true, false, [0, 2, 0], 1.5, -0.5);
        case.check(path, true, Some(BiasAxis::Rows), "deep");
    }
}

/// The fused epilogue equals the product followed by separate bias and
/// activation passes, bit for bit, on every path (edge tiles included).
#[test]
fn fused_epilogues_equal_separate_passes() {
    use crate::ops::util::UnaryOp;
    let mut rng = Rng::new(9);
    for path in paths() {
        for (m, n, k) in [(1usize, 1usize, 1usize), (13, 35, 70), (64, 64, 300), (25, 100, 9)] {
            for axis in [BiasAxis::Rows, BiasAxis::Columns] {
                for act in [Activation::None, Activation::Relu, Activation::Gelu] {
                    for beta in [0.0, 1.0] {
                        let case = Case::<f32>::new(&mut rng, m, n, k, false, true, [0, 0, 0], 1.0, beta);
                        let opts = GemmOptions {
                            path: Some(path),
                            parallel: false,
                        };
                        let mut plain = case.c.clone();
                        let g = case.g;
                        gemm_strided(
                            &g,
                            &case.a,
                            case.lda,
                            &case.b,
                            case.ldb,
                            &mut plain,
                            n,
                            Epilogue::default(),
                            opts,
                        );
                        for i in 0..m {
                            for j in 0..n {
                                let v = &mut plain[i * n + j];
                                *v += case.bias[if axis == BiasAxis::Rows { i } else { j }];
                                *v = match act {
                                    Activation::None => *v,
                                    Activation::Relu => crate::ops::Relu.f(*v),
                                    Activation::Gelu => crate::ops::Gelu.f(*v),
                                };
                            }
                        }
                        let mut fused = case.c.clone();
                        let ep = Epilogue {
                            bias: Some((&case.bias[..], axis)),
                            act,
                        };
                        gemm_strided(&g, &case.a, case.lda, &case.b, case.ldb, &mut fused, n, ep, opts);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&fused),
                            bits(&plain),
                            "{path:?} {m}x{n}x{k} {axis:?} {act:?} beta {beta}"
                        );
                    }
                }
            }
        }
    }
}

/// ReLU in the epilogue keeps NaN (as the ReLU op does) and gives +0, not
/// -0, for negative values.
#[test]
fn fused_relu_keeps_nan_and_gives_positive_zero() {
    for path in paths() {
        let a = [1.0f32, f32::NAN, -2.0];
        let b = [1.0f32];
        let mut c = [5.0f32; 3];
        let ep = Epilogue {
            bias: None,
            act: Activation::Relu,
        };
        let opts = GemmOptions {
            path: Some(path),
            parallel: false,
        };
        gemm_strided(&Gemm::new(3, 1, 1, false, false), &a, 1, &b, 1, &mut c, 1, ep, opts);
        assert_eq!(c[0], 1.0);
        assert!(c[1].is_nan(), "{path:?}");
        assert_eq!(c[2].to_bits(), 0.0f32.to_bits(), "{path:?}");
    }
}

/// The same bits on pools of 1, 2 and 3 threads, on every path.
#[test]
fn same_bits_on_one_two_and_three_threads() {
    let mut rng = Rng::new(13);
    for path in paths() {
        for (m, n, k, ta, tb) in [
            (257usize, 129usize, 600usize, false, true),
            (130, 1000, 33, true, false),
            (64, 300, 257, false, false),
        ] {
            let case = Case::<f32>::new(&mut rng, m, n, k, ta, tb, [1, 0, 3], 0.75, 1.0);
            same_bits_on_one_two_and_three(&case, Some(path), &format!("{path:?} {m}x{n}x{k}"));
        }
    }
}

/// Runs `case` (with a column bias) on pools of 1, 2 and 3 threads: checks
/// it against the reference and that the three results are the same bits.
fn same_bits_on_one_two_and_three(case: &Case<f32>, path: Option<GemmPath>, what: &str) {
    let runs: Vec<Vec<u32>> = [1, 2, 3]
        .into_iter()
        .map(|t| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("a pool");
            let c = pool.install(|| case.run_on(path, true, Some(BiasAxis::Columns)));
            c.iter().map(|v| v.to_bits()).collect()
        })
        .collect();
    let c: Vec<f32> = runs[0].iter().map(|&b| f32::from_bits(b)).collect();
    case.compare(&c, Some(BiasAxis::Columns), what);
    assert_eq!(runs[0], runs[1], "{what}: 1 vs 2 threads");
    assert_eq!(runs[0], runs[2], "{what}: 1 vs 3 threads");
}

/// The matrix-vector path (a `Linear` at batch size 1 to 4; sizes large
/// enough that it runs in parallel chunks): the reference's values, and the
/// same bits on pools of 1, 2 and 3 threads.
#[test]
fn matrix_vector_path_same_bits_on_one_two_and_three_threads() {
    let mut rng = Rng::new(14);
    for (m, n, k) in [(1usize, 1000usize, 600usize), (3, 513, 784), (1, 257, 1000)] {
        let case = Case::<f32>::new(&mut rng, m, n, k, false, true, [0, 2, 1], 0.75, 1.0);
        same_bits_on_one_two_and_three(&case, None, &format!("matrix-vector {m}x{n}x{k}"));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// Random shapes, transposes, row strides, scalars and paths.
    #[test]
    fn random_shapes_and_strides(
        m in 1usize..90, n in 1usize..90, k in 1usize..300,
        ta: bool, tb: bool,
        pad in proptest::array::uniform3(0usize..6),
        alpha in -2.0f64..2.0, beta in -2.0f64..2.0,
        path in 0usize..3, seed: u64, f64_: bool,
    ) {
        let path = GemmPath::ALL[path];
        if path.available() {
            let mut rng = Rng::new(seed);
            if f64_ {
                Case::<f64>::new(&mut rng, m, n, k, ta, tb, pad, alpha, beta).check(path, true, None, "prop");
            } else {
                Case::<f32>::new(&mut rng, m, n, k, ta, tb, pad, alpha, beta).check(path, true, None, "prop");
            }
        }
    }
}

// ---- Soundness: sizes that overflow are rejected before any write ----

#[test]
fn overflowing_sizes_are_an_error() {
    assert!(Gemm::<f32>::try_new(1 << 62, 4, 4, false, false).is_err());
    assert!(Gemm::<f32>::try_new(4, 1 << 62, 4, true, true).is_err());
    assert!(Gemm::<f32>::try_new(4, 4, 1 << 62, false, true).is_err());
    assert!(Gemm::<f32>::try_new(1 << 20, 1 << 20, 4, false, false).is_ok());
}

#[test]
#[should_panic(expected = "more than usize::MAX elements")]
fn gemm_new_panics_on_overflow() {
    let _ = Gemm::<f32>::new(1 << 62, 4, 4, false, false);
}

/// A `Gemm` built field by field (bypassing `new`) with sizes whose
/// products wrap, on empty buffers: rejected by the kernel's checks.
#[test]
#[should_panic(expected = "overflows usize")]
fn wrapping_sizes_with_empty_buffers_panic_before_writing() {
    let g = Gemm {
        m: 1 << 62,
        n: 4,
        k: 4,
        trans_a: false,
        trans_b: false,
        alpha: 1.0f32,
        beta: 0.0,
    };
    let mut c: Vec<f32> = vec![];
    Cpu.gemm(g, &vec![], &vec![], &mut c);
}

#[test]
#[should_panic(expected = "overflows usize")]
fn wrapping_strides_panic_before_writing() {
    let g = Gemm::<f32>::new(3, 1, 1, false, false);
    let mut c = vec![0f32; 3];
    gemm_strided(
        &g,
        &[1.0; 3],
        usize::MAX / 2 + 1,
        &[1.0],
        1,
        &mut c,
        1,
        Epilogue::default(),
        GemmOptions::default(),
    );
}
