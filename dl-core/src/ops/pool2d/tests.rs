use super::*;
use crate::gradcheck::{check_gradient, GradCheck};
use crate::ops::util::testing::assert_close;
use crate::ops::util::window::window_taps;
use crate::{Cpu, Rng};

/// Naive reference pooling in f64: `max` (padding = -inf) or mean over `k * k`.
fn reference(d: &Pool2dDims, x: &[f64], max: bool) -> Vec<f64> {
    let (oh, ow) = (d.oh(), d.ow());
    let mut y = vec![0.0; d.planes() * oh * ow];
    for p in 0..d.planes() {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                for (_, _, iy, ix) in window_taps((i, j), d.k, d.stride, d.pad, (d.h, d.w)) {
                    let v = x[(p * d.h + iy) * d.w + ix];
                    acc = if max { acc.max(v) } else { acc + v };
                }
                y[(p * oh + i) * ow + j] = if max { acc } else { acc / (d.k * d.k) as f64 };
            }
        }
    }
    y
}

fn edge_dims() -> Vec<Pool2dDims> {
    let d = |n, c, h, w, k, stride, pad| Pool2dDims {
        n,
        c,
        h,
        w,
        k,
        stride,
        pad,
    };
    vec![
        d(2, 3, 8, 8, 2, 2, 0),  // the usual 2x2
        d(1, 1, 1, 1, 1, 1, 0),  // 1x1
        d(2, 2, 7, 5, 3, 2, 1),  // primes, padding
        d(1, 2, 11, 7, 2, 3, 0), // stride > kernel
        d(2, 1, 5, 5, 3, 1, 1),  // padding = K - 1 with K = 3 is not allowed; this is K / 2
        d(1, 2, 3, 3, 2, 1, 1),  // padding = K - 1 (K = 2)
        d(1, 1, 2, 3, 5, 1, 2),  // window larger than the input
    ]
}

/// Distinct values, so the max is unique and the gradient defined.
fn distinct(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.1 - 1.0).collect();
    for i in (1..n).rev() {
        let j = (rng.uniform_range(0.0, 1.0) * (i + 1) as f64) as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

#[test]
fn forward_matches_reference_at_edge_sizes() {
    let mut rng = Rng::new(1);
    for d in edge_dims() {
        d.validate().unwrap();
        let x = distinct(&mut rng, d.x_len());
        let (mut y, mut idx) = (vec![], vec![]);
        Cpu.maxpool2d_forward(d, &x, &mut y, &mut idx);
        assert_close(&y, &reference(&d, &x, true), 0.0, 0.0);
        for (j, &i) in idx.iter().enumerate() {
            let p = j / (d.oh() * d.ow());
            assert_eq!(x[p * d.h * d.w + i as usize], y[j], "argmax {j} of {d:?}");
        }
        Cpu.avgpool2d_forward(d, &x, &mut y);
        assert_close(&y, &reference(&d, &x, false), 1e-14, 1e-14);
    }
}

#[test]
fn gradient_check_at_edge_sizes() {
    let mut rng = Rng::new(2);
    for d in edge_dims() {
        let x = distinct(&mut rng, d.x_len());
        let g: Vec<f64> = (0..d.y_len()).map(|i| 0.3 + (i as f64 * 0.7).cos()).collect();
        let dot = |y: &[f64]| y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>();
        // Max: the step (1e-6) is far below the gap between values (0.1), so
        // the argmax does not change under the perturbation.
        let (mut y, mut idx, mut dx) = (vec![], vec![], vec![9.0; 2]);
        Cpu.maxpool2d_forward(d, &x, &mut y, &mut idx);
        Cpu.maxpool2d_backward(d, &idx, &g, &mut dx);
        let fmax = |v: &[f64]| {
            let (mut y, mut i) = (vec![], vec![]);
            Cpu.maxpool2d_forward(d, &v.to_vec(), &mut y, &mut i);
            dot(&y)
        };
        check_gradient(fmax, &x, &dx, GradCheck::default()).unwrap_or_else(|e| panic!("max {d:?}: {e}"));
        let mut dx = vec![9.0; 2];
        Cpu.avgpool2d_backward(d, &g, &mut dx);
        let favg = |v: &[f64]| {
            let mut y = vec![];
            Cpu.avgpool2d_forward(d, &v.to_vec(), &mut y);
            dot(&y)
        };
        check_gradient(favg, &x, &dx, GradCheck::default()).unwrap_or_else(|e| panic!("avg {d:?}: {e}"));
    }
}

/// Ties go to the first position; a NaN wins (PyTorch); padding never wins
/// even when every real value is very negative.
#[test]
fn ties_nan_and_padding() {
    let d = Pool2dDims {
        n: 1,
        c: 1,
        h: 2,
        w: 2,
        k: 2,
        stride: 2,
        pad: 0,
    };
    let (mut y, mut idx) = (vec![], vec![]);
    Cpu.maxpool2d_forward(d, &vec![3.0f32, 3.0, 1.0, 3.0], &mut y, &mut idx);
    assert_eq!((y.clone(), idx.clone()), (vec![3.0], vec![0]));
    Cpu.maxpool2d_forward(d, &vec![1.0f32, f32::NAN, 5.0, 2.0], &mut y, &mut idx);
    assert!(y[0].is_nan() && idx[0] == 1);
    let dp = Pool2dDims {
        pad: 1,
        k: 3,
        stride: 1,
        ..d
    };
    Cpu.maxpool2d_forward(dp, &vec![-1e30f32; 4], &mut y, &mut idx);
    assert_eq!(y, vec![-1e30; 4]);
}

#[test]
fn large_input_takes_the_parallel_path() {
    let d = Pool2dDims {
        n: 8,
        c: 32,
        h: 26,
        w: 26,
        k: 2,
        stride: 2,
        pad: 0,
    };
    let mut rng = Rng::new(3);
    let x = distinct(&mut rng, d.x_len());
    let (mut y, mut idx, mut dx) = (vec![], vec![], vec![]);
    Cpu.maxpool2d_forward(d, &x, &mut y, &mut idx);
    assert_eq!(y, reference(&d, &x, true));
    let g = vec![1.0; d.y_len()];
    Cpu.maxpool2d_backward(d, &idx, &g, &mut dx);
    // Non-overlapping windows: one 1 per window, at the max.
    assert_eq!(dx.iter().sum::<f64>(), d.y_len() as f64);
    Cpu.avgpool2d_forward(d, &x, &mut y);
    assert_close(&y, &reference(&d, &x, false), 1e-12, 1e-12);
}

#[test]
fn global_average_values_and_gradient() {
    let mut rng = Rng::new(4);
    let (planes, hw) = (6, 5);
    let x: Vec<f64> = (0..planes * hw).map(|_| rng.normal()).collect();
    let mut y = vec![];
    Cpu.global_avgpool2d_forward(planes, hw, &x, &mut y);
    let expect: Vec<f64> = x.chunks(hw).map(|c| c.iter().sum::<f64>() / hw as f64).collect();
    assert_close(&y, &expect, 1e-14, 1e-14);
    let g: Vec<f64> = (0..planes).map(|i| i as f64 - 2.5).collect();
    let mut dx = vec![];
    Cpu.global_avgpool2d_backward(planes, hw, &g, &mut dx);
    let f = |v: &[f64]| {
        let mut y = vec![];
        Cpu.global_avgpool2d_forward(planes, hw, &v.to_vec(), &mut y);
        y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
    };
    check_gradient(f, &x, &dx, GradCheck::default()).unwrap();
    // Typed forms.
    let t = Tensor::<S3<3, 1, 5>, Cpu, f64>::from_slice(&Cpu, 2, &x).unwrap();
    assert_eq!(global_avg_pool2d(&t).to_vec(), y);
    let gt = Tensor::<S1<3>, Cpu, f64>::from_slice(&Cpu, 2, &g).unwrap();
    assert_eq!(global_avg_pool2d_backward::<3, 1, 5, _, _>(&gt).to_vec(), dx);
}

#[test]
fn empty_batch() {
    let d = Pool2dDims {
        n: 0,
        c: 2,
        h: 4,
        w: 4,
        k: 2,
        stride: 2,
        pad: 0,
    };
    let (mut y, mut idx, mut dx) = (vec![1.0f32], vec![1u32], vec![1.0f32]);
    Cpu.maxpool2d_forward(d, &vec![], &mut y, &mut idx);
    assert!(y.is_empty() && idx.is_empty());
    Cpu.maxpool2d_backward(d, &idx, &vec![], &mut dx);
    assert!(dx.is_empty());
    Cpu.avgpool2d_forward(d, &vec![], &mut y);
    Cpu.avgpool2d_backward(d, &vec![], &mut dx);
    assert!(y.is_empty() && dx.is_empty());
    Cpu.global_avgpool2d_forward(0, 16, &vec![], &mut y);
    assert!(y.is_empty());
}

#[test]
fn bad_hyperparameters_are_typed_errors() {
    let x = Tensor::<S3<1, 4, 4>, Cpu, f32>::zeros(&Cpu, 1);
    let mut y = Tensor::<S3<1, 2, 2>, Cpu, f32>::empty(&Cpu);
    let mut idx = vec![];
    max_pool2d(&x, 2, 2, 0, &mut y, &mut idx).unwrap();
    avg_pool2d(&x, 2, 2, 0, &mut y).unwrap();
    for (k, s, p) in [(0, 1, 0), (2, 0, 0), (2, 2, 2), (9, 1, 0)] {
        let e = max_pool2d(&x, k, s, p, &mut y, &mut idx).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { op: "pool2d", .. }),
            "{k} {s} {p}: {e}"
        );
    }
    let e = avg_pool2d(&x, 3, 2, 0, &mut y).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let dy = Tensor::<S3<1, 2, 2>, Cpu, f32>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let mut dx = Tensor::<S3<1, 4, 4>, Cpu, f32>::empty(&Cpu);
    avg_pool2d_backward(2, 2, 0, &dy, &mut dx).unwrap();
    assert_eq!(dx.to_vec()[..4], [0.25, 0.25, 0.5, 0.5]);
    max_pool2d_backward(&idx, 2, 2, 0, &dy, &mut dx).unwrap();
    assert_eq!(dx.to_vec().iter().sum::<f32>(), 10.0);
}
