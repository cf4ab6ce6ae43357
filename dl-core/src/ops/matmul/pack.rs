//! Packing of operand blocks into the micro-kernels' sliver layout.
//!
//! An operand is read in place through its strides: element `(i, p)` of
//! `op(A)` lies at `i * rs + p * cs`, so a transposed operand is the same
//! memory with the two strides swapped; no transposed copy is made. A
//! block of `op(A)` becomes slivers of `MR` rows, each `kc` groups of `MR`
//! values (one per row); a block of `op(B)` becomes slivers of `NR`
//! columns, each `kc` groups of `NR` values. The last sliver is padded
//! with zeros, so the kernels always run full tiles.

use crate::dtype::Float;

/// Packs rows `0..rows` and columns `0..kc` of the operand at `a`
/// (element `(i, p)` at `a + i * rs + p * cs`) into `ceil(rows / mr)`
/// slivers of `kc * mr` elements at `dst`.
///
/// # Safety
/// `a + i * rs + p * cs` is valid for reads for `i < rows`, `p < kc`;
/// `dst` is valid for writes of `ceil(rows / mr) * mr * kc` elements and
/// does not overlap the operand.
pub(crate) unsafe fn pack_a<E: Float>(
    mr: usize,
    a: *const E,
    rs: usize,
    cs: usize,
    rows: usize,
    kc: usize,
    dst: *mut E,
) {
    for (s, i0) in (0..rows).step_by(mr).enumerate() {
        let h = mr.min(rows - i0);
        // SAFETY: sliver s occupies dst[s * kc * mr .. (s + 1) * kc * mr],
        // inside dst's ceil(rows / mr) * mr * kc elements; the reads are at
        // (i0 + ii) * rs + p * cs with i0 + ii < rows and p < kc.
        unsafe {
            let d = dst.add(s * kc * mr);
            if cs == 1 && rs != 1 {
                // Rows contiguous (A as stored): one row at a time.
                for ii in 0..h {
                    let src = a.add((i0 + ii) * rs);
                    for p in 0..kc {
                        *d.add(p * mr + ii) = *src.add(p);
                    }
                }
            } else {
                for p in 0..kc {
                    let src = a.add(i0 * rs + p * cs);
                    let dp = d.add(p * mr);
                    for ii in 0..h {
                        *dp.add(ii) = *src.add(ii * rs);
                    }
                }
            }
            if h < mr {
                for p in 0..kc {
                    for ii in h..mr {
                        *d.add(p * mr + ii) = E::ZERO;
                    }
                }
            }
        }
    }
}

/// Packs rows `0..kc` and columns `0..w` (`w <= nr`) of the operand at
/// `b` (element `(p, j)` at `b + p * rs + j * cs`) into one sliver of
/// `kc * nr` elements at `dst`, zero-padded to `nr` columns.
///
/// # Safety
/// `b + p * rs + j * cs` is valid for reads for `p < kc`, `j < w`; `dst`
/// for writes of `kc * nr` elements, not overlapping.
pub(crate) unsafe fn pack_b_sliver<E: Float>(
    nr: usize,
    b: *const E,
    rs: usize,
    cs: usize,
    w: usize,
    kc: usize,
    dst: *mut E,
) {
    // SAFETY: reads at p * rs + jj * cs for p < kc, jj < w; writes at
    // p * nr + jj for jj < nr: both inside the caller's ranges.
    unsafe {
        if cs == 1 {
            // Rows contiguous (B as stored): a copy per row.
            for p in 0..kc {
                let dp = dst.add(p * nr);
                std::ptr::copy_nonoverlapping(b.add(p * rs), dp, w);
                for jj in w..nr {
                    *dp.add(jj) = E::ZERO;
                }
            }
        } else {
            // Columns contiguous (B stored transposed, a Linear weight):
            // `w` read streams, one contiguous write stream.
            for p in 0..kc {
                let dp = dst.add(p * nr);
                let src = b.add(p * rs);
                for jj in 0..w {
                    *dp.add(jj) = *src.add(jj * cs);
                }
                for jj in w..nr {
                    *dp.add(jj) = E::ZERO;
                }
            }
        }
    }
}
