//! 1-D convolution (cross-correlation, as PyTorch): input `[N, C, L]`,
//! kernel `K`, stride, zero padding on both ends, dilation 1, groups 1.
//!
//! `y[n, o, j] = b[o] + sum over c, q of w[o, c, q] * x[n, c, j*stride + q - pad]`
//! (zero outside the input), with `LO = (L + 2 pad - K) / stride + 1`.
//!
//! The CPU kernels are direct loops: the forward and the input gradient run
//! one sample per task, the weight gradient one output channel per task
//! (each sums over the batch in a fixed order), so results do not depend on
//! the thread count. Sequence models use small kernels and channel counts,
//! where the loops are cheap next to the recurrent layers around them.
//!
//! A backend without device kernels opts in, by implementing
//! [`Conv1dOnHost`], to running the CPU loops on a host copy (download,
//! compute, upload): correct everywhere, not fast.
//!
//! **PyTorch equivalent**: `F.conv1d(x, w, b, stride, padding)` and its autograd.

mod autocast;
mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::{on_host, Storage};
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::util::window::{check_channels, check_positive, out_len};
use crate::shape::conv_out;

pub use cpu_kernel::{conv1d_backward_input_host, conv1d_backward_weight_host, conv1d_forward_host};

/// Runtime dimensions of a 1-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv1dDims {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input length.
    pub l: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding at each end.
    pub pad: usize,
}

impl Conv1dDims {
    /// Output length, `(l + 2 pad - k) / stride + 1`, or 0 when the window
    /// does not fit (see [`Conv1dDims::validate`]).
    pub const fn lo(&self) -> usize {
        out_len(self.l, self.k, self.stride, self.pad)
    }
    /// Elements of the input, `n * c_in * l`.
    pub const fn x_len(&self) -> usize {
        self.n * self.c_in * self.l
    }
    /// Elements of the output, `n * c_out * lo`.
    pub const fn y_len(&self) -> usize {
        self.n * self.c_out * self.lo()
    }
    /// Elements of the weight, `c_out * c_in * k`.
    pub const fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.k
    }

    /// Checks that the hyperparameters describe a convolution: `k > 0`,
    /// `stride > 0`, channels > 0, and the padded input holds the kernel.
    ///
    /// ```
    /// use dl_core::ops::conv1d::Conv1dDims;
    /// let d = Conv1dDims { n: 2, c_in: 3, l: 10, c_out: 4, k: 3, stride: 1, pad: 1 };
    /// assert_eq!(d.lo(), 10);
    /// assert!(d.validate().is_ok());
    /// assert!(Conv1dDims { k: 13, ..d }.validate().is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending value.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op: "conv1d", msg });
        check_positive("conv1d", "kernel", self.k, self.stride)?;
        check_channels("conv1d", self.c_in, self.c_out)?;
        if conv_out(self.l, self.k, self.stride, self.pad).is_none() {
            return bad(format!(
                "kernel {} does not fit the padded input of length {} (padding {})",
                self.k,
                self.l.saturating_add(self.pad.saturating_mul(2)),
                self.pad
            ));
        }
        Ok(())
    }
}

/// 1-D convolution kernels of a backend. Dimensions must be valid
/// ([`Conv1dDims::validate`]); buffers too small for them are a bug in the
/// caller and panic.
pub trait Conv1dKernel: Storage {
    /// `y = conv(x, w) + b`; `y` is resized to `d.y_len()`. Without `b` no
    /// bias is added.
    fn conv1d_forward<E: Float>(
        &self,
        d: Conv1dDims,
        x: &Self::Buf<E>,
        w: &Self::Buf<E>,
        b: Option<&Self::Buf<E>>,
        y: &mut Self::Buf<E>,
    );
    /// Input gradient: **overwrites** `dx` (resized to `d.x_len()`).
    fn conv1d_backward_input<E: Float>(
        &self,
        d: Conv1dDims,
        w: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
    );
    /// Parameter gradients: **accumulates** `dw += dL/dw` and, when given,
    /// `db += dL/db`.
    fn conv1d_backward_weight<E: Float>(
        &self,
        d: Conv1dDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dw: &mut Self::Buf<E>,
        db: Option<&mut Self::Buf<E>>,
    );
}

/// Opt-in for a backend without device 1-D convolution kernels: implementing
/// this marker gives it [`Conv1dKernel`] by running the CPU kernels on host copies
/// of its buffers (download, compute, upload; correct, not fast). A backend
/// chooses this by name; it never happens by omission.
pub trait Conv1dOnHost: Storage {}

impl<B: Conv1dOnHost> Conv1dKernel for B {
    fn conv1d_forward<E: Float>(
        &self,
        d: Conv1dDims,
        x: &Self::Buf<E>,
        w: &Self::Buf<E>,
        b: Option<&Self::Buf<E>>,
        y: &mut Self::Buf<E>,
    ) {
        let y = [(y, Some(d.y_len()))];
        match b {
            Some(b) => on_host(self, [x, w, b], y, |[x, w, b], [y]| {
                conv1d_forward_host(d, x, w, Some(b), y)
            }),
            None => on_host(self, [x, w], y, |[x, w], [y]| conv1d_forward_host(d, x, w, None, y)),
        }
    }

    fn conv1d_backward_input<E: Float>(
        &self,
        d: Conv1dDims,
        w: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
    ) {
        on_host(self, [w, dy], [(dx, Some(d.x_len()))], |[w, dy], [dx]| {
            conv1d_backward_input_host(d, w, dy, dx)
        });
    }

    fn conv1d_backward_weight<E: Float>(
        &self,
        d: Conv1dDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dw: &mut Self::Buf<E>,
        db: Option<&mut Self::Buf<E>>,
    ) {
        let ins = [x, dy];
        match db {
            Some(db) => on_host(self, ins, [(dw, None), (db, None)], |[x, dy], [dw, db]| {
                conv1d_backward_weight_host(d, x, dy, dw, Some(db))
            }),
            None => on_host(self, ins, [(dw, None)], |[x, dy], [dw]| {
                conv1d_backward_weight_host(d, x, dy, dw, None)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_gradients, GradCheck};
    use crate::Cpu;

    fn dims() -> Conv1dDims {
        Conv1dDims {
            n: 2,
            c_in: 2,
            l: 7,
            c_out: 3,
            k: 3,
            stride: 2,
            pad: 1,
        }
    }

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect()
    }

    #[test]
    fn values_by_hand() {
        // One channel, kernel [1, 0, -1], padding 1: y[j] = x[j-1] - x[j+1].
        let d = Conv1dDims {
            n: 1,
            c_in: 1,
            l: 4,
            c_out: 1,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let mut y = vec![];
        Cpu.conv1d_forward(
            d,
            &vec![1.0, 2.0, 4.0, 8.0],
            &vec![1.0, 0.0, -1.0],
            Some(&vec![0.5]),
            &mut y,
        );
        assert_eq!(y, vec![-1.5, -2.5, -5.5, 4.5]);
    }

    #[test]
    fn gradient_check() {
        let d = dims();
        let (x, w, b) = (data(d.x_len(), 0.7), data(d.w_len(), 1.3), data(d.c_out, 0.4));
        let g = data(d.y_len(), 0.9);
        let loss = |[x, w, b]: [&[f64]; 3]| {
            let mut y = vec![];
            Cpu.conv1d_forward(d, &x.to_vec(), &w.to_vec(), Some(&b.to_vec()), &mut y);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut dx = vec![];
        Cpu.conv1d_backward_input(d, &w, &g, &mut dx);
        let (mut dw, mut db) = (vec![0.0; d.w_len()], vec![0.0; d.c_out]);
        Cpu.conv1d_backward_weight(d, &x, &g, &mut dw, Some(&mut db));
        assert_gradients(loss, [&x, &w, &b], [&dx, &dw, &db], GradCheck::default(), "conv1d");
    }

    /// The host-copy kernels (what `Conv1dOnHost` backends run) equal the CPU kernels.
    #[test]
    fn host_default_matches() {
        let d = dims();
        let (x, w, g) = (data(d.x_len(), 0.7), data(d.w_len(), 1.3), data(d.y_len(), 0.9));
        let mut y = vec![0.0; d.y_len()];
        conv1d_forward_host(d, &x, &w, None, &mut y);
        let mut y2 = vec![];
        Cpu.conv1d_forward(d, &x, &w, None, &mut y2);
        assert_eq!(y, y2);
        let (mut dw, mut dw2) = (vec![1.0; d.w_len()], vec![1.0; d.w_len()]);
        conv1d_backward_weight_host(d, &x, &g, &mut dw, None);
        Cpu.conv1d_backward_weight(d, &x, &g, &mut dw2, None);
        assert_eq!(dw, dw2);
    }

    #[test]
    fn validation() {
        assert!(Conv1dDims { stride: 0, ..dims() }.validate().is_err());
        assert!(Conv1dDims { c_in: 0, ..dims() }.validate().is_err());
        assert!(Conv1dDims { l: 0, pad: 0, ..dims() }.validate().is_err());
    }
}
