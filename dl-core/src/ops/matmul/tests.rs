use super::cpu_kernel::gemm_reference;
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
        for ta in [false, true] {
            for tb in [false, true] {
                for beta in [0.0, 1.0, 0.5] {
                    let g = Gemm {
                        m,
                        n,
                        k,
                        trans_a: ta,
                        trans_b: tb,
                        alpha: 1.5,
                        beta,
                    };
                    let a = rand_vec(&mut rng, m * k);
                    let b = rand_vec(&mut rng, k * n);
                    let c0 = rand_vec(&mut rng, m * n);
                    let mut c = c0.clone();
                    let mut r = c0.clone();
                    Cpu.gemm(g, &a, &b, &mut c);
                    gemm_reference(&g, &a, &b, &mut r);
                    assert_close(&c, &r, 1e-12, 1e-12);
                }
            }
        }
    }
}

#[test]
fn f32_large_parallel_matches_reference() {
    let mut rng = Rng::new(2);
    let (m, n, k) = (130, 129, 257);
    let a: Vec<f32> = rand_vec(&mut rng, m * k).into_iter().map(|v| v as f32).collect();
    let b: Vec<f32> = rand_vec(&mut rng, k * n).into_iter().map(|v| v as f32).collect();
    let g = Gemm::new(m, n, k, false, true);
    let mut c = vec![0f32; m * n];
    let mut r = vec![0f32; m * n];
    Cpu.gemm(g, &a, &b, &mut c);
    gemm_reference(&g, &a, &b, &mut r);
    assert_close(&c, &r, 1e-4, 1e-4);
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
