//! The blocked driver shared by every path: fixed tiles (48 rows by 64
//! columns), one micro-kernel call per (rows, panels) step into a small
//! `i32` tile, then the epilogue on that tile while it is in L1.

use super::epilogue::{self, Requant, Row, Tile};
use super::{avx2, avx512_vnni, avx_vnni, padded_k, portable, Epilogue, PackedB, QOut, QgemmPath, PANEL};
use rayon::prelude::*;

/// Rows per task (a multiple of every path's row count).
const ROW_BLOCK: usize = 48;
/// Panels (of 16 columns) per task.
const COL_PANELS: usize = 4;
/// Below this many multiply-adds a product runs on the calling thread.
const PAR_MIN_MACS: usize = 1 << 21;
/// Rows of the largest micro-tile.
pub(crate) const TILE_ROWS: usize = 6;
/// Columns of a micro-tile (row stride of the tile).
pub(crate) const TILE_COLS: usize = COL_PANELS * PANEL;

/// A raw output pointer shared by the tasks, which write disjoint elements.
struct OutPtr<T>(*mut T);

/// One micro-kernel call (`tile(a, lda, t)` of a path): `rows <= 6` rows
/// of A from `a` (`4 * k4` elements each, row stride `lda`) times `np <= 4`
/// panels of B from `b` (`k4 * 64` bytes each, stride `panel_stride`) into
/// `out` (`rows * 64` values, row stride [`TILE_COLS`]). The caller of
/// `tile` guarantees that the buffers hold that much.
#[derive(Clone, Copy)]
pub(super) struct TileArgs {
    pub rows: usize,
    pub np: usize,
    pub b: *const i8,
    pub panel_stride: usize,
    pub k4: usize,
    pub out: *mut i32,
}

impl TileArgs {
    /// Panel `p` of B and the tile columns it fills.
    ///
    /// # Safety
    /// `p < np`.
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn panel(&self, p: usize) -> (*const i8, *mut i32) {
        // SAFETY: in bounds by the contract of `TileArgs` (p < np).
        unsafe { (self.b.add(p * self.panel_stride), self.out.add(p * 16)) }
    }
}
// SAFETY: the tasks write disjoint tiles of the output (distinct rows or
// columns), and the owning slice outlives the parallel loop.
unsafe impl<T> Sync for OutPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut T {
        self.0
    }
}

fn check(m: usize, a: &[u8], lda: usize, b: &PackedB, out_len: usize, ldo: usize) {
    let kp = padded_k(b.k());
    if m == 0 {
        return;
    }
    assert!(lda >= kp, "qgemm: lda {lda} < padded k {kp}");
    assert!(
        a.len() >= (m - 1) * lda + kp,
        "qgemm: A has {} bytes, needs {}",
        a.len(),
        (m - 1) * lda + kp
    );
    assert!(ldo >= b.n(), "qgemm: ldo {ldo} < n {}", b.n());
    assert!(
        out_len >= (m - 1) * ldo + b.n(),
        "qgemm: output has {out_len} elements, needs {}",
        (m - 1) * ldo + b.n()
    );
}

/// `c[i, j] = sum_k a[i, k] * b[k, j]` as exact `i32` (no epilogue).
///
/// `a` is `[m, lda]` with `lda >= b.k_padded()` (bytes past `k` in a row
/// are read but do not matter); `c` is `[m, ldc]`.
///
/// # Panics
/// If the buffers are shorter than the dimensions state, or `path` is not
/// available on this CPU.
pub fn qgemm_i32(path: QgemmPath, m: usize, a: &[u8], lda: usize, b: &PackedB, c: &mut [i32], ldc: usize) {
    check(m, a, lda, b, c.len(), ldc);
    let out = OutPtr(c.as_mut_ptr());
    run(path, m, a, lda, b, &|row, col0, t: Tile<'_>| {
        for i in 0..t.rows {
            // SAFETY: `check` guarantees (row + i) * ldc + col0 + t.cols <= c.len();
            // each (row, column) is written by exactly one task.
            let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add((row + i) * ldc + col0), t.cols) };
            dst.copy_from_slice(&t.vals[i * t.stride..i * t.stride + t.cols]);
        }
    });
}

/// The product with the fused epilogue (see the module documentation):
/// dequantized `f32` or requantized `u8`/`i8`, row stride `ldo`.
///
/// # Panics
/// As [`qgemm_i32`], and if `epi.w_scales` or `epi.bias` do not have `n`
/// elements.
#[allow(clippy::too_many_arguments)]
pub fn qgemm(
    path: QgemmPath,
    m: usize,
    a: &[u8],
    lda: usize,
    b: &PackedB,
    epi: &Epilogue<'_>,
    out: QOut<'_>,
    ldo: usize,
) {
    let n = b.n();
    assert_eq!(
        epi.w_scales.len(),
        n,
        "qgemm: {} weight scales for n = {n}",
        epi.w_scales.len()
    );
    if let Some(bias) = epi.bias {
        assert_eq!(bias.len(), n, "qgemm: {} biases for n = {n}", bias.len());
    }
    let corr: Vec<i32> = b.col_sums().iter().map(|&s| epi.a_zero_point.wrapping_mul(s)).collect();
    let mult: Vec<f32> = epi.w_scales.iter().map(|&s| epi.a_scale * s).collect();
    let bias: Vec<f32> = match epi.bias {
        Some(b) => b.to_vec(),
        None => vec![0f32; n],
    };
    // Requantizing: the scale and bias in output steps, the ReLU and the
    // byte range as one clamp (see the module documentation).
    let requant = |scale: f32, zero_point: i32, lo: i32, hi: i32| {
        let inv = 1.0 / scale;
        let low = (lo - zero_point) as f32;
        let q = Requant {
            low: if epi.relu { low.max(0.0) } else { low },
            high: (hi - zero_point) as f32,
            offset: (epilogue::MAGIC.to_bits() as i32).wrapping_sub(zero_point),
        };
        let m: Vec<f32> = mult.iter().map(|&m| m * inv).collect();
        let b: Vec<f32> = bias.iter().map(|&b| b * inv).collect();
        (q, m, b)
    };
    match out {
        QOut::F32(o) => {
            run_epilogue(
                path,
                m,
                a,
                lda,
                b,
                o,
                ldo,
                Row::new(&corr, &mult, &bias),
                |r, t, dst| epilogue::tile_f32(path, r, epi.relu, t, dst, ldo),
            );
        }
        QOut::U8 {
            out: o,
            scale,
            zero_point,
        } => {
            let (q, mult, bias) = requant(scale, zero_point, 0, 255);
            run_epilogue(
                path,
                m,
                a,
                lda,
                b,
                o,
                ldo,
                Row::new(&corr, &mult, &bias),
                |r, t, dst| epilogue::tile_u8(path, r, q, t, dst, ldo),
            );
        }
        QOut::I8 {
            out: o,
            scale,
            zero_point,
        } => {
            let (q, mult, bias) = requant(scale, zero_point, -128, 127);
            run_epilogue(
                path,
                m,
                a,
                lda,
                b,
                o,
                ldo,
                Row::new(&corr, &mult, &bias),
                |r, t, dst| epilogue::tile_i8(path, r, q, t, dst, ldo),
            );
        }
    }
}

/// Runs every tile into `o` (row stride `ldo`) through `tile`, the
/// epilogue given the row constants of `r` from the tile's first column on.
#[allow(clippy::too_many_arguments)]
fn run_epilogue<T>(
    path: QgemmPath,
    m: usize,
    a: &[u8],
    lda: usize,
    b: &PackedB,
    o: &mut [T],
    ldo: usize,
    r: Row<'_>,
    tile: impl Fn(&Row<'_>, Tile<'_>, &mut [T]) + Sync,
) {
    check(m, a, lda, b, o.len(), ldo);
    let p = OutPtr(o.as_mut_ptr());
    run(path, m, a, lda, b, &|i, col0, t: Tile<'_>| {
        // SAFETY: as in `qgemm_i32`: the tile's rows i.. and columns
        // col0.. lie inside the output and belong to this task only.
        let dst = unsafe { std::slice::from_raw_parts_mut(p.get().add(i * ldo + col0), (t.rows - 1) * ldo + t.cols) };
        tile(&r.skip_cols(col0), t, dst);
    });
}

/// Runs every tile, in parallel when the product is large enough.
fn run<F: Fn(usize, usize, Tile<'_>) + Sync>(path: QgemmPath, m: usize, a: &[u8], lda: usize, b: &PackedB, sink: &F) {
    if m == 0 || b.n() == 0 {
        return;
    }
    assert!(path.is_available(), "qgemm: path {path} is not available on this CPU");
    let row_blocks = m.div_ceil(ROW_BLOCK);
    let col_blocks = b.panels().div_ceil(COL_PANELS);
    let tasks = row_blocks * col_blocks;
    let task = |t: usize| {
        let (rb, cb) = (t / col_blocks, t % col_blocks);
        let rows = rb * ROW_BLOCK..(m.min((rb + 1) * ROW_BLOCK));
        let panels = cb * COL_PANELS..b.panels().min((cb + 1) * COL_PANELS);
        block(path, rows, panels, a, lda, b, sink);
    };
    if tasks > 1 && m * b.n() * b.k() >= PAR_MIN_MACS && rayon::current_num_threads() > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// One task: rows `rows` by panels `panels`.
fn block<F: Fn(usize, usize, Tile<'_>)>(
    path: QgemmPath,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    a: &[u8],
    lda: usize,
    b: &PackedB,
    sink: &F,
) {
    let kp = b.k_padded();
    let k4 = kp / 4;
    let stride = b.panel_stride();
    let mut tile = [0i32; TILE_ROWS * TILE_COLS];
    // The AVX2 path reads A widened to i16 (once per task).
    let widened: Vec<i16> = if path == QgemmPath::Avx2 {
        let mut w = vec![0i16; rows.len() * kp];
        for (r, i) in rows.clone().enumerate() {
            for (d, &s) in w[r * kp..(r + 1) * kp].iter_mut().zip(&a[i * lda..i * lda + kp]) {
                *d = s as i16;
            }
        }
        w
    } else {
        Vec::new()
    };
    let mr = match path {
        QgemmPath::Avx512Vnni | QgemmPath::AvxVnni => 6,
        QgemmPath::Avx2 | QgemmPath::Portable => 4,
    };
    let mut i = rows.start;
    while i < rows.end {
        let r = mr.min(rows.end - i);
        let p = panels.start;
        let np = panels.len();
        let bptr = b.data()[p * stride..].as_ptr();
        let aptr = a[i * lda..].as_ptr();
        // SAFETY: `path` is available (checked in `run`); A holds `r` rows
        // of `kp` bytes from `aptr` with stride `lda`; B holds `np` panels
        // of `stride` bytes from `bptr`; the tile holds r x 64 values.
        unsafe {
            let t = TileArgs {
                rows: r,
                np,
                b: bptr,
                panel_stride: stride,
                k4,
                out: tile.as_mut_ptr(),
            };
            match path {
                QgemmPath::Avx512Vnni => avx512_vnni::tile(aptr, lda, t),
                QgemmPath::AvxVnni => avx_vnni::tile(aptr, lda, t),
                QgemmPath::Avx2 => avx2::tile(widened[(i - rows.start) * kp..].as_ptr(), kp, t),
                QgemmPath::Portable => portable::tile(aptr, lda, t),
            }
        }
        let col0 = p * PANEL;
        let cols = (np * PANEL).min(b.n() - col0);
        sink(
            i,
            col0,
            Tile {
                vals: &tile,
                rows: r,
                cols,
                stride: TILE_COLS,
            },
        );
        i += r;
    }
}
