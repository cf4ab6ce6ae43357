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
