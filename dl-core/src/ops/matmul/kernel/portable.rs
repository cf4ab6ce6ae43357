//! The portable micro-kernel: plain Rust on `[[E; NR]; MR]` accumulators
//! (the compiler vectorises the inner loop where the target allows), for
//! any target and any [`Float`].

use super::{Epi, Kernel};
use crate::dtype::Float;

const MR: usize = 4;
const NR: usize = 8;

/// `MR x NR` tile, separate multiplies and adds.
///
/// # Safety
/// See [`super::KernelFn`].
unsafe fn tile<E: Float>(kc: usize, a: *const E, b: *const E, c: *mut E, ldc: usize, ep: Epi<E>) {
    let mut acc = [[E::ZERO; NR]; MR];
    // SAFETY: by the caller's contract `a` holds kc * MR elements, `b`
    // kc * NR, `c + i * ldc + j` is valid for i < MR, j < NR, and the
    // non-null biases hold MR (row) and NR (column) elements.
    unsafe {
        for p in 0..kc {
            let ap = a.add(p * MR);
            let bp = b.add(p * NR);
            for (i, row) in acc.iter_mut().enumerate() {
                let av = *ap.add(i);
                for (j, r) in row.iter_mut().enumerate() {
                    *r += av * *bp.add(j);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            let ci = c.add(i * ldc);
            for (j, r) in row.iter().enumerate() {
                let mut x = *r * ep.alpha;
                if ep.beta == E::ONE {
                    x = *ci.add(j) + x;
                } else if ep.beta != E::ZERO {
                    x = ep.beta * *ci.add(j) + x;
                }
                if !ep.bias_col.is_null() {
                    x += *ep.bias_col.add(j);
                }
                if !ep.bias_row.is_null() {
                    x += *ep.bias_row.add(i);
                }
                if ep.relu && !(x > E::ZERO || x.is_nan()) {
                    x = E::ZERO;
                }
                *ci.add(j) = x;
            }
        }
    }
}

/// The portable kernel for `E`.
pub(super) fn kernel<E: Float>() -> Kernel<E> {
    Kernel::new::<MR, NR>(tile::<E>, 256, 128, 2048)
}
