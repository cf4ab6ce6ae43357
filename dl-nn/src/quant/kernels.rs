//! The `u8` activation ops between the integer GEMMs, on NHWC data
//! (channels innermost, so a convolution's patch is contiguous per pixel).

use super::plan::Dims;

thread_local! {
    /// Byte buffers reused across calls on this thread (activations,
    /// im2col matrices): a batch-1 forward pass allocates nothing once warm.
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes set to `fill`, from this thread's pool.
pub(crate) fn take(len: usize, fill: u8) -> Vec<u8> {
    let mut v = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    v.clear();
    v.resize(len, fill);
    v
}

/// Returns a buffer to this thread's pool.
pub(crate) fn give(v: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 8 {
            p.push(v);
        }
    });
}

/// A square window sliding over images: its size `k`, `stride`, zero
/// padding `pad` on every side and the output size `(oh, ow)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Window {
    /// The window of size `k` whose output images are `out` (`(c, oh, ow)`).
    pub fn new(k: usize, stride: usize, pad: usize, out: Dims) -> Self {
        Self {
            k,
            stride,
            pad,
            oh: out.1,
            ow: out.2,
        }
    }

    /// The input position (along an axis of `len`) under tap `t` of output
    /// position `o`, or `None` in the padding.
    fn tap(&self, o: usize, t: usize, len: usize) -> Option<usize> {
        (o * self.stride + t).checked_sub(self.pad).filter(|&i| i < len)
    }
}

/// `im2col` of NHWC `u8` images: one row per output pixel, `(kh, kw, c)`
/// order, rows padded to `kp` bytes; out-of-image taps hold `zero_point`
/// (the real 0 of zero padding).
pub(crate) fn im2col_nhwc(x: &[u8], n: usize, (c, h, w): Dims, win: Window, zero_point: u8, kp: usize) -> Vec<u8> {
    let Window { k, stride, pad, oh, ow } = win;
    let mut col = take(n * oh * ow * kp, zero_point);
    for b in 0..n {
        let img = &x[b * h * w * c..(b + 1) * h * w * c];
        for oy in 0..oh {
            let rows = &mut col[(b * oh + oy) * ow * kp..(b * oh + oy + 1) * ow * kp];
            for ky in 0..k {
                let Some(iy) = win.tap(oy, ky, h) else { continue };
                let src_row = &img[iy * w * c..(iy + 1) * w * c];
                for (ox, row) in rows.chunks_exact_mut(kp).enumerate() {
                    // The taps of one kernel row are contiguous in NHWC.
                    let x0 = (ox * stride) as isize - pad as isize;
                    let kx0 = (-x0).max(0) as usize;
                    let kx1 = (w as isize - x0).clamp(0, k as isize) as usize;
                    if kx0 >= kx1 {
                        continue;
                    }
                    let len = (kx1 - kx0) * c;
                    let src = (x0 + kx0 as isize) as usize * c;
                    let dst = (ky * k + kx0) * c;
                    let (d, s) = (&mut row[dst..dst + len], &src_row[src..src + len]);
                    if len >= 16 {
                        d.copy_from_slice(s);
                    } else {
                        for (d, s) in d.iter_mut().zip(s) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
    col
}

/// Max pooling on NHWC `u8` (padding never wins, as PyTorch's `-inf`).
pub(crate) fn max_pool_nhwc(x: &[u8], n: usize, (c, h, w): Dims, win: Window) -> Vec<u8> {
    let Window { k, oh, ow, .. } = win;
    let mut y = take(n * oh * ow * c, 0);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let out = &mut y[((b * oh + oy) * ow + ox) * c..][..c];
                for ky in 0..k {
                    let Some(iy) = win.tap(oy, ky, h) else { continue };
                    for kx in 0..k {
                        let Some(ix) = win.tap(ox, kx, w) else { continue };
                        let src = &x[((b * h + iy) * w + ix) * c..][..c];
                        for (o, &v) in out.iter_mut().zip(src) {
                            *o = (*o).max(v);
                        }
                    }
                }
            }
        }
    }
    y
}

/// Average pooling on NHWC `u8` (count_include_pad: padding counts as the
/// zero point), rounded half up; the output keeps the input's parameters.
pub(crate) fn avg_pool_nhwc(x: &[u8], n: usize, (c, h, w): Dims, win: Window, zero_point: u8) -> Vec<u8> {
    let Window { k, oh, ow, .. } = win;
    let mut y = take(n * oh * ow * c, 0);
    let mut acc = vec![0u32; c];
    let count = (k * k) as u32;
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                acc.iter_mut().for_each(|a| *a = 0);
                let mut outside = 0u32;
                for ky in 0..k {
                    for kx in 0..k {
                        let (Some(iy), Some(ix)) = (win.tap(oy, ky, h), win.tap(ox, kx, w)) else {
                            outside += 1;
                            continue;
                        };
                        let src = &x[((b * h + iy) * w + ix) * c..][..c];
                        for (a, &v) in acc.iter_mut().zip(src) {
                            *a += v as u32;
                        }
                    }
                }
                let out = &mut y[((b * oh + oy) * ow + ox) * c..][..c];
                for (o, &a) in out.iter_mut().zip(&acc) {
                    *o = ((a + outside * zero_point as u32 + count / 2) / count) as u8;
                }
            }
        }
    }
    y
}

/// Global average pooling on NHWC `u8` (rounded half up).
pub(crate) fn global_avg_nhwc(x: &[u8], n: usize, (c, h, w): Dims) -> Vec<u8> {
    let hw = (h * w) as u32;
    let mut y = take(n * c, 0);
    for b in 0..n {
        for ch in 0..c {
            let s: u32 = (0..h * w).map(|p| x[(b * h * w + p) * c + ch] as u32).sum();
            y[b * c + ch] = ((s + hw / 2) / hw) as u8;
        }
    }
    y
}

/// Fractional bits of the fixed-point multipliers of [`add_u8`].
pub(crate) const ADD_SHIFT: u32 = 24;

/// The fixed-point multiplier `round(m * 2^ADD_SHIFT)` of a scale ratio.
pub(crate) fn add_multiplier(m: f64) -> i64 {
    (m * (1u64 << ADD_SHIFT) as f64).round() as i64
}

/// The residual add on `u8` values, requantized to the output's parameters
/// (PyTorch's `QFunctional.add`, in integers): per element
/// `y = clamp(zo + round(ma (a - za) + mb (b - zb)), lo, 255)` with the
/// ratios `ma = sa / so`, `mb = sb / so` as fixed-point multipliers of
/// [`ADD_SHIFT`] fractional bits, rounded half up; `lo` is `zo` with a
/// fused ReLU, else 0. The two terms are tabulated per operand value
/// (256 entries each), so an element costs two loads, an add and a shift.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_u8(
    a: &[u8],
    (sa, za): (f32, i32),
    b: &[u8],
    (sb, zb): (f32, i32),
    (so, zo): (f32, i32),
    relu: bool,
    out: &mut [u8],
) {
    let (ma, mb) = (
        add_multiplier(sa as f64 / so as f64),
        add_multiplier(sb as f64 / so as f64),
    );
    let half = 1i64 << (ADD_SHIFT - 1);
    let mut ta = [0i64; 256];
    let mut tb = [0i64; 256];
    for v in 0..256 {
        ta[v] = (v as i64 - za as i64) * ma + half;
        tb[v] = (v as i64 - zb as i64) * mb;
    }
    let lo = if relu { zo.clamp(0, 255) as i64 } else { 0 };
    let zo = zo as i64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let v = ((ta[x as usize] + tb[y as usize]) >> ADD_SHIFT) + zo;
        *o = v.clamp(lo, 255) as u8;
    }
}

/// NCHW `f32` -> NHWC (any `Copy` element).
pub(crate) fn nchw_to_nhwc<T: Copy>(x: &[T], n: usize, (c, h, w): Dims) -> Vec<T> {
    if h * w == 1 || c == 1 {
        return x.to_vec();
    }
    let mut y = Vec::with_capacity(x.len());
    for b in 0..n {
        for p in 0..h * w {
            for ch in 0..c {
                y.push(x[(b * c + ch) * h * w + p]);
            }
        }
    }
    y
}

/// NHWC -> NCHW.
pub(crate) fn nhwc_to_nchw<T: Copy>(x: &[T], n: usize, (c, h, w): Dims) -> Vec<T> {
    if h * w == 1 || c == 1 {
        return x.to_vec();
    }
    let mut y = Vec::with_capacity(x.len());
    for b in 0..n {
        for ch in 0..c {
            for p in 0..h * w {
                y.push(x[(b * h * w + p) * c + ch]);
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let x: Vec<u8> = (0..24).collect();
        let t = nchw_to_nhwc(&x, 2, (3, 2, 2));
        assert_eq!(&t[..6], &[0, 4, 8, 1, 5, 9]);
        assert_eq!(nhwc_to_nchw(&t, 2, (3, 2, 2)), x);
    }

    #[test]
    fn pools_on_u8() {
        // One 1-channel 3x3 image.
        let x = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(
            max_pool_nhwc(&x, 1, (1, 3, 3), Window::new(2, 1, 0, (1, 2, 2))),
            vec![5, 6, 8, 9]
        );
        // 2x2 windows with padding 1, stride 2: corners see 3 zero-point taps.
        let y = avg_pool_nhwc(&x, 1, (1, 3, 3), Window::new(2, 2, 1, (1, 2, 2)), 10);
        assert_eq!(
            y,
            vec![
                (1 + 30 + 2) / 4,
                (2 + 3 + 20 + 2) / 4,
                (4 + 7 + 20 + 2) / 4,
                (5 + 6 + 8 + 9 + 2) / 4
            ]
        );
        assert_eq!(global_avg_nhwc(&x, 1, (1, 3, 3)), vec![5]);
    }

    /// The add kernel equals a scalar reference of the same integer
    /// formula bit for bit, and PyTorch's float formula
    /// `clamp(round((sa (a - za) + sb (b - zb)) / so) + zo)` except, at
    /// most one step off, where that value lies within 1e-4 of a rounding
    /// tie.
    #[test]
    fn add_u8_is_integer_exact() {
        let mut rng = dl_core::Rng::new(11);
        let cases = [
            ((0.02f32, 128), (0.05f32, 0), (0.06f32, 40), false),
            ((0.1, 0), (0.1, 0), (0.2, 0), true),
            ((0.013, 200), (0.5, 17), (0.031, 255), false),
            ((0.3, 3), (0.001, 128), (0.07, 90), true),
            // An output scale finer than the inputs' (ratios above 1).
            ((0.4, 100), (0.25, 60), (0.01, 128), false),
        ];
        for (qa, qb, qo, relu) in cases {
            let n = 4096;
            let a: Vec<u8> = (0..n).map(|_| (rng.uniform() * 256.0) as u8).collect();
            let b: Vec<u8> = (0..n).map(|_| (rng.uniform() * 256.0) as u8).collect();
            let mut out = vec![0u8; n];
            add_u8(&a, qa, &b, qb, qo, relu, &mut out);
            let (ma, mb) = (
                add_multiplier(qa.0 as f64 / qo.0 as f64),
                add_multiplier(qb.0 as f64 / qo.0 as f64),
            );
            let lo = if relu { qo.1 as i64 } else { 0 };
            for i in 0..n {
                // Scalar reference: one element, no tables.
                let acc = (a[i] as i64 - qa.1 as i64) * ma + (b[i] as i64 - qb.1 as i64) * mb;
                let r = (acc + (1 << (ADD_SHIFT - 1))).div_euclid(1 << ADD_SHIFT) + qo.1 as i64;
                assert_eq!(out[i] as i64, r.clamp(lo, 255), "element {i} of {qa:?} {qb:?} {qo:?}");
                // The float formula (f64).
                let real = qa.0 as f64 * (a[i] as f64 - qa.1 as f64) + qb.0 as f64 * (b[i] as f64 - qb.1 as f64);
                let t = real / qo.0 as f64;
                let f = ((t + 0.5).floor() as i64 + qo.1 as i64).clamp(lo, 255);
                let near_tie = ((t - t.floor()) - 0.5).abs() < 1e-4;
                assert!(
                    out[i] as i64 == f || (near_tie && (out[i] as i64 - f).abs() == 1),
                    "element {i}: {} vs float {f} ({t})",
                    out[i]
                );
            }
        }
    }

    #[test]
    fn im2col_pads_with_the_zero_point() {
        let x = [1u8, 2, 3, 4]; // 1 channel, 2x2
        let col = im2col_nhwc(&x, 1, (1, 2, 2), Window::new(3, 1, 1, (1, 2, 2)), 7, 12);
        assert_eq!(&col[..12], &[7, 7, 7, 7, 1, 2, 7, 3, 4, 7, 7, 7]);
    }
}
