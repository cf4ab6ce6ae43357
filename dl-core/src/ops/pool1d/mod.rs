//! 1-D max and average pooling over `[N, C, L]`: window `K`, stride,
//! padding at each end (`-inf` for max, zeros counted in the divisor for
//! average, as PyTorch's `count_include_pad = True`), floor output size
//! `LO = (L + 2 pad - K) / stride + 1`.
//!
//! The CPU kernels are direct loops, one `(sample, channel)` row per step;
//! max pooling records the position of each window's maximum (the first one
//! on ties, as PyTorch) for the backward scatter. A backend without device
//! kernels opts in, by implementing [`Pool1dOnHost`], to running the CPU
//! loops on a host copy (not fast).
//!
//! **PyTorch equivalent**: `F.max_pool1d(x, K, stride, padding)`,
//! `F.avg_pool1d(x, K, stride, padding)` and their autograd.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::{on_host, Storage};
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::util::window::{check_half_pad, check_positive, out_len};
use crate::shape::conv_out;

pub use cpu_kernel::{
    avg_pool1d_backward_host, avg_pool1d_forward_host, max_pool1d_backward_host, max_pool1d_forward_host,
};

/// Runtime dimensions of a 1-D pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool1dDims {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input length.
    pub l: usize,
    /// Window size.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Padding at each end.
    pub pad: usize,
}

impl Pool1dDims {
    /// Output length, or 0 when the window does not fit.
    pub const fn lo(&self) -> usize {
        out_len(self.l, self.k, self.stride, self.pad)
    }
    /// Elements of the input.
    pub const fn x_len(&self) -> usize {
        self.n * self.c * self.l
    }
    /// Elements of the output.
    pub const fn y_len(&self) -> usize {
        self.n * self.c * self.lo()
    }
    /// Checks `k > 0`, `stride > 0`, `pad <= k / 2` (PyTorch's rule) and
    /// that the window fits the padded input.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending value.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op: "pool1d", msg });
        check_positive("pool1d", "kernel", self.k, self.stride)?;
        check_half_pad("pool1d", "kernel", self.pad, self.k)?;
        if conv_out(self.l, self.k, self.stride, self.pad).is_none() {
            return bad(format!(
                "window {} does not fit the input of length {} (padding {})",
                self.k, self.l, self.pad
            ));
        }
        Ok(())
    }
}

/// 1-D pooling kernels of a backend. Dimensions must be valid
/// ([`Pool1dDims::validate`]); short buffers are a bug in the caller and panic.
pub trait Pool1dKernel: Storage {
    /// Max pooling: `y` (resized to `d.y_len()`) and the argmax input
    /// position of each output within its row (`idx`, replaced).
    fn max_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>, idx: &mut Self::Idx);
    /// Max pooling input gradient: **overwrites** `dx` (resized) with `dy`
    /// scattered to the recorded positions.
    fn max_pool1d_backward<E: Float>(&self, d: Pool1dDims, idx: &Self::Idx, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
    /// Average pooling (`count_include_pad`): `y` resized to `d.y_len()`.
    fn avg_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// Average pooling input gradient: **overwrites** `dx` (resized).
    fn avg_pool1d_backward<E: Float>(&self, d: Pool1dDims, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
}

/// Opt-in for a backend without device 1-D pooling kernels: implementing
/// this marker gives it [`Pool1dKernel`] by running the CPU kernels on host copies
/// of its buffers (download, compute, upload; correct, not fast). A backend
/// chooses this by name; it never happens by omission.
pub trait Pool1dOnHost: Storage {}

impl<B: Pool1dOnHost> Pool1dKernel for B {
    fn max_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>, idx: &mut Self::Idx) {
        let mut ih = vec![0u32; d.y_len()];
        on_host(self, [x], [(y, Some(d.y_len()))], |[x], [y]| {
            max_pool1d_forward_host(d, x, y, &mut ih)
        });
        *idx = self.idx_from_slice(&ih);
    }

    fn max_pool1d_backward<E: Float>(&self, d: Pool1dDims, idx: &Self::Idx, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>) {
        let ih = self.idx_to_vec(idx);
        on_host(self, [dy], [(dx, Some(d.x_len()))], |[dy], [dx]| {
            max_pool1d_backward_host(d, &ih, dy, dx)
        });
    }

    fn avg_pool1d_forward<E: Float>(&self, d: Pool1dDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>) {
        on_host(self, [x], [(y, Some(d.y_len()))], |[x], [y]| {
            avg_pool1d_forward_host(d, x, y)
        });
    }

    fn avg_pool1d_backward<E: Float>(&self, d: Pool1dDims, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>) {
        on_host(self, [dy], [(dx, Some(d.x_len()))], |[dy], [dx]| {
            avg_pool1d_backward_host(d, dy, dx)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::Cpu;

    fn d() -> Pool1dDims {
        Pool1dDims {
            n: 2,
            c: 2,
            l: 7,
            k: 3,
            stride: 2,
            pad: 1,
        }
    }

    #[test]
    fn values_by_hand() {
        let d = Pool1dDims {
            n: 1,
            c: 1,
            l: 5,
            k: 2,
            stride: 2,
            pad: 1,
        };
        let x = vec![1.0, 5.0, 2.0, -1.0, 3.0];
        let (mut y, mut idx) = (vec![], vec![]);
        Cpu.max_pool1d_forward(d, &x, &mut y, &mut idx);
        assert_eq!(y, vec![1.0, 5.0, 3.0]);
        assert_eq!(idx, vec![0, 1, 4]);
        Cpu.avg_pool1d_forward(d, &x, &mut y);
        assert_eq!(y, vec![0.5, 3.5, 1.0]);
    }

    #[test]
    fn gradient_checks() {
        let d = d();
        let x: Vec<f64> = (0..d.x_len()).map(|i| ((i * 7 % 11) as f64) * 0.3 - 1.0).collect();
        let g: Vec<f64> = (0..d.y_len()).map(|i| (i as f64 * 0.9).cos()).collect();
        let avg = |x: &[f64]| {
            let mut y = vec![];
            Cpu.avg_pool1d_forward(d, &x.to_vec(), &mut y);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut dx = vec![];
        Cpu.avg_pool1d_backward(d, &g, &mut dx);
        check_gradient(avg, &x, &dx, GradCheck::default()).unwrap();
        let max = |x: &[f64]| {
            let (mut y, mut i) = (vec![], vec![]);
            Cpu.max_pool1d_forward(d, &x.to_vec(), &mut y, &mut i);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        let (mut y, mut idx) = (vec![], vec![]);
        Cpu.max_pool1d_forward(d, &x, &mut y, &mut idx);
        Cpu.max_pool1d_backward(d, &idx, &g, &mut dx);
        check_gradient(max, &x, &dx, GradCheck::default()).unwrap();
    }

    #[test]
    fn validation() {
        assert!(Pool1dDims { pad: 2, ..d() }.validate().is_err());
        assert!(Pool1dDims { stride: 0, ..d() }.validate().is_err());
        assert!(d().validate().is_ok());
    }
}
