//! Packing of operand blocks into the micro-kernels' sliver layout.
//!
//! An operand is read in place through its strides: element `(i, p)` of
//! `op(A)` lies at `i * rs + p * cs`, so a transposed operand is the same
//! memory with the two strides swapped; no transposed copy is made. A
//! sliver of `op(A)` is `MR` rows, stored as `kc` groups of `MR` values (one
//! per row); a sliver of `op(B)` is `NR` columns, stored as `kc` groups of
//! `NR` values. A partial sliver is padded with zeros, so the kernels
//! always run full tiles. `MR` and `NR` are constants here, so the inner
//! loops unroll and vectorise.

use crate::dtype::Float;

/// Packs one sliver of an operand: `src`, its row and column strides, the
/// number of valid rows (A) or columns (B), the depth `kc`, and the
/// destination.
///
/// # Safety
/// For A: `src + i * rs + p * cs` is valid for reads for `i < valid`,
/// `p < kc`; for B: `src + p * rs + j * cs` for `p < kc`, `j < valid`;
/// `valid` is at most `MR` (resp. `NR`); `dst` is valid for writes of
/// `kc * MR` (`kc * NR`) elements and does not overlap the operand.
pub(crate) type PackFn<E> = unsafe fn(*const E, usize, usize, usize, usize, *mut E);

/// One `MR`-row sliver of `op(A)` (see [`PackFn`]).
///
/// # Safety
/// See [`PackFn`].
pub(crate) unsafe fn pack_a<E: Float, const MR: usize>(
    a: *const E,
    rs: usize,
    cs: usize,
    h: usize,
    kc: usize,
    dst: *mut E,
) {
    // SAFETY: reads at i * rs + p * cs for i < h, p < kc, writes at
    // p * MR + i for i < MR, p < kc: inside the caller's ranges.
    unsafe {
        if h == MR && cs == 1 {
            // Rows contiguous (A as stored): MR read streams, one
            // contiguous write stream.
            let rows: [*const E; MR] = std::array::from_fn(|i| a.add(i * rs));
            for p in 0..kc {
                let d = dst.add(p * MR);
                for (i, r) in rows.iter().enumerate() {
                    *d.add(i) = *r.add(p);
                }
            }
        } else if h == MR && rs == 1 {
            // Columns contiguous (A stored transposed): a copy per step.
            for p in 0..kc {
                let (s, d) = (a.add(p * cs), dst.add(p * MR));
                for i in 0..MR {
                    *d.add(i) = *s.add(i);
                }
            }
        } else {
            for p in 0..kc {
                let d = dst.add(p * MR);
                for i in 0..MR {
                    *d.add(i) = if i < h { *a.add(i * rs + p * cs) } else { E::ZERO };
                }
            }
        }
    }
}

/// One `NR`-column sliver of `op(B)` (see [`PackFn`]).
///
/// # Safety
/// See [`PackFn`].
pub(crate) unsafe fn pack_b<E: Float, const NR: usize>(
    b: *const E,
    rs: usize,
    cs: usize,
    w: usize,
    kc: usize,
    dst: *mut E,
) {
    // SAFETY: reads at p * rs + j * cs for p < kc, j < w, writes at
    // p * NR + j for j < NR, p < kc: inside the caller's ranges.
    unsafe {
        if w == NR && cs == 1 {
            // Rows contiguous (B as stored): a fixed-size copy per row.
            for p in 0..kc {
                let (s, d) = (b.add(p * rs), dst.add(p * NR));
                for j in 0..NR {
                    *d.add(j) = *s.add(j);
                }
            }
        } else if w == NR && rs == 1 {
            // Columns contiguous (B stored transposed, a Linear weight):
            // NR read streams, one contiguous write stream.
            let cols: [*const E; NR] = std::array::from_fn(|j| b.add(j * cs));
            for p in 0..kc {
                let d = dst.add(p * NR);
                for (j, c) in cols.iter().enumerate() {
                    *d.add(j) = *c.add(p);
                }
            }
        } else {
            for p in 0..kc {
                let d = dst.add(p * NR);
                for j in 0..NR {
                    *d.add(j) = if j < w { *b.add(p * rs + j * cs) } else { E::ZERO };
                }
            }
        }
    }
}
