//! The 1-D convolution in an [`autocast`](crate::amp::autocast) scope:
//! the direct kernel of `cpu_kernel.rs` on operands rounded to bf16/f16,
//! its result rounded once, as for the GEMM-based layers (`crate::amp`).
//! PyTorch autocasts `conv1d` too. The CUDA backend runs Conv1d on host
//! copies, so this covers it there as well.

use super::cpu_kernel::{bias_grad_host, conv1d_backward_input_host, conv1d_backward_weight_host, conv1d_forward_host};
use super::Conv1dDims;
use crate::amp::{rounded_into, suspended, Precision};
use std::cell::Cell;

thread_local! {
    /// Rounded copies of the two operands and the bias, and the rounded
    /// weight gradient: grown once per thread, then reused.
    static SCRATCH: Cell<[Vec<f32>; 4]> = const { Cell::new([Vec::new(), Vec::new(), Vec::new(), Vec::new()]) };
}

/// `y = round(conv(round(x), round(w)) + round(b))`.
pub(crate) fn forward(p: Precision, d: Conv1dDims, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32]) {
    let [mut xr, mut wr, mut br, tmp] = SCRATCH.with(Cell::take);
    let (xl, wl) = (rounded_into(p, x, &mut xr), rounded_into(p, w, &mut wr));
    let bl = b.map(|b| rounded_into(p, b, &mut br));
    suspended(|| conv1d_forward_host(d, xl, wl, bl, y));
    p.round_slice(&mut y[..d.y_len()]);
    SCRATCH.with(|s| s.set([xr, wr, br, tmp]));
}

/// `dx = round(conv_transpose(round(dy), round(w)))`.
pub(crate) fn backward_input(p: Precision, d: Conv1dDims, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let [mut wr, mut dyr, br, tmp] = SCRATCH.with(Cell::take);
    let (wl, dyl) = (rounded_into(p, w, &mut wr), rounded_into(p, dy, &mut dyr));
    suspended(|| conv1d_backward_input_host(d, wl, dyl, dx));
    p.round_slice(&mut dx[..d.x_len()]);
    SCRATCH.with(|s| s.set([wr, dyr, br, tmp]));
}

/// `dw += round(corr(round(x), round(dy)))`, as PyTorch adds a bf16
/// weight gradient into an `f32` `.grad`; `db += sum(dy)` in `f32` (a
/// reduction, which autocast leaves in `f32`).
pub(crate) fn backward_weight(
    p: Precision,
    d: Conv1dDims,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let [mut xr, mut dyr, br, mut tmp] = SCRATCH.with(Cell::take);
    let (xl, dyl) = (rounded_into(p, x, &mut xr), rounded_into(p, dy, &mut dyr));
    tmp.clear();
    tmp.resize(d.w_len(), 0.0);
    suspended(|| conv1d_backward_weight_host(d, xl, dyl, &mut tmp, None));
    p.round_slice(&mut tmp);
    for (g, t) in dw[..d.w_len()].iter_mut().zip(&tmp) {
        *g += t;
    }
    if let Some(db) = db {
        bias_grad_host(d, dy, db);
    }
    SCRATCH.with(|s| s.set([xr, dyr, br, tmp]));
}

#[cfg(test)]
mod tests {
    use super::super::{Conv1dDims, Conv1dKernel};
    use super::*;
    use crate::amp::autocast;
    use crate::{Cpu, Rng};

    fn rounded(p: Precision, v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        p.round_slice(&mut v);
        v
    }

    fn data(r: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| r.normal() as f32).collect()
    }

    /// In a scope, each pass is the `f32` kernel on operands rounded to the
    /// low precision, its result rounded once (the weight gradient added to
    /// the `f32` one, the bias gradient an `f32` sum); the check is not
    /// vacuous (the `f32` results differ); `f64` is left alone.
    #[test]
    fn passes_are_the_kernels_on_rounded_operands_rounded_once() {
        let mut r = Rng::new(9);
        let d = Conv1dDims {
            n: 3,
            c_in: 4,
            l: 19,
            c_out: 5,
            k: 3,
            stride: 2,
            pad: 1,
        };
        d.validate().unwrap();
        let (x, w, b, dy) = (
            data(&mut r, d.x_len()),
            data(&mut r, d.w_len()),
            data(&mut r, d.c_out),
            data(&mut r, d.y_len()),
        );
        let (dw0, db0) = (data(&mut r, d.w_len()), data(&mut r, d.c_out));
        for p in [Precision::Bf16, Precision::F16] {
            let (mut y, mut dx, mut dw, mut db) = (Vec::new(), Vec::new(), dw0.clone(), db0.clone());
            autocast(&Cpu, p, || {
                Cpu.conv1d_forward(d, &x, &w, Some(&b), &mut y);
                Cpu.conv1d_backward_input(d, &w, &dy, &mut dx);
                Cpu.conv1d_backward_weight(d, &x, &dy, &mut dw, Some(&mut db));
            })
            .unwrap();
            let (xr, wr, br, dyr) = (rounded(p, &x), rounded(p, &w), rounded(p, &b), rounded(p, &dy));
            let (mut want_y, mut want_dx, mut prod) = (Vec::new(), Vec::new(), vec![0.0f32; d.w_len()]);
            Cpu.conv1d_forward(d, &xr, &wr, Some(&br), &mut want_y);
            Cpu.conv1d_backward_input(d, &wr, &dyr, &mut want_dx);
            Cpu.conv1d_backward_weight(d, &xr, &dyr, &mut prod, None);
            let want_dw: Vec<f32> = dw0.iter().zip(rounded(p, &prod)).map(|(a, b)| a + b).collect();
            let mut want_db = db0.clone();
            Cpu.conv1d_backward_weight(d, &x, &dy, &mut vec![0.0; d.w_len()], Some(&mut want_db));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&rounded(p, &want_y)), "{p} forward");
            assert_eq!(bits(&dx), bits(&rounded(p, &want_dx)), "{p} input gradient");
            assert_eq!(bits(&dw), bits(&want_dw), "{p} weight gradient");
            assert_eq!(bits(&db), bits(&want_db), "{p} bias gradient");
            // Not vacuous: the f32 passes give other values.
            let (mut y32, mut dx32) = (Vec::new(), Vec::new());
            Cpu.conv1d_forward(d, &x, &w, Some(&b), &mut y32);
            Cpu.conv1d_backward_input(d, &w, &dy, &mut dx32);
            assert!(y.iter().zip(&y32).filter(|(a, b)| a != b).count() > y.len() / 2, "{p}");
            assert!(
                dx.iter().zip(&dx32).filter(|(a, b)| a != b).count() > dx.len() / 2,
                "{p}"
            );
            // f64 is not autocast.
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
            let (mut a, mut b64) = (Vec::new(), Vec::new());
            autocast(&Cpu, p, || Cpu.conv1d_forward(d, &x64, &w64, None, &mut a)).unwrap();
            Cpu.conv1d_forward(d, &x64, &w64, None, &mut b64);
            assert_eq!(a, b64);
        }
    }
}
