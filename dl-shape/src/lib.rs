//! The output-size rules of `dl`'s layers, in one place: the `#[network]`
//! macro (`dl-macros`) computes shapes with them at expansion time and the
//! runtime (`dl-core`'s ops, the layers' const assertions) checks with
//! them, so the two can never disagree. No dependencies; every function is
//! a `const fn` with checked arithmetic.
#![no_std]
#![warn(missing_docs)]

/// Output length of a convolution or pooling window over `input` positions
/// with kernel `k`, stride `stride` and zero padding `pad` on both sides:
/// `(input + 2 pad - k) / stride + 1`. `None` when the kernel or the stride
/// is zero, the padded input is shorter than the kernel, or the arithmetic
/// overflows.
///
/// ```
/// assert_eq!(dl_shape::conv_out(28, 3, 1, 0), Some(26));
/// assert_eq!(dl_shape::conv_out(8, 3, 2, 1), Some(4));
/// assert_eq!(dl_shape::conv_out(2, 3, 1, 0), None);
/// ```
pub const fn conv_out(input: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = match pad.checked_mul(2) {
        Some(p) => match p.checked_add(input) {
            Some(v) => v,
            None => return None,
        },
        None => return None,
    };
    if stride == 0 || k == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

/// Product of `dims` (the element count of a shape), `None` on overflow.
///
/// ```
/// assert_eq!(dl_shape::numel(&[64, 5, 5]), Some(1600));
/// assert_eq!(dl_shape::numel(&[usize::MAX, 2]), None);
/// ```
pub const fn numel(dims: &[usize]) -> Option<usize> {
    let mut n: usize = 1;
    let mut i = 0;
    while i < dims.len() {
        n = match n.checked_mul(dims[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

/// The defaults of the layers' optional generic parameters. The layer
/// declarations in `dl-nn` (`const STRIDE: usize = { defaults::CONV_STRIDE }`)
/// and the `#[network]` macro's catalogue (which completes a field type
/// such as `Conv2d<1, 8, 3>` to compute its output shape) both read them
/// here. (A pool's stride defaults to its kernel size: a rule, not a value.)
pub mod defaults {
    /// Stride of `Conv1d` and `Conv2d`.
    pub const CONV_STRIDE: usize = 1;
    /// Zero padding of convolutions and pools.
    pub const PAD: usize = 0;
    /// Stacked layers of `LSTM` and `GRU`.
    pub const RNN_LAYERS: usize = 1;
    /// Whether `LSTM` and `GRU` also run backwards.
    pub const RNN_BIDIRECTIONAL: bool = false;
    /// `Dropout`'s drop probability, in percent.
    pub const DROPOUT_PERCENT: usize = 50;
    /// Whether `MultiHeadAttention` masks future positions.
    pub const CAUSAL: bool = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes() {
        assert_eq!(conv_out(28, 3, 1, 0), Some(26));
        assert_eq!(conv_out(8, 3, 2, 1), Some(4));
        assert_eq!(conv_out(7, 2, 2, 0), Some(3));
        assert_eq!(conv_out(2, 3, 1, 0), None);
        assert_eq!(conv_out(2, 3, 1, 1), Some(2));
        assert_eq!(conv_out(5, 3, 0, 0), None);
        assert_eq!(conv_out(5, 0, 1, 0), None);
    }

    #[test]
    fn overflow_is_none() {
        assert_eq!(conv_out(usize::MAX, 1, 1, 1), None);
        assert_eq!(conv_out(1, 1, 1, usize::MAX / 2 + 1), None);
        assert_eq!(numel(&[1 << 40, 1 << 40]), None);
        assert_eq!(numel(&[]), Some(1));
    }
}
