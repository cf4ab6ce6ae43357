//! Facts shared by the sliding-window ops (convolutions and pooling, 1-D
//! and 2-D): the output length along an axis and the hyperparameter rules
//! their `validate` methods apply, each with its one error message.

use crate::error::{Error, Result};
use crate::shape::conv_out;

/// The output length of a window of `k` with `stride` over `len` padded by
/// `pad` at each end, `(len + 2 pad - k) / stride + 1`, or 0 when the window
/// does not fit.
pub(crate) const fn out_len(len: usize, k: usize, stride: usize, pad: usize) -> usize {
    match conv_out(len, k, stride, pad) {
        Some(v) => v,
        None => 0,
    }
}

/// The input position that output `o` reads at window tap `tap`,
/// `o * stride + tap - pad`, when it lies inside `0..len` (not in the
/// padding).
#[inline]
pub(crate) fn tap_pos(o: usize, tap: usize, stride: usize, pad: usize, len: usize) -> Option<usize> {
    (o * stride + tap).checked_sub(pad).filter(|&p| p < len)
}

/// The taps `(a, b)` of a `k x k` window at output `(i, j)` whose input
/// position `(iy, ix)` lies inside an `h x w` input, as `(a, b, iy, ix)`:
/// the loops of the tests' plain reference convolution and pooling.
#[cfg(test)]
pub(crate) fn window_taps(
    (i, j): (usize, usize),
    k: usize,
    stride: usize,
    pad: usize,
    (h, w): (usize, usize),
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..k).flat_map(move |a| {
        (0..k).filter_map(move |b| Some((a, b, tap_pos(i, a, stride, pad, h)?, tap_pos(j, b, stride, pad, w)?)))
    })
}

/// An [`Error::InvalidArgument`] of `op`.
pub(crate) fn invalid(op: &'static str, msg: String) -> Result<()> {
    Err(Error::InvalidArgument { op, msg })
}

/// `k > 0` and `stride > 0`; `window` names `k` ("kernel", "window").
pub(crate) fn check_positive(op: &'static str, window: &str, k: usize, stride: usize) -> Result<()> {
    if k == 0 || stride == 0 {
        return invalid(op, format!("{window} size {k} and stride {stride} must be positive"));
    }
    Ok(())
}

/// Both channel counts positive (convolutions).
pub(crate) fn check_channels(op: &'static str, c_in: usize, c_out: usize) -> Result<()> {
    if c_in == 0 || c_out == 0 {
        return invalid(op, format!("channels must be positive (in {c_in}, out {c_out})"));
    }
    Ok(())
}

/// PyTorch's pooling rule `pad <= k / 2`, which guarantees that every
/// window overlaps the input; `window` names `k`.
pub(crate) fn check_half_pad(op: &'static str, window: &str, pad: usize, k: usize) -> Result<()> {
    if pad > k / 2 {
        return invalid(op, format!("padding {pad} must be at most half the {window} size {k}"));
    }
    Ok(())
}
