//! CPU loops of the 1-D convolution, on host slices (also the host-copy
//! kernels of backends that opt in with `Conv1dOnHost`).

use super::{Conv1dDims, Conv1dKernel};
use crate::ops::mono::Host;
use crate::ops::util::window::tap_pos;

use crate::amp::{as_f32, as_f32_mut, low_for};
use crate::dtype::Float;
use rayon::prelude::*;

/// The input position read by output `j` and tap `q`, if inside the input.
#[inline]
fn pos(d: &Conv1dDims, j: usize, q: usize) -> Option<usize> {
    tap_pos(j, q, d.stride, d.pad, d.l)
}

/// Forward on host slices: writes `y[..d.y_len()]`.
///
/// # Panics
/// If a slice is shorter than `d` requires.
pub fn conv1d_forward_host<E: Float>(d: Conv1dDims, x: &[E], w: &[E], b: Option<&[E]>, y: &mut [E]) {
    let (lo, xs, ys) = (d.lo(), d.c_in * d.l, d.c_out * d.lo());
    assert!(
        x.len() >= d.x_len() && w.len() >= d.w_len() && y.len() >= d.y_len(),
        "conv1d_forward: short buffer"
    );
    if let Some(p) = low_for::<E>() {
        return super::autocast::forward(p, d, as_f32(x), as_f32(w), b.map(as_f32), as_f32_mut(y));
    }
    if ys == 0 {
        return;
    }
    y[..d.y_len()]
        .par_chunks_mut(ys)
        .zip(x.par_chunks(xs.max(1)))
        .for_each(|(y, x)| {
            for o in 0..d.c_out {
                for j in 0..lo {
                    let mut s = b.map_or(E::ZERO, |b| b[o]);
                    for c in 0..d.c_in {
                        let wr = &w[(o * d.c_in + c) * d.k..][..d.k];
                        let xr = &x[c * d.l..][..d.l];
                        for (q, &wv) in wr.iter().enumerate() {
                            if let Some(p) = pos(&d, j, q) {
                                s += wv * xr[p];
                            }
                        }
                    }
                    y[o * lo + j] = s;
                }
            }
        });
}

/// Input gradient on host slices: overwrites `dx[..d.x_len()]`.
///
/// # Panics
/// If a slice is shorter than `d` requires.
pub fn conv1d_backward_input_host<E: Float>(d: Conv1dDims, w: &[E], dy: &[E], dx: &mut [E]) {
    let (lo, xs, ys) = (d.lo(), d.c_in * d.l, d.c_out * d.lo());
    assert!(
        dy.len() >= d.y_len() && w.len() >= d.w_len() && dx.len() >= d.x_len(),
        "conv1d_backward_input: short buffer"
    );
    if let Some(p) = low_for::<E>() {
        return super::autocast::backward_input(p, d, as_f32(w), as_f32(dy), as_f32_mut(dx));
    }
    if xs == 0 {
        return;
    }
    dx[..d.x_len()]
        .par_chunks_mut(xs)
        .zip(dy.par_chunks(ys.max(1)))
        .for_each(|(dx, dy)| {
            dx.fill(E::ZERO);
            for o in 0..d.c_out {
                for j in 0..lo {
                    let g = dy[o * lo + j];
                    for c in 0..d.c_in {
                        let wr = &w[(o * d.c_in + c) * d.k..][..d.k];
                        for (q, &wv) in wr.iter().enumerate() {
                            if let Some(p) = pos(&d, j, q) {
                                dx[c * d.l + p] += wv * g;
                            }
                        }
                    }
                }
            }
        });
}

/// Parameter gradients on host slices: accumulates into `dw` and `db`.
///
/// # Panics
/// If a slice is shorter than `d` requires.
pub fn conv1d_backward_weight_host<E: Float>(d: Conv1dDims, x: &[E], dy: &[E], dw: &mut [E], db: Option<&mut [E]>) {
    let (lo, xs, ys) = (d.lo(), d.c_in * d.l, d.c_out * d.lo());
    assert!(
        x.len() >= d.x_len() && dy.len() >= d.y_len() && dw.len() >= d.w_len(),
        "conv1d_backward_weight: short buffer"
    );
    if let Some(p) = low_for::<E>() {
        let db = db.map(as_f32_mut);
        return super::autocast::backward_weight(p, d, as_f32(x), as_f32(dy), as_f32_mut(dw), db);
    }
    let row = d.c_in * d.k;
    if row > 0 {
        dw[..d.w_len()].par_chunks_mut(row).enumerate().for_each(|(o, dwo)| {
            for n in 0..d.n {
                let (x, dy) = (&x[n * xs..][..xs], &dy[n * ys..][..ys]);
                for j in 0..lo {
                    let g = dy[o * lo + j];
                    for c in 0..d.c_in {
                        for q in 0..d.k {
                            if let Some(p) = pos(&d, j, q) {
                                dwo[c * d.k + q] += g * x[c * d.l + p];
                            }
                        }
                    }
                }
            }
        });
    }
    if let Some(db) = db {
        bias_grad_host(d, dy, db);
    }
}

/// `db[o] += sum over n, j of dy[n, o, j]`, in that order.
pub(crate) fn bias_grad_host<E: Float>(d: Conv1dDims, dy: &[E], db: &mut [E]) {
    let (lo, ys) = (d.lo(), d.c_out * d.lo());
    for (o, dbo) in db[..d.c_out].iter_mut().enumerate() {
        for n in 0..d.n {
            for &g in &dy[n * ys + o * lo..][..lo] {
                *dbo += g;
            }
        }
    }
}

impl Conv1dKernel for Host {
    fn conv1d_forward<E: Float>(&self, d: Conv1dDims, x: &Vec<E>, w: &Vec<E>, b: Option<&Vec<E>>, y: &mut Vec<E>) {
        y.resize(d.y_len(), E::ZERO);
        conv1d_forward_host(d, x, w, b.map(|b| b.as_slice()), y);
    }
    fn conv1d_backward_input<E: Float>(&self, d: Conv1dDims, w: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
        dx.resize(d.x_len(), E::ZERO);
        conv1d_backward_input_host(d, w, dy, dx);
    }
    fn conv1d_backward_weight<E: Float>(
        &self,
        d: Conv1dDims,
        x: &Vec<E>,
        dy: &Vec<E>,
        dw: &mut Vec<E>,
        db: Option<&mut Vec<E>>,
    ) {
        conv1d_backward_weight_host(d, x, dy, dw, db.map(|b| b.as_mut_slice()));
    }
}
