//! The epilogue on one row of a tile: exact zero-point correction,
//! per-column scale and bias, ReLU, then `f32` or requantized bytes.
//!
//! Written once as plain Rust; the SIMD paths call copies compiled with
//! their target features (`#[target_feature]` wrappers around the same
//! `#[inline(always)]` body), so the compiler vectorizes it. The arithmetic
//! is the same IEEE operations in the same order on every path (Rust never
//! contracts `a * b + c` into an FMA), so every path gives the same bits.

use super::QgemmPath;

/// Per-call constants of the epilogue (slices start at the tile's first
/// column): `y = (acc - corr[j]) as f32 * mult[j] + bias[j]`.
#[derive(Clone, Copy)]
pub(crate) struct Row<'a> {
    /// `a_zero_point * colsum[j]`.
    pub corr: &'a [i32],
    pub mult: &'a [f32],
    pub bias: &'a [f32],
}

impl<'a> Row<'a> {
    pub fn new(corr: &'a [i32], mult: &'a [f32], bias: &'a [f32]) -> Self {
        Self { corr, mult, bias }
    }

    /// The constants from column `c` on.
    pub fn skip_cols(&self, c: usize) -> Row<'a> {
        Row::new(&self.corr[c..], &self.mult[c..], &self.bias[c..])
    }
}

/// Clamping and rounding of the requantizing epilogues: `t` (already in
/// output steps) is clamped to `[low, high]` (integers: the byte range
/// minus the zero point, raised to `-zero_point` by a ReLU), then rounded
/// half to even; `offset` turns the rounded bits into `round(t) + zero_point`.
#[derive(Clone, Copy)]
pub(crate) struct Requant {
    pub low: f32,
    pub high: f32,
    pub offset: i32,
}

/// `1.5 * 2^23`: for `|t| <= 2^22`, `t + MAGIC` holds `round_half_even(t)`
/// in its low mantissa bits (default rounding mode).
pub(crate) const MAGIC: f32 = 12_582_912.0;

/// Columns per fixed-width block: a constant trip count, so the compiler
/// turns a block into whole vector registers (a loop over a runtime
/// length of 32 would run its scalar remainder instead).
const W: usize = 16;

/// Applies `f` to blocks of `W` columns, then to the remainder one by one.
#[inline(always)]
fn blocks<T>(r: &Row<'_>, vals: &[i32], dst: &mut [T], f: impl Fn(f32) -> T) {
    let n = vals.len();
    let (corr, mult, bias, dst) = (&r.corr[..n], &r.mult[..n], &r.bias[..n], &mut dst[..n]);
    let full = n / W * W;
    for c in (0..full).step_by(W) {
        let d: &mut [T; W] = (&mut dst[c..c + W]).try_into().expect("W elements");
        let v: &[i32; W] = vals[c..c + W].try_into().expect("W elements");
        let s: &[i32; W] = corr[c..c + W].try_into().expect("W elements");
        let m: &[f32; W] = mult[c..c + W].try_into().expect("W elements");
        let b: &[f32; W] = bias[c..c + W].try_into().expect("W elements");
        for j in 0..W {
            d[j] = f(v[j].wrapping_sub(s[j]) as f32 * m[j] + b[j]);
        }
    }
    for j in full..n {
        dst[j] = f(vals[j].wrapping_sub(corr[j]) as f32 * mult[j] + bias[j]);
    }
}

/// `max(x, lo)` as one `maxps` (NaN gives `lo`).
#[inline(always)]
fn max_of(x: f32, lo: f32) -> f32 {
    if x > lo {
        x
    } else {
        lo
    }
}

/// `min(x, hi)` as one `minps` (NaN gives `hi`).
#[inline(always)]
fn min_of(x: f32, hi: f32) -> f32 {
    if x < hi {
        x
    } else {
        hi
    }
}

/// `clamp(t, low, high)` rounded half to even plus the zero point.
#[inline(always)]
pub(crate) fn requant(t: f32, q: Requant) -> i32 {
    let t = min_of(max_of(t, q.low), q.high);
    ((t + MAGIC).to_bits() as i32).wrapping_sub(q.offset)
}

#[inline(always)]
fn f32_body(r: &Row<'_>, relu: bool, vals: &[i32], dst: &mut [f32]) {
    if relu {
        blocks(r, vals, dst, |y| max_of(y, 0.0));
    } else {
        blocks(r, vals, dst, |y| y);
    }
}

/// A requantized output byte, `u8` or `i8`: the low 8 bits of the rounded
/// value (the zero point is already added).
pub(crate) trait QByte: Copy {
    fn from_low_bits(v: i32) -> Self;
}

impl QByte for u8 {
    #[inline(always)]
    fn from_low_bits(v: i32) -> Self {
        v as u8
    }
}

impl QByte for i8 {
    #[inline(always)]
    fn from_low_bits(v: i32) -> Self {
        v as i8
    }
}

#[inline(always)]
fn byte_body<T: QByte>(r: &Row<'_>, q: Requant, vals: &[i32], dst: &mut [T]) {
    blocks(r, vals, dst, |t| T::from_low_bits(requant(t, q)))
}

/// Explicit AVX-512 versions (the auto-vectorizer does not reliably
/// vectorize the rounding bit trick): 16 columns per step, the remainder
/// through the scalar body. Same operations, same results.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{byte_body, f32_body, QByte, Requant, Row, MAGIC};
    use std::arch::x86_64::*;

    /// `(acc - corr) * mult + bias` for 16 columns at `c`.
    #[inline(always)]
    unsafe fn affine(r: &Row<'_>, vals: &[i32], c: usize) -> __m512 {
        // SAFETY: the caller guarantees c + 16 <= vals.len() <= the row's lengths.
        unsafe {
            let v = _mm512_loadu_si512(vals.as_ptr().add(c) as *const _);
            let s = _mm512_loadu_si512(r.corr.as_ptr().add(c) as *const _);
            let y = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, s));
            _mm512_add_ps(
                _mm512_mul_ps(y, _mm512_loadu_ps(r.mult.as_ptr().add(c))),
                _mm512_loadu_ps(r.bias.as_ptr().add(c)),
            )
        }
    }

    #[inline(always)]
    unsafe fn requant(t: __m512, q: Requant) -> __m512i {
        // max/min return the bound for NaN, as the scalar `max_of`/`min_of`.
        let t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(q.low)), _mm512_set1_ps(q.high));
        let bits = _mm512_castps_si512(_mm512_add_ps(t, _mm512_set1_ps(MAGIC)));
        _mm512_sub_epi32(bits, _mm512_set1_epi32(q.offset))
    }

    fn check(r: &Row<'_>, n: usize) {
        assert!(r.corr.len() >= n && r.mult.len() >= n && r.bias.len() >= n);
    }

    #[inline(always)]
    pub(super) unsafe fn row_byte<T: QByte>(r: &Row<'_>, q: Requant, vals: &[i32], dst: &mut [T]) {
        let n = vals.len();
        check(r, n);
        let dst = &mut dst[..n];
        let full = n / 16 * 16;
        for c in (0..full).step_by(16) {
            // SAFETY: c + 16 <= n for every buffer (checked above); `T` is one byte.
            unsafe {
                let v = requant(affine(r, vals, c), q);
                _mm_storeu_si128(dst.as_mut_ptr().add(c) as *mut __m128i, _mm512_cvtepi32_epi8(v));
            }
        }
        byte_body(&r.skip_cols(full), q, &vals[full..], &mut dst[full..]);
    }

    #[inline(always)]
    pub(super) unsafe fn row_f32(r: &Row<'_>, relu: bool, vals: &[i32], dst: &mut [f32]) {
        let n = vals.len();
        check(r, n);
        let dst = &mut dst[..n];
        let full = n / 16 * 16;
        for c in (0..full).step_by(16) {
            // SAFETY: as in `row_byte`.
            unsafe {
                let mut y = affine(r, vals, c);
                if relu {
                    // max_ps(y, 0) gives 0 for NaN, as `max_of(y, 0.0)`.
                    y = _mm512_max_ps(y, _mm512_setzero_ps());
                }
                _mm512_storeu_ps(dst.as_mut_ptr().add(c), y);
            }
        }
        f32_body(&r.skip_cols(full), relu, &vals[full..], &mut dst[full..]);
    }
}

/// A tile of `i32` sums: `rows` rows of `cols` values, row stride `stride`.
#[derive(Clone, Copy)]
pub(crate) struct Tile<'a> {
    pub vals: &'a [i32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

/// One call per tile (not per row: the per-call cost matters for
/// convolutions with few output channels), over the tile's rows; `dst`
/// starts at the tile's first element, row stride `ldo`.
macro_rules! multiversion {
    ($name:ident, $row:ident, $body:ident, $t:ty, ($($arg:ident: $ty:ty),*)) => {
        pub(crate) fn $name(path: QgemmPath, r: &Row<'_>, $($arg: $ty,)* t: Tile<'_>, dst: &mut [$t], ldo: usize) {
            #[inline(always)]
            fn rows(r: &Row<'_>, $($arg: $ty,)* t: Tile<'_>, dst: &mut [$t], ldo: usize, row: impl Fn(&Row<'_>, $($ty,)* &[i32], &mut [$t])) {
                for i in 0..t.rows {
                    row(r, $($arg,)* &t.vals[i * t.stride..i * t.stride + t.cols], &mut dst[i * ldo..i * ldo + t.cols]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw")]
                unsafe fn avx512(r: &Row<'_>, $($arg: $ty,)* t: Tile<'_>, dst: &mut [$t], ldo: usize) {
                    // SAFETY: AVX-512 F/BW are enabled in this function.
                    rows(r, $($arg,)* t, dst, ldo, |r, $($arg,)* v, d| unsafe { avx512::$row(r, $($arg,)* v, d) })
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2(r: &Row<'_>, $($arg: $ty,)* t: Tile<'_>, dst: &mut [$t], ldo: usize) {
                    rows(r, $($arg,)* t, dst, ldo, $body)
                }
                match path {
                    // SAFETY: the path is available (checked by the driver), so
                    // are its features.
                    QgemmPath::Avx512Vnni => return unsafe { avx512(r, $($arg,)* t, dst, ldo) },
                    // SAFETY: as above (both paths imply AVX2).
                    QgemmPath::AvxVnni | QgemmPath::Avx2 => return unsafe { avx2(r, $($arg,)* t, dst, ldo) },
                    QgemmPath::Portable => {}
                }
            }
            rows(r, $($arg,)* t, dst, ldo, $body)
        }
    };
}

multiversion!(tile_f32, row_f32, f32_body, f32, (relu: bool));
multiversion!(tile_u8, row_byte, byte_body, u8, (q: Requant));
multiversion!(tile_i8, row_byte, byte_body, i8, (q: Requant));

#[cfg(test)]
mod tests {
    use super::{requant, Requant, MAGIC};

    #[test]
    fn magic_rounding_is_half_to_even_and_clamps() {
        let q = Requant {
            low: -10.0,
            high: 245.0,
            offset: MAGIC.to_bits() as i32 - 10,
        };
        for t in [
            -2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, 3.51, 200.5, 201.5, -0.0, 1e9, -1e9,
        ] {
            let want = t.clamp(-10.0, 245.0).round_ties_even() as i32 + 10;
            assert_eq!(requant(t, q), want, "{t}");
        }
        assert_eq!(requant(f32::NAN, q), 0, "NaN clamps to the low end");
    }
}
