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
/// the whole span from `src` to the last of those elements lies in one
/// initialised slice that nothing writes meanwhile; `valid` is at most
/// `MR` (resp. `NR`); `dst` is valid for writes of `kc * MR` (`kc * NR`)
/// initialised elements that nothing else reads or writes meanwhile.
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
    // p * MR + i for i < MR, p < kc: inside the caller's ranges. The slices
    // below span exactly the block (its last element is (MR - 1) * rs +
    // kc - 1 with cs = 1) and the sliver, which the caller's contract makes
    // initialised and unshared.
    unsafe {
        if h == MR && cs == 1 && rs >= kc {
            // Rows contiguous (A as stored): the sliver is the transpose of
            // an MR x kc block (the SIMD transpose for f32). The block spans
            // (MR - 1) * rs + kc elements of the operand's slice, and the
            // sliver MR * kc elements of the packing buffer (initialised,
            // written by this call only).
            let src = std::slice::from_raw_parts(a, (MR - 1) * rs + kc);
            E::transpose(src, MR, kc, rs, std::slice::from_raw_parts_mut(dst, MR * kc));
        } else if h == MR && rs == 1 {
            // Columns contiguous (A stored transposed): a copy per step.
            for p in 0..kc {
                std::ptr::copy_nonoverlapping(a.add(p * cs), dst.add(p * MR), MR);
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
    // p * NR + j for j < NR, p < kc: inside the caller's ranges. The slices
    // below span exactly the block (last element (NR - 1) * cs + kc - 1 with
    // rs = 1) and the sliver, initialised and unshared by the contract.
    unsafe {
        if w == NR && cs == 1 {
            // Rows contiguous (B as stored): a fixed-size copy per row.
            for p in 0..kc {
                std::ptr::copy_nonoverlapping(b.add(p * rs), dst.add(p * NR), NR);
            }
        } else if w == NR && rs == 1 && cs >= kc {
            // Columns contiguous (B stored transposed, a Linear weight): the
            // transpose of an NR x kc block (SIMD for f32), spanning
            // (NR - 1) * cs + kc elements of the operand's slice; the sliver
            // is NR * kc elements of the packing buffer.
            let src = std::slice::from_raw_parts(b, (NR - 1) * cs + kc);
            E::transpose(src, NR, kc, cs, std::slice::from_raw_parts_mut(dst, NR * kc));
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
