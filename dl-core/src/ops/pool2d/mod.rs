//! 2-D pooling over NCHW images: max pooling, average pooling
//! (`count_include_pad = true`) and global average pooling.
//!
//! Windows are square (`k x k`) with a stride and padding on all four sides;
//! the output size is `(H + 2 pad - k) / stride + 1` (floor, PyTorch's
//! `ceil_mode = false`). Max pooling treats padding as `-inf` and records the
//! position of each window's maximum (the first one on ties; a NaN wins, as in
//! PyTorch) in a caller-owned index buffer that its backward routes the
//! gradient through. Average pooling always divides by `k * k`.
//!
//! **PyTorch equivalent**: `F.max_pool2d(x, k, stride, pad)`,
//! `F.avg_pool2d(x, k, stride, pad)`, `F.adaptive_avg_pool2d(x, 1)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::util::window::{check_half_pad, check_positive, out_len};
use crate::shape::{S1, S3};
use crate::tensor::Tensor;

/// Runtime dimensions of a 2-D pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dDims {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window size (square).
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Padding on each of the four sides.
    pub pad: usize,
}

impl Pool2dDims {
    /// Output height, or 0 when the window does not fit.
    pub const fn oh(&self) -> usize {
        out_len(self.h, self.k, self.stride, self.pad)
    }
    /// Output width, or 0 when the window does not fit.
    pub const fn ow(&self) -> usize {
        out_len(self.w, self.k, self.stride, self.pad)
    }
    /// Number of `(sample, channel)` planes, `n * c`.
    pub const fn planes(&self) -> usize {
        self.n * self.c
    }
    /// Elements of the input.
    pub const fn x_len(&self) -> usize {
        self.planes() * self.h * self.w
    }
    /// Elements of the output.
    pub const fn y_len(&self) -> usize {
        self.planes() * self.oh() * self.ow()
    }

    /// Checks the hyperparameters: `k > 0`, `stride > 0`, `pad <= k / 2`
    /// (PyTorch's rule, which guarantees that every window overlaps the
    /// input) and the padded input holds the window.
    ///
    /// ```
    /// use dl_core::ops::pool2d::Pool2dDims;
    /// let d = Pool2dDims { n: 1, c: 3, h: 7, w: 7, k: 3, stride: 2, pad: 1 };
    /// assert_eq!((d.oh(), d.ow()), (4, 4));
    /// assert!(d.validate().is_ok());
    /// assert!(Pool2dDims { pad: 2, ..d }.validate().is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending value.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op: "pool2d", msg });
        check_positive("pool2d", "window", self.k, self.stride)?;
        check_half_pad("pool2d", "window", self.pad, self.k)?;
        if self.h + 2 * self.pad < self.k || self.w + 2 * self.pad < self.k {
            return bad(format!(
                "window {} does not fit the padded input {}x{}",
                self.k,
                self.h + 2 * self.pad,
                self.w + 2 * self.pad
            ));
        }
        if self.h * self.w > u32::MAX as usize {
            return bad(format!("an image plane of {}x{} is too large", self.h, self.w));
        }
        Ok(())
    }
}

/// Pooling kernels of a backend. Dimensions must be valid
/// ([`Pool2dDims::validate`]); buffers too small for them panic (a bug in
/// the caller). Backward kernels **overwrite** `dx` (resized).
pub trait Pool2dKernel: Storage {
    /// Max pooling: writes `y` (resized to `d.y_len()`) and, per output
    /// element, the position `iy * w + ix` of its maximum within its input
    /// plane into `argmax` (resized likewise).
    fn maxpool2d_forward<E: Float>(
        &self,
        d: Pool2dDims,
        x: &Self::Buf<E>,
        y: &mut Self::Buf<E>,
        argmax: &mut Self::Idx,
    );
    /// Max pooling backward: `dx[argmax[j]] += dy[j]` over a zeroed `dx`.
    fn maxpool2d_backward<E: Float>(&self, d: Pool2dDims, argmax: &Self::Idx, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
    /// Average pooling (`count_include_pad`: every window divides by `k * k`).
    fn avgpool2d_forward<E: Float>(&self, d: Pool2dDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// Average pooling backward: each output spreads `dy / (k * k)` over its window.
    fn avgpool2d_backward<E: Float>(&self, d: Pool2dDims, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
    /// Global average pooling: `y[p] = mean of x[p, 0..hw]` for each of
    /// `planes` planes (`[N, C, H, W] -> [N, C]`); `y` resized to `planes`.
    /// A plane of zero elements averages to 0.
    fn global_avgpool2d_forward<E: Float>(&self, planes: usize, hw: usize, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// Global average pooling backward: `dx[p, i] = dy[p] / hw`.
    fn global_avgpool2d_backward<E: Float>(&self, planes: usize, hw: usize, dy: &Self::Buf<E>, dx: &mut Self::Buf<E>);
}

fn typed_dims<const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
    n: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<Pool2dDims> {
    let d = Pool2dDims {
        n,
        c: C,
        h: H,
        w: W,
        k,
        stride,
        pad,
    };
    d.validate()?;
    if (d.oh(), d.ow()) != (OH, OW) {
        return Err(Error::ShapeMismatch {
            op: "pool2d output",
            lhs: vec![C, d.oh(), d.ow()],
            rhs: vec![C, OH, OW],
        });
    }
    Ok(d)
}

/// Typed max pooling into `y` (resized), recording argmax positions in
/// `argmax` for [`max_pool2d_backward`].
///
/// **PyTorch equivalent**: `F.max_pool2d(x, k, stride, pad)`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_core::ops::pool2d::max_pool2d;
/// let x = Tensor::<S3<1, 2, 2>>::from_vec(&Cpu, 1, vec![1.0, 4.0, 3.0, 2.0]).unwrap();
/// let (mut y, mut idx) = (Tensor::<S3<1, 1, 1>>::empty(&Cpu), vec![]);
/// max_pool2d(&x, 2, 2, 0, &mut y, &mut idx).unwrap();
/// assert_eq!((y.to_vec(), idx), (vec![4.0], vec![1]));
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for bad hyperparameters,
/// [`Error::ShapeMismatch`] when `OH`/`OW` are not the output size.
pub fn max_pool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    B: Pool2dKernel,
    E: Float,
>(
    x: &Tensor<S3<C, H, W>, B, E>,
    k: usize,
    stride: usize,
    pad: usize,
    y: &mut Tensor<S3<C, OH, OW>, B, E>,
    argmax: &mut B::Idx,
) -> Result<()> {
    let d = typed_dims::<C, H, W, OH, OW>(x.batch(), k, stride, pad)?;
    y.set_batch(x.batch());
    x.device().maxpool2d_forward(d, x.buf(), y.buf_mut(), argmax);
    Ok(())
}

/// Backward of [`max_pool2d`]: writes `dx` (resized to `dy`'s batch).
///
/// # Errors
/// As [`max_pool2d`].
pub fn max_pool2d_backward<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    B: Pool2dKernel,
    E: Float,
>(
    argmax: &B::Idx,
    k: usize,
    stride: usize,
    pad: usize,
    dy: &Tensor<S3<C, OH, OW>, B, E>,
    dx: &mut Tensor<S3<C, H, W>, B, E>,
) -> Result<()> {
    let d = typed_dims::<C, H, W, OH, OW>(dy.batch(), k, stride, pad)?;
    dx.set_batch(dy.batch());
    dy.device().maxpool2d_backward(d, argmax, dy.buf(), dx.buf_mut());
    Ok(())
}

/// Typed average pooling (`count_include_pad = true`) into `y` (resized).
///
/// **PyTorch equivalent**: `F.avg_pool2d(x, k, stride, pad)`.
///
/// # Errors
/// As [`max_pool2d`].
pub fn avg_pool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    B: Pool2dKernel,
    E: Float,
>(
    x: &Tensor<S3<C, H, W>, B, E>,
    k: usize,
    stride: usize,
    pad: usize,
    y: &mut Tensor<S3<C, OH, OW>, B, E>,
) -> Result<()> {
    let d = typed_dims::<C, H, W, OH, OW>(x.batch(), k, stride, pad)?;
    y.set_batch(x.batch());
    x.device().avgpool2d_forward(d, x.buf(), y.buf_mut());
    Ok(())
}

/// Backward of [`avg_pool2d`]: writes `dx` (resized to `dy`'s batch).
///
/// # Errors
/// As [`max_pool2d`].
pub fn avg_pool2d_backward<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    B: Pool2dKernel,
    E: Float,
>(
    k: usize,
    stride: usize,
    pad: usize,
    dy: &Tensor<S3<C, OH, OW>, B, E>,
    dx: &mut Tensor<S3<C, H, W>, B, E>,
) -> Result<()> {
    let d = typed_dims::<C, H, W, OH, OW>(dy.batch(), k, stride, pad)?;
    dx.set_batch(dy.batch());
    dy.device().avgpool2d_backward(d, dy.buf(), dx.buf_mut());
    Ok(())
}

/// Typed global average pooling: `[N, C, H, W] -> [N, C]`.
///
/// **PyTorch equivalent**: `F.adaptive_avg_pool2d(x, 1).flatten(1)`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_core::ops::pool2d::global_avg_pool2d;
/// let x = Tensor::<S3<2, 1, 2>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 5.0, 9.0]).unwrap();
/// assert_eq!(global_avg_pool2d(&x).to_vec(), vec![2.0, 7.0]);
/// ```
pub fn global_avg_pool2d<const C: usize, const H: usize, const W: usize, B: Pool2dKernel, E: Float>(
    x: &Tensor<S3<C, H, W>, B, E>,
) -> Tensor<S1<C>, B, E> {
    let mut y = Tensor::zeros(x.device(), x.batch());
    x.device()
        .global_avgpool2d_forward(x.batch() * C, H * W, x.buf(), y.buf_mut());
    y
}

/// Backward of [`global_avg_pool2d`]: `dx[n, c, i, j] = dy[n, c] / (H W)`.
pub fn global_avg_pool2d_backward<const C: usize, const H: usize, const W: usize, B: Pool2dKernel, E: Float>(
    dy: &Tensor<S1<C>, B, E>,
) -> Tensor<S3<C, H, W>, B, E> {
    let mut dx = Tensor::zeros(dy.device(), dy.batch());
    dy.device()
        .global_avgpool2d_backward(dy.batch() * C, H * W, dy.buf(), dx.buf_mut());
    dx
}

#[cfg(test)]
mod tests;
