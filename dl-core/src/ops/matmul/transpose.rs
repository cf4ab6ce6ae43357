//! Out-of-place matrix transposition (`Float::transpose`), for kernels that
//! need an operand's transpose as a contiguous copy. (The CPU GEMM itself
//! reads transposed operands in place while packing them.)
//!
//! The portable version works in small tiles; for `f32` on x86-64 with AVX
//! an 8x8 register transpose does the tiles (several times faster: the
//! portable loop is bound by its strided single-element stores). Both take
//! the source's row stride, so that [`transpose_par`] can hand each thread
//! a block of columns (a contiguous block of the destination's rows).

use crate::dtype::Float;
use rayon::prelude::*;

/// Checks the buffers of a `rows x cols` transpose whose source rows are
/// `stride` elements apart.
fn check(src: usize, rows: usize, cols: usize, stride: usize, dst: usize) {
    let need = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * stride + cols
    };
    assert!(
        stride >= cols && src >= need && dst >= rows * cols,
        "transpose: buffers too small"
    );
}

/// `dst[c * rows + r] = src[r * stride + c]` for `r < rows`, `c < cols`, in
/// tiles; any `Copy` element.
///
/// # Panics
/// When `stride < cols` or a buffer is too small for that.
pub fn transpose_portable<E: Copy>(src: &[E], rows: usize, cols: usize, stride: usize, dst: &mut [E]) {
    const T: usize = 16;
    check(src.len(), rows, cols, stride, dst.len());
    for r0 in (0..rows).step_by(T) {
        let r1 = (r0 + T).min(rows);
        for c0 in (0..cols).step_by(T) {
            let c1 = (c0 + T).min(cols);
            for c in c0..c1 {
                let d = &mut dst[c * rows + r0..c * rows + r1];
                for (di, r) in d.iter_mut().zip(r0..r1) {
                    *di = src[r * stride + c];
                }
            }
        }
    }
}

/// [`transpose_portable`] for `f32`, with the AVX kernel where the CPU has it.
///
/// # Panics
/// When `stride < cols` or a buffer is too small for that.
pub fn transpose_f32(src: &[f32], rows: usize, cols: usize, stride: usize, dst: &mut [f32]) {
    check(src.len(), rows, cols, stride, dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available (checked just above), and `check`
            // guarantees that `src` holds element (rows - 1) * stride + cols - 1
            // and `dst` element rows * cols - 1, the last ones the kernel reads
            // and writes.
            unsafe { avx::transpose(src.as_ptr(), rows, cols, stride, dst.as_mut_ptr()) };
            return;
        }
    }
    transpose_portable(src, rows, cols, stride, dst);
}

/// Destination rows (source columns) per parallel job of [`transpose_par`].
const PAR_COLS: usize = 64;

/// Transposes with fewer elements run on one thread.
const PAR_MIN: usize = 1 << 16;

/// `dst[c * rows + r] = src[r * cols + c]` (a whole row-major `rows x cols`
/// matrix), split over the pool's threads by blocks of 64 columns when
/// `parallel` and the matrix is large. Each element is copied, so the
/// result does not depend on the split.
///
/// # Panics
/// When a buffer holds fewer than `rows * cols` elements.
pub fn transpose_par<E: Float>(src: &[E], rows: usize, cols: usize, dst: &mut [E], parallel: bool) {
    check(src.len(), rows, cols, cols, dst.len());
    if !parallel || rows * cols < PAR_MIN || cols <= PAR_COLS {
        return E::transpose(src, rows, cols, cols, dst);
    }
    dst[..rows * cols]
        .par_chunks_mut(PAR_COLS * rows)
        .enumerate()
        .for_each(|(i, d)| {
            let c0 = i * PAR_COLS;
            E::transpose(&src[c0..], rows, d.len() / rows, cols, d);
        });
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// Tile edge (in elements) walked by 8x8 blocks, so that a tile's source
    /// rows and destination rows stay in L1.
    const TILE: usize = 64;

    /// Transposes the 8x8 block at `src` (row stride `ss`) into `dst` (row
    /// stride `ds`).
    ///
    /// # Safety
    /// AVX is available; `src + i * ss + j` and `dst + i * ds + j` are valid
    /// for reads (resp. writes) for `i, j < 8`.
    #[target_feature(enable = "avx")]
    unsafe fn block8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: every load reads src + i * ss .. + 8 and every store writes
        // dst + i * ds .. + 8 for i < 8, in bounds by the caller's contract;
        // unaligned loads and stores have no alignment requirement.
        unsafe {
            let r0 = _mm256_loadu_ps(src);
            let r1 = _mm256_loadu_ps(src.add(ss));
            let r2 = _mm256_loadu_ps(src.add(2 * ss));
            let r3 = _mm256_loadu_ps(src.add(3 * ss));
            let r4 = _mm256_loadu_ps(src.add(4 * ss));
            let r5 = _mm256_loadu_ps(src.add(5 * ss));
            let r6 = _mm256_loadu_ps(src.add(6 * ss));
            let r7 = _mm256_loadu_ps(src.add(7 * ss));
            let t0 = _mm256_unpacklo_ps(r0, r1);
            let t1 = _mm256_unpackhi_ps(r0, r1);
            let t2 = _mm256_unpacklo_ps(r2, r3);
            let t3 = _mm256_unpackhi_ps(r2, r3);
            let t4 = _mm256_unpacklo_ps(r4, r5);
            let t5 = _mm256_unpackhi_ps(r4, r5);
            let t6 = _mm256_unpacklo_ps(r6, r7);
            let t7 = _mm256_unpackhi_ps(r6, r7);
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            _mm256_storeu_ps(dst, _mm256_permute2f128_ps::<0x20>(s0, s4));
            _mm256_storeu_ps(dst.add(ds), _mm256_permute2f128_ps::<0x20>(s1, s5));
            _mm256_storeu_ps(dst.add(2 * ds), _mm256_permute2f128_ps::<0x20>(s2, s6));
            _mm256_storeu_ps(dst.add(3 * ds), _mm256_permute2f128_ps::<0x20>(s3, s7));
            _mm256_storeu_ps(dst.add(4 * ds), _mm256_permute2f128_ps::<0x31>(s0, s4));
            _mm256_storeu_ps(dst.add(5 * ds), _mm256_permute2f128_ps::<0x31>(s1, s5));
            _mm256_storeu_ps(dst.add(6 * ds), _mm256_permute2f128_ps::<0x31>(s2, s6));
            _mm256_storeu_ps(dst.add(7 * ds), _mm256_permute2f128_ps::<0x31>(s3, s7));
        }
    }

    /// `dst[c * rows + r] = src[r * stride + c]` for `r < rows`, `c < cols`.
    ///
    /// # Safety
    /// AVX is available; `stride >= cols`; `src` is valid for reads of
    /// `(rows - 1) * stride + cols` elements and `dst` for writes of
    /// `rows * cols`; they do not overlap.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose(src: *const f32, rows: usize, cols: usize, stride: usize, dst: *mut f32) {
        let (rb, cb) = (rows / 8 * 8, cols / 8 * 8);
        for r0 in (0..rb).step_by(TILE) {
            for c0 in (0..cb).step_by(TILE) {
                for r in (r0..(r0 + TILE).min(rb)).step_by(8) {
                    for c in (c0..(c0 + TILE).min(cb)).step_by(8) {
                        // SAFETY: r + 8 <= rb <= rows and c + 8 <= cb <= cols,
                        // so the block's source elements (r + i) * stride + c + j
                        // lie below (rows - 1) * stride + cols and its
                        // destination elements (c + i) * rows + r + j below
                        // rows * cols.
                        unsafe { block8(src.add(r * stride + c), stride, dst.add(c * rows + r), rows) };
                    }
                }
            }
        }
        // The ragged right columns and bottom rows, one element at a time.
        for r in 0..rows {
            let c_start = if r < rb { cb } else { 0 };
            for c in c_start..cols {
                // SAFETY: r < rows and c < cols, so r * stride + c is below
                // (rows - 1) * stride + cols and c * rows + r below rows * cols.
                unsafe { *dst.add(c * rows + r) = *src.add(r * stride + c) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut d = vec![0.0; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                d[c * rows + r] = src[r * cols + c];
            }
        }
        d
    }

    /// Sizes at the edges of the 8x8 blocks and 64x64 tiles, primes, 1.
    #[test]
    fn matches_reference_at_block_edges() {
        let sizes = [1usize, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 71, 127, 128, 129];
        for &rows in &sizes {
            for &cols in &sizes {
                let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
                let want = reference(&src, rows, cols);
                let mut got = vec![f32::NAN; rows * cols];
                transpose_f32(&src, rows, cols, cols, &mut got);
                assert_eq!(got, want, "f32 {rows}x{cols}");
                let mut got = vec![f32::NAN; rows * cols];
                transpose_portable(&src, rows, cols, cols, &mut got);
                assert_eq!(got, want, "portable {rows}x{cols}");
            }
        }
    }

    /// A column block of a wider matrix (source rows `stride` apart), and
    /// the parallel transpose on 1 and 2 threads at sizes around its blocks.
    #[test]
    fn strided_blocks_and_the_parallel_split() {
        let (rows, stride) = (37usize, 203usize);
        let src: Vec<f32> = (0..rows * stride).map(|i| i as f32).collect();
        let full = reference(&src, rows, stride);
        for (c0, cols) in [(0usize, 203usize), (5, 17), (64, 64), (130, 73)] {
            let mut got = vec![f32::NAN; rows * cols];
            transpose_f32(&src[c0..], rows, cols, stride, &mut got);
            assert_eq!(
                got,
                full[c0 * rows..(c0 + cols) * rows],
                "f32 block at {c0}, {cols} columns"
            );
            transpose_portable(&src[c0..], rows, cols, stride, &mut got);
            assert_eq!(
                got,
                full[c0 * rows..(c0 + cols) * rows],
                "portable block at {c0}, {cols} columns"
            );
        }
        for (rows, cols) in [(300usize, 257usize), (512, 784), (1024, 65), (65, 1024)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| (i % 1000) as f32).collect();
            let want = reference(&src, rows, cols);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a pool");
                let mut got = vec![f32::NAN; rows * cols];
                pool.install(|| transpose_par(&src, rows, cols, &mut got, true));
                assert_eq!(got, want, "{rows}x{cols} on {threads} threads");
            }
        }
    }

    #[test]
    #[should_panic(expected = "buffers too small")]
    fn short_buffers_panic() {
        transpose_f32(&[1.0; 5], 2, 3, 3, &mut [0.0; 6]);
    }

    #[test]
    #[should_panic(expected = "buffers too small")]
    fn a_stride_below_the_width_panics() {
        transpose_f32(&[1.0; 12], 2, 3, 2, &mut [0.0; 6]);
    }
}
