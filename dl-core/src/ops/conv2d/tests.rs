use super::*;
use crate::gradcheck::{assert_gradients, GradCheck};
use crate::ops::matmul::GemmWorkspace;
use crate::ops::util::testing::assert_close;
use crate::ops::util::window::window_taps;
use crate::{Cpu, Rng};

/// Naive reference convolution in f64 (direct loops, zero padding).
fn reference_forward(d: &Conv2dDims, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64> {
    let (oh, ow) = (d.oh(), d.ow());
    let mut y = vec![0.0; d.n * d.c_out * oh * ow];
    for n in 0..d.n {
        for o in 0..d.c_out {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[o]);
                    for c in 0..d.c_in {
                        for (p, q, iy, ix) in window_taps((i, j), d.k, d.stride, d.pad, (d.h, d.w)) {
                            let xv = x[((n * d.c_in + c) * d.h + iy) * d.w + ix];
                            acc += w[((o * d.c_in + c) * d.k + p) * d.k + q] * xv;
                        }
                    }
                    y[((n * d.c_out + o) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    y
}

fn rand(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

/// Random input, weight and bias for `d`.
fn rand_xwb(rng: &mut Rng, d: &Conv2dDims) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (rand(rng, d.x_len()), rand(rng, d.w_len()), rand(rng, d.c_out))
}

/// Edge sizes: 1x1 kernels, primes, stride larger than the kernel, padding
/// `K - 1`, a kernel as large as the padded input, a single sample.
fn edge_dims() -> Vec<Conv2dDims> {
    let d = |n, c_in, h, w, c_out, k, stride, pad| Conv2dDims {
        n,
        c_in,
        h,
        w,
        c_out,
        k,
        stride,
        pad,
    };
    vec![
        d(2, 3, 5, 5, 2, 1, 1, 0),  // 1x1 fast path
        d(1, 1, 1, 1, 1, 1, 1, 0),  // 1x1 image
        d(2, 3, 7, 5, 5, 3, 1, 0),  // primes, non-square image
        d(2, 2, 7, 11, 3, 2, 3, 0), // stride > kernel
        d(1, 2, 5, 4, 2, 3, 1, 2),  // padding = K - 1
        d(2, 1, 3, 3, 2, 5, 1, 1),  // kernel = padded input
        d(3, 2, 6, 6, 4, 3, 2, 1),  // stride 2 with padding
        d(1, 2, 4, 4, 3, 1, 2, 1),  // 1x1 kernel, stride and padding (no fast path)
    ]
}

#[test]
fn forward_matches_reference_at_edge_sizes() {
    let mut rng = Rng::new(3);
    for d in edge_dims() {
        let (x, w, b) = rand_xwb(&mut rng, &d);
        let (mut y, mut ws) = (vec![], vec![]);
        Cpu.conv2d_forward(d, &x, &w, Some(&b), &mut y, &mut ws, &mut GemmWorkspace::new());
        assert_close(&y, &reference_forward(&d, &x, &w, Some(&b)), 1e-12, 1e-12);
        Cpu.conv2d_forward(d, &x, &w, None, &mut y, &mut ws, &mut GemmWorkspace::new());
        assert_close(&y, &reference_forward(&d, &x, &w, None), 1e-12, 1e-12);
    }
}

/// f32 against the f64 reference on a size large enough to take the
/// parallel paths (B2's second convolution, at a small batch).
#[test]
fn forward_f32_large_matches_reference() {
    let d = Conv2dDims {
        n: 3,
        c_in: 32,
        h: 13,
        w: 13,
        c_out: 16,
        k: 3,
        stride: 1,
        pad: 0,
    };
    let mut rng = Rng::new(4);
    let (x, w, b) = rand_xwb(&mut rng, &d);
    let to32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
    let (mut y, mut ws) = (vec![], vec![]);
    Cpu.conv2d_forward(
        d,
        &to32(&x),
        &to32(&w),
        Some(&to32(&b)),
        &mut y,
        &mut ws,
        &mut GemmWorkspace::new(),
    );
    let expect = reference_forward(&d, &x, &w, Some(&b));
    assert_close(&y, &to32(&expect), 1e-4, 1e-4);
}

#[test]
fn gradient_check_at_edge_sizes() {
    let mut rng = Rng::new(5);
    for d in edge_dims() {
        let (x, w, b) = rand_xwb(&mut rng, &d);
        let g: Vec<f64> = (0..d.y_len()).map(|i| 0.2 + (i as f64 * 0.61).sin()).collect();
        let loss = |[x, w, b]: [&[f64]; 3]| -> f64 {
            let (mut y, mut ws) = (vec![], vec![]);
            Cpu.conv2d_forward(
                d,
                &x.to_vec(),
                &w.to_vec(),
                Some(&b.to_vec()),
                &mut y,
                &mut ws,
                &mut GemmWorkspace::new(),
            );
            y.iter().zip(&g).map(|(a, b)| a * b).sum()
        };
        let mut ws = vec![];
        // Stale values in dx must be overwritten; dw/db must accumulate.
        let mut dx = vec![7.0; 3];
        Cpu.conv2d_backward_input(d, &w, &g, &mut dx, &mut ws, &mut GemmWorkspace::new());
        let (mut dw, mut db) = (vec![0.5; d.w_len()], vec![0.25; d.c_out]);
        Cpu.conv2d_backward_weight(d, &x, &g, &mut dw, Some(&mut db), &mut ws, &mut GemmWorkspace::new());
        dw.iter_mut().for_each(|v| *v -= 0.5);
        db.iter_mut().for_each(|v| *v -= 0.25);
        assert_gradients(
            loss,
            [&x, &w, &b],
            [&dx, &dw, &db],
            GradCheck::default(),
            format!("{d:?}"),
        );
    }
}

/// The reused workspace gives the same results whatever it held before
/// (it is shared between forward and both backward kernels).
#[test]
fn workspace_reuse_is_transparent() {
    let d = Conv2dDims {
        n: 2,
        c_in: 2,
        h: 6,
        w: 5,
        c_out: 3,
        k: 3,
        stride: 2,
        pad: 1,
    };
    let mut rng = Rng::new(6);
    let (x, w, dy) = (
        rand(&mut rng, d.x_len()),
        rand(&mut rng, d.w_len()),
        rand(&mut rng, d.y_len()),
    );
    let run = |ws: &mut Vec<f64>| {
        let (mut y, mut dx, mut dw) = (vec![], vec![], vec![0.0; d.w_len()]);
        Cpu.conv2d_forward(d, &x, &w, None, &mut y, ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_input(d, &w, &dy, &mut dx, ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_weight(d, &x, &dy, &mut dw, None, ws, &mut GemmWorkspace::new());
        (y, dx, dw)
    };
    let fresh = run(&mut vec![]);
    let mut dirty = vec![f64::NAN; 10_000];
    assert_eq!(run(&mut dirty), fresh);
    let cap = dirty.capacity();
    run(&mut dirty);
    assert_eq!(dirty.capacity(), cap, "workspace reallocated");
}

#[test]
fn empty_batch() {
    let d = Conv2dDims {
        n: 0,
        c_in: 2,
        h: 4,
        w: 4,
        c_out: 3,
        k: 3,
        stride: 1,
        pad: 0,
    };
    let w = vec![1.0f32; d.w_len()];
    let (mut y, mut dx, mut ws) = (vec![1.0f32], vec![1.0f32], vec![]);
    Cpu.conv2d_forward(d, &vec![], &w, None, &mut y, &mut ws, &mut GemmWorkspace::new());
    assert!(y.is_empty());
    Cpu.conv2d_backward_input(d, &w, &vec![], &mut dx, &mut ws, &mut GemmWorkspace::new());
    assert!(dx.is_empty());
    let (mut dw, mut db) = (vec![0.5f32; d.w_len()], vec![0.5f32; 3]);
    Cpu.conv2d_backward_weight(
        d,
        &vec![],
        &vec![],
        &mut dw,
        Some(&mut db),
        &mut ws,
        &mut GemmWorkspace::new(),
    );
    assert!(dw.iter().chain(&db).all(|&v| v == 0.5));
}

#[test]
fn invalid_dims_are_typed_errors() {
    let d = Conv2dDims {
        n: 1,
        c_in: 1,
        h: 4,
        w: 4,
        c_out: 1,
        k: 3,
        stride: 1,
        pad: 0,
    };
    assert!(d.validate().is_ok());
    for bad in [
        Conv2dDims { stride: 0, ..d },
        Conv2dDims { k: 0, ..d },
        Conv2dDims { k: 5, ..d },
        Conv2dDims { c_in: 0, ..d },
        // Sizes that overflow usize (the buffers' lengths would wrap).
        Conv2dDims {
            n: 1 << 40,
            c_in: 1 << 30,
            ..d
        },
        Conv2dDims {
            pad: usize::MAX / 2,
            ..d
        },
        Conv2dDims { n: usize::MAX / 2, ..d },
    ] {
        assert!(
            matches!(bad.validate(), Err(Error::InvalidArgument { op: "conv2d", .. })),
            "{bad:?}"
        );
    }
    assert_eq!(Conv2dDims { k: 5, ..d }.y_len(), 0);
    assert_eq!(Conv2dDims { stride: 0, ..d }.y_len(), 0);
    assert!(Conv2dDims { k: 5, pad: 1, ..d }.validate().is_ok());
}
