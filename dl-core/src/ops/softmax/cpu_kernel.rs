use super::{SoftmaxDims, SoftmaxKernel};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

fn forward_row<E: Float>(log: bool, x: &[E], y: &mut [E]) {
    // Float::max skips NaN; a NaN in the row still reaches every output through the sum.
    let m = x.iter().fold(E::NEG_INFINITY, |m, &v| m.max(v));
    let mut s = E::ZERO;
    for (y, &x) in y.iter_mut().zip(x) {
        let e = (x - m).exp();
        *y = e;
        s += e;
    }
    if log {
        let ls = s.ln();
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x - m - ls;
        }
    } else {
        let inv = E::ONE / s;
        y.iter_mut().for_each(|y| *y *= inv);
    }
}

fn backward_row<E: Float>(log: bool, y: &[E], dy: &[E], dx: &mut [E]) {
    if log {
        let s: E = dy.iter().copied().sum();
        for i in 0..dx.len() {
            dx[i] = dy[i] - y[i].exp() * s;
        }
    } else {
        let dot: E = y.iter().zip(dy).map(|(&a, &b)| a * b).sum();
        for i in 0..dx.len() {
            dx[i] = y[i] * (dy[i] - dot);
        }
    }
}

impl SoftmaxKernel for Host {
    fn softmax_forward<E: Float>(&self, d: SoftmaxDims, x: &Vec<E>, y: &mut Vec<E>) {
        let (cols, log) = (d.cols, d.log);
        let n = d.check("softmax_forward", &[x.len()]);
        y.resize(n, E::ZERO);
        if n == 0 {
            return;
        }
        let x = &x[..n];
        if n >= PAR_THRESHOLD {
            y.par_chunks_mut(cols)
                .zip(x.par_chunks(cols))
                .for_each(|(y, x)| forward_row(log, x, y));
        } else {
            y.chunks_mut(cols)
                .zip(x.chunks(cols))
                .for_each(|(y, x)| forward_row(log, x, y));
        }
    }

    fn softmax_backward<E: Float>(&self, d: SoftmaxDims, y: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
        let (cols, log) = (d.cols, d.log);
        let n = d.check("softmax_backward", &[y.len(), dy.len()]);
        dx.resize(n, E::ZERO);
        if n == 0 {
            return;
        }
        let (y, dy) = (&y[..n], &dy[..n]);
        if n >= PAR_THRESHOLD {
            dx.par_chunks_mut(cols)
                .zip(y.par_chunks(cols).zip(dy.par_chunks(cols)))
                .for_each(|(dx, (y, dy))| backward_row(log, y, dy, dx));
        } else {
            dx.chunks_mut(cols)
                .zip(y.chunks(cols).zip(dy.chunks(cols)))
                .for_each(|(dx, (y, dy))| backward_row(log, y, dy, dx));
        }
    }
}
