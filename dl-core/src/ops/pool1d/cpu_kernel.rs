//! CPU loops of 1-D pooling on host slices (also the host-copy kernels of
//! backends that opt in with `Pool1dOnHost`).

use super::{Pool1dDims, Pool1dKernel};
use crate::ops::mono::Host;

use crate::dtype::Float;

/// The input positions of output `j`'s window that lie inside the input.
#[inline]
fn window(d: &Pool1dDims, j: usize) -> std::ops::Range<usize> {
    let start = j * d.stride;
    let lo = start.saturating_sub(d.pad);
    let hi = (start + d.k).saturating_sub(d.pad).min(d.l);
    lo..hi.max(lo)
}

/// Max pooling on host slices: writes `y[..d.y_len()]` and `idx` (position
/// within the row; the first maximum on ties).
pub fn max_pool1d_forward_host<E: Float>(d: Pool1dDims, x: &[E], y: &mut [E], idx: &mut [u32]) {
    let lo = d.lo();
    for r in 0..d.n * d.c {
        let xr = &x[r * d.l..][..d.l];
        for j in 0..lo {
            let mut best = (E::NEG_INFINITY, 0usize);
            let mut first = true;
            for p in window(&d, j) {
                if first || xr[p] > best.0 {
                    best = (xr[p], p);
                    first = false;
                }
            }
            y[r * lo + j] = best.0;
            idx[r * lo + j] = best.1 as u32;
        }
    }
}

/// Max pooling input gradient on host slices: overwrites `dx[..d.x_len()]`.
pub fn max_pool1d_backward_host<E: Float>(d: Pool1dDims, idx: &[u32], dy: &[E], dx: &mut [E]) {
    let lo = d.lo();
    dx[..d.x_len()].fill(E::ZERO);
    for r in 0..d.n * d.c {
        for j in 0..lo {
            dx[r * d.l + idx[r * lo + j] as usize] += dy[r * lo + j];
        }
    }
}

/// Average pooling on host slices (`count_include_pad`).
pub fn avg_pool1d_forward_host<E: Float>(d: Pool1dDims, x: &[E], y: &mut [E]) {
    let (lo, inv) = (d.lo(), E::ONE / E::from_f64(d.k as f64));
    for r in 0..d.n * d.c {
        let xr = &x[r * d.l..][..d.l];
        for j in 0..lo {
            let mut s = E::ZERO;
            for p in window(&d, j) {
                s += xr[p];
            }
            y[r * lo + j] = s * inv;
        }
    }
}

/// Average pooling input gradient on host slices: overwrites `dx[..d.x_len()]`.
pub fn avg_pool1d_backward_host<E: Float>(d: Pool1dDims, dy: &[E], dx: &mut [E]) {
    let (lo, inv) = (d.lo(), E::ONE / E::from_f64(d.k as f64));
    dx[..d.x_len()].fill(E::ZERO);
    for r in 0..d.n * d.c {
        for j in 0..lo {
            let g = dy[r * lo + j] * inv;
            for p in window(&d, j) {
                dx[r * d.l + p] += g;
            }
        }
    }
}

impl Pool1dKernel for Host {
    fn max_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Vec<E>, y: &mut Vec<E>, idx: &mut Vec<u32>) {
        y.resize(d.y_len(), E::ZERO);
        idx.resize(d.y_len(), 0);
        max_pool1d_forward_host(d, x, y, idx);
    }
    fn max_pool1d_backward<E: Float>(&self, d: Pool1dDims, idx: &Vec<u32>, dy: &Vec<E>, dx: &mut Vec<E>) {
        dx.resize(d.x_len(), E::ZERO);
        max_pool1d_backward_host(d, idx, dy, dx);
    }
    fn avg_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Vec<E>, y: &mut Vec<E>) {
        y.resize(d.y_len(), E::ZERO);
        avg_pool1d_forward_host(d, x, y);
    }
    fn avg_pool1d_backward<E: Float>(&self, d: Pool1dDims, dy: &Vec<E>, dx: &mut Vec<E>) {
        dx.resize(d.x_len(), E::ZERO);
        avg_pool1d_backward_host(d, dy, dx);
    }
}
