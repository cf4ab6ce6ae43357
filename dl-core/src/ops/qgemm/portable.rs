//! Plain Rust micro-kernel (any CPU): scalar `i32` sums over the packed
//! layout.

use super::cpu_kernel::{TileArgs, TILE_COLS};

/// `out[r][p * 16 + c] = sum_k a[r][k] * b[panel p][k][c]` for `rows <= 6`
/// rows and `np <= 4` panels.
///
/// # Safety
/// The buffers of `t` as [`TileArgs`] says.
pub(super) unsafe fn tile(a: *const u8, lda: usize, t: TileArgs) {
    let TileArgs {
        rows,
        np,
        b,
        panel_stride,
        k4,
        out,
    } = t;
    for r in 0..rows {
        // SAFETY: in bounds by the function's contract.
        let arow = unsafe { std::slice::from_raw_parts(a.add(r * lda), k4 * 4) };
        for p in 0..np {
            // SAFETY: as above.
            let panel = unsafe { std::slice::from_raw_parts(b.add(p * panel_stride), k4 * 64) };
            let mut acc = [0i32; 16];
            for (kb, block) in panel.chunks_exact(64).enumerate() {
                let av = &arow[kb * 4..kb * 4 + 4];
                for (c, acc) in acc.iter_mut().enumerate() {
                    let bv = &block[c * 4..c * 4 + 4];
                    *acc += av[0] as i32 * bv[0] as i32
                        + av[1] as i32 * bv[1] as i32
                        + av[2] as i32 * bv[2] as i32
                        + av[3] as i32 * bv[3] as i32;
                }
            }
            for (c, v) in acc.into_iter().enumerate() {
                // SAFETY: r < rows, p * 16 + c < 64.
                unsafe { *out.add(r * TILE_COLS + p * 16 + c) = v };
            }
        }
    }
}
