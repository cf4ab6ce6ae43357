//! Observers (the range of a tensor over calibration data) and the affine
//! quantization parameters derived from them.

/// How calibration turns observed activations into a range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observer {
    /// The smallest and largest value seen (PyTorch's `MinMaxObserver`).
    MinMax,
    /// Per calibration batch the `p`-th and `(100 - p)`-th percentiles,
    /// averaged over the batches (`p` in `(50, 100]`, e.g. `99.99`): clips
    /// rare outliers so that the common values get finer steps.
    Percentile(f32),
}

impl Observer {
    pub(crate) fn validate(self) -> Result<(), String> {
        match self {
            Self::MinMax => Ok(()),
            Self::Percentile(p) if p > 50.0 && p <= 100.0 => Ok(()),
            Self::Percentile(p) => Err(format!("percentile {p} is not in (50, 100]")),
        }
    }
}

/// The running state of one observation point.
#[derive(Clone, Debug)]
pub(crate) struct RangeObserver {
    kind: Observer,
    lo: f64,
    hi: f64,
    batches: usize,
}

impl RangeObserver {
    pub(crate) fn new(kind: Observer) -> Self {
        let (lo, hi) = match kind {
            Observer::MinMax => (f64::INFINITY, f64::NEG_INFINITY),
            Observer::Percentile(_) => (0.0, 0.0),
        };
        Self {
            kind,
            lo,
            hi,
            batches: 0,
        }
    }

    pub(crate) fn observe(&mut self, data: &[f32]) {
        if data.is_empty() {
            return;
        }
        match self.kind {
            Observer::MinMax => {
                for &v in data {
                    if v.is_finite() {
                        self.lo = self.lo.min(v as f64);
                        self.hi = self.hi.max(v as f64);
                    }
                }
            }
            Observer::Percentile(p) => {
                let mut v: Vec<f32> = data.iter().copied().filter(|v| v.is_finite()).collect();
                if v.is_empty() {
                    return;
                }
                let last = v.len() - 1;
                let hi_i = ((p as f64 / 100.0) * last as f64).round() as usize;
                let lo_i = last - hi_i;
                let hi = *v.select_nth_unstable_by(hi_i.min(last), f32::total_cmp).1;
                let lo = *v.select_nth_unstable_by(lo_i, f32::total_cmp).1;
                self.lo += lo as f64;
                self.hi += hi as f64;
            }
        }
        self.batches += 1;
    }

    /// The observed range (`(0, 0)` before any observation).
    pub(crate) fn range(&self) -> (f32, f32) {
        if self.batches == 0 {
            return (0.0, 0.0);
        }
        match self.kind {
            Observer::MinMax => (self.lo as f32, self.hi as f32),
            Observer::Percentile(_) => (
                (self.lo / self.batches as f64) as f32,
                (self.hi / self.batches as f64) as f32,
            ),
        }
    }
}

/// Affine 8-bit quantization: `real = (q - zero_point) * scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// Step between consecutive integers.
    pub scale: f32,
    /// The integer that represents 0.0.
    pub zero_point: i32,
}

impl QParams {
    /// Unsigned (`0..=255`) parameters covering `[lo, hi]` (widened to
    /// contain 0, so that zero padding and ReLU are exact).
    pub fn from_range_u8(lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = if hi - lo > f32::MIN_POSITIVE * 255.0 {
            (hi - lo) / 255.0
        } else {
            1.0
        };
        let zero_point = ((-lo / scale).round() as i32).clamp(0, 255);
        Self { scale, zero_point }
    }

    /// `x` quantized to `u8`: `clamp(round_half_even(x * (1 / scale)) + zero_point, 0, 255)`.
    #[inline]
    pub fn quantize_u8(&self, x: f32) -> u8 {
        (round_i32(x * (1.0 / self.scale)) + self.zero_point).clamp(0, 255) as u8
    }

    /// The real value of `q`.
    #[inline]
    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point) as f32 * self.scale
    }
}

/// `x` rounded half to even as an integer, for `|x| <= 2^22` (beyond, and
/// NaN, clamped to that range): the rounded integer is left in the low
/// mantissa bits by adding `1.5 * 2^23`. Vectorizes, unlike `rintf`.
#[inline(always)]
pub(crate) fn round_i32(x: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    // Not `clamp`: NaN must become a bound (clamp keeps it).
    #[allow(clippy::manual_clamp)]
    let x = x.max(-4_194_304.0).min(4_194_304.0);
    ((x + MAGIC).to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32)
}

/// Symmetric per-row (per output channel) `i8` quantization of `w`
/// (`rows` rows): `scale = max|w| / 127`, values in `-127..=127`.
/// Returns the integers and the scales.
pub fn quantize_per_channel(w: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let cols = w.len().checked_div(rows).unwrap_or(0);
    let mut q = vec![0i8; w.len()];
    let mut scales = vec![1.0f32; rows];
    for r in 0..rows {
        let row = &w[r * cols..(r + 1) * cols];
        let m = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        scales[r] = s;
        for (d, &v) in q[r * cols..(r + 1) * cols].iter_mut().zip(row) {
            *d = (v / s).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
    }
    (q, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_params_contain_zero_and_round_trip() {
        let q = QParams::from_range_u8(-1.0, 3.0);
        assert_eq!(q.dequantize(q.zero_point), 0.0);
        for x in [-1.0f32, -0.3, 0.0, 0.7, 2.99] {
            assert!((q.dequantize(q.quantize_u8(x) as i32) - x).abs() <= q.scale / 2.0 + 1e-6);
        }
        let r = QParams::from_range_u8(0.5, 2.0); // widened to [0, 2]
        assert_eq!(r.zero_point, 0);
        assert_eq!(QParams::from_range_u8(0.0, 0.0).scale, 1.0);
    }

    #[test]
    fn per_channel_weights_use_the_full_range() {
        let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.5];
        let (q, s) = quantize_per_channel(&w, 3);
        assert_eq!(&q[0..3], &[64, -127, 32]);
        assert_eq!(&q[3..6], &[0, 0, 0]);
        assert_eq!(q[6], 127);
        assert_eq!(s[0], 1.0 / 127.0);
    }

    #[test]
    fn observers() {
        let data: Vec<f32> = (0..=1000).map(|i| i as f32).collect();
        let mut mm = RangeObserver::new(Observer::MinMax);
        mm.observe(&data);
        mm.observe(&[-5.0, f32::NAN]);
        assert_eq!(mm.range(), (-5.0, 1000.0));
        let mut p = RangeObserver::new(Observer::Percentile(99.0));
        p.observe(&data);
        assert_eq!(p.range(), (10.0, 990.0));
        assert!(Observer::Percentile(40.0).validate().is_err());
        assert!(Observer::Percentile(99.9).validate().is_ok());
    }
}
