//! 2-D convolution (cross-correlation, as PyTorch): NCHW input, square
//! kernel `K`, stride, zero padding on all four sides, dilation 1, groups 1.
//!
//! `y[n, o, i, j] = b[o] + sum over c, p, q of w[o, c, p, q] *
//! x[n, c, i*stride + p - pad, j*stride + q - pad]` (zero outside the input),
//! with `OH = (H + 2 pad - K) / stride + 1` (and likewise `OW`).
//!
//! Every backend runs one lowering (`Im2colLowering`): GEMMs over im2col
//! columns held in a caller-owned workspace buffer (resized as needed, so
//! nothing allocates once it has grown):
//!
//! * forward: per sample `y_n [O, OH*OW] = W [O, C*K*K] x col_n [C*K*K, OH*OW]`,
//!   the samples' products running in parallel and writing NCHW directly;
//! * backward: the columns of the whole batch side by side
//!   (`[C*K*K, N*OH*OW]`) and the upstream gradient transposed to
//!   `[O, N*OH*OW]`, so `dW += dY^T col^T` and `dcol = W^T dY^T` are one large
//!   GEMM each; `dx` is the scatter-add (col2im) of `dcol`.
//!
//! **PyTorch equivalent**: `F.conv2d(x, w, b, stride, padding)` and its autograd.
//!
//! Three ways in, one per need: the kernel methods here ([`Conv2dKernel`],
//! unchecked, for backends), `dl_nn::layers::conv2d::conv2d_forward` /
//! `conv2d_backward` (runtime dimensions, every buffer length checked, a
//! typed error otherwise) and the typed `dl_nn::layers::Conv2d` layer.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::bias::{BiasDims, BiasKernel};
use crate::ops::matmul::{Batch, Gemm, GemmKernel, GemmWorkspace};
use crate::ops::util::window::{check_channels, check_positive, out_len};

/// Runtime dimensions of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dDims {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding on each of the four sides.
    pub pad: usize,
}

impl Conv2dDims {
    /// Output height, `(h + 2 pad - k) / stride + 1`, or 0 when the window
    /// does not fit (see [`Conv2dDims::validate`]).
    pub const fn oh(&self) -> usize {
        out_len(self.h, self.k, self.stride, self.pad)
    }
    /// Output width, `(w + 2 pad - k) / stride + 1`, or 0 when the window
    /// does not fit.
    pub const fn ow(&self) -> usize {
        out_len(self.w, self.k, self.stride, self.pad)
    }
    /// Elements of one im2col column block row: `c_in * k * k`.
    pub const fn ckk(&self) -> usize {
        self.c_in * self.k * self.k
    }
    /// Elements of the input, `n * c_in * h * w`.
    pub const fn x_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    /// Elements of the output, `n * c_out * oh * ow`.
    pub const fn y_len(&self) -> usize {
        self.n * self.c_out * self.oh() * self.ow()
    }
    /// Elements of the weight, `c_out * c_in * k * k`.
    pub const fn w_len(&self) -> usize {
        self.c_out * self.ckk()
    }

    /// Checks that the hyperparameters describe a convolution: `k > 0`,
    /// `stride > 0`, channels > 0, and the padded input holds the kernel.
    ///
    /// ```
    /// use dl_core::ops::conv2d::Conv2dDims;
    /// let d = Conv2dDims { n: 2, c_in: 1, h: 28, w: 28, c_out: 32, k: 3, stride: 1, pad: 0 };
    /// assert_eq!((d.oh(), d.ow()), (26, 26));
    /// assert!(d.validate().is_ok());
    /// assert!(Conv2dDims { k: 30, ..d }.validate().is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending value.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op: "conv2d", msg });
        check_positive("conv2d", "kernel", self.k, self.stride)?;
        check_channels("conv2d", self.c_in, self.c_out)?;
        // Every size the kernels compute (the buffers, the im2col columns of
        // the whole batch beside the transposed output gradient) must fit
        // `usize`: the `*_len` helpers multiply unchecked.
        let mul = |a: usize, b: usize| a.checked_mul(b);
        let sizes = (|| {
            self.h.max(self.w).checked_add(mul(2, self.pad)?)?;
            let ckk = mul(mul(self.c_in, self.k)?, self.k)?;
            let ohw = mul(self.oh(), self.ow())?;
            mul(mul(mul(self.n, self.c_in)?, self.h)?, self.w)?;
            mul(mul(self.n, self.c_out)?, ohw)?;
            mul(self.c_out, ckk)?;
            mul(ckk.checked_add(self.c_out)?, mul(self.n, ohw)?)
        })();
        if sizes.is_none() {
            return bad(format!("the sizes of the {self:?} convolution overflow usize"));
        }
        if self.h + 2 * self.pad < self.k || self.w + 2 * self.pad < self.k {
            return bad(format!(
                "kernel {} does not fit the padded input {}x{} (padding {})",
                self.k,
                self.h + 2 * self.pad,
                self.w + 2 * self.pad,
                self.pad
            ));
        }
        Ok(())
    }
}

/// The lowering that every backend's kernels run (im2col columns and
/// batched GEMMs), written once: each backend supplies only the data
/// movement (im2col, col2im, the `[n, c_out, ohw] -> [c_out, n * ohw]`
/// transpose) and its GEMM.
impl Conv2dDims {
    /// Panics unless the dimensions are valid: kernels are called with
    /// checked ones, so a failure here is a bug in the caller.
    #[track_caller]
    fn assert_valid(&self) {
        if let Err(e) = self.validate() {
            panic!("conv2d kernel called with invalid dimensions {self:?}: {e}");
        }
    }
    /// Panics unless the dimensions are valid and the buffers are `large`
    /// enough for `kernel` (a failure is a bug in the caller).
    #[track_caller]
    fn assert_buffers(&self, kernel: &str, large: bool) {
        self.assert_valid();
        assert!(large, "{kernel}: buffer too small");
    }
    /// The forward's contract: valid dimensions, `x` and `w` large enough.
    #[track_caller]
    pub(crate) fn assert_forward(&self, x: usize, w: usize) {
        self.assert_buffers("conv2d_forward", x >= self.x_len() && w >= self.w_len());
    }
    /// The input gradient's contract, as [`Self::assert_forward`].
    #[track_caller]
    pub(crate) fn assert_backward_input(&self, w: usize, dy: usize) {
        self.assert_buffers("conv2d_backward_input", dy >= self.y_len() && w >= self.w_len());
    }
    /// The parameter gradients' contract, as [`Self::assert_forward`]
    /// (`db`: the bias gradient's length, when there is one).
    #[track_caller]
    pub(crate) fn assert_backward_weight(&self, x: usize, dy: usize, dw: usize, db: Option<usize>) {
        let large = x >= self.x_len() && dy >= self.y_len() && dw >= self.w_len();
        self.assert_buffers("conv2d_backward_weight", large);
        assert!(
            db.is_none_or(|db| db >= self.c_out),
            "conv2d_backward_weight: bias gradient too small"
        );
    }
    /// Whether the im2col columns are the input itself (a 1x1 kernel with
    /// stride 1 and no padding), so no column buffer is needed.
    pub(crate) const fn columns_are_input(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
    /// Elements of the per-sample column buffer, `n * ckk * oh * ow`.
    pub(crate) const fn cols_len(&self) -> usize {
        self.n * self.ckk() * self.oh() * self.ow()
    }
    /// Forward, per sample: `y_n [c_out, ohw] = W [c_out, ckk] x cols_n [ckk, ohw]`.
    pub(crate) fn forward_gemm<E: Float>(&self) -> (Gemm<E>, Batch) {
        let (ckk, ohw) = (self.ckk(), self.oh() * self.ow());
        let g = Gemm::new(self.c_out, ohw, ckk, false, false);
        let bt = Batch {
            count: self.n,
            a_stride: 0,
            b_stride: ckk * ohw,
            c_stride: self.c_out * ohw,
            ..Default::default()
        };
        (g, bt)
    }
    /// Input gradient, per sample: `dcols_n [ckk, ohw] = W^T [ckk, c_out] x dy_n [c_out, ohw]`
    /// (then col2im, unless [`Self::columns_are_input`]).
    pub(crate) fn backward_input_gemm<E: Float>(&self) -> (Gemm<E>, Batch) {
        let (ckk, ohw) = (self.ckk(), self.oh() * self.ow());
        let g = Gemm::new(ckk, ohw, self.c_out, true, false);
        let bt = Batch {
            count: self.n,
            a_stride: 0,
            b_stride: self.c_out * ohw,
            c_stride: ckk * ohw,
            ..Default::default()
        };
        (g, bt)
    }
    /// Elements of the weight gradient's workspace: the batch's columns side
    /// by side (`[ckk, n * ohw]`, batch layout) followed by `dy` transposed
    /// to `[c_out, n * ohw]`.
    pub(crate) const fn backward_weight_ws_len(&self) -> usize {
        (self.ckk() + self.c_out) * self.n * self.oh() * self.ow()
    }
    /// Weight gradient over that workspace, one GEMM for the batch:
    /// `dW [c_out, ckk] += dyT [c_out, m] x cols^T [m, ckk]`, `m = n * ohw`
    /// (A is the workspace after the columns, B the columns).
    pub(crate) fn backward_weight_gemm<E: Float>(&self) -> (Gemm<E>, Batch) {
        let m = self.n * self.oh() * self.ow();
        let g = Gemm::new(self.c_out, self.ckk(), m, false, true).accumulate();
        let bt = Batch {
            count: 1,
            a_offset: self.ckk() * m,
            ..Default::default()
        };
        (g, bt)
    }
    /// The output as a bias sees it: `n` samples of `c_out` channels of
    /// `oh * ow` positions.
    pub(crate) const fn bias_dims(&self) -> BiasDims {
        BiasDims {
            outer: self.n,
            channels: self.c_out,
            inner: self.oh() * self.ow(),
        }
    }
}

/// Convolution kernels of a backend.
///
/// `ws` is a scratch buffer owned by the caller and reused across calls: the
/// kernels resize it to what they need (its contents are not meaningful
/// between calls); `gemm` is the caller's GEMM packing workspace, likewise
/// reused (see [`GemmWorkspace`]). Dimensions must be valid ([`Conv2dDims::validate`]);
/// buffers too small for them are a bug in the caller and panic.
pub trait Conv2dKernel: Storage {
    /// `y = conv(x, w) + b`; `y` is resized to `d.y_len()`. Without `b` no
    /// bias is added.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_forward<E: Float>(
        &self,
        d: Conv2dDims,
        x: &Self::Buf<E>,
        w: &Self::Buf<E>,
        b: Option<&Self::Buf<E>>,
        y: &mut Self::Buf<E>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    );
    /// Input gradient: **overwrites** `dx` (resized to `d.x_len()`) with
    /// `dL/dx` for the upstream gradient `dy`.
    fn conv2d_backward_input<E: Float>(
        &self,
        d: Conv2dDims,
        w: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    );
    /// Parameter gradients: **accumulates** `dw += dL/dw` and, when given,
    /// `db += dL/db` (sum of `dy` over batch and positions).
    #[allow(clippy::too_many_arguments)]
    fn conv2d_backward_weight<E: Float>(
        &self,
        d: Conv2dDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dw: &mut Self::Buf<E>,
        db: Option<&mut Self::Buf<E>>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    );
}

/// What a backend supplies to the im2col lowering: the data movement and
/// the forward's GEMM with its bias. [`Conv2dKernel`] is written once over
/// it (below), so every backend runs the same steps in the same order.
pub(crate) trait Im2colLowering: GemmKernel + BiasKernel {
    /// Writes the per-sample im2col columns of `x` into `cols`, which holds
    /// [`Conv2dDims::cols_len`] elements.
    fn im2col_per_sample<E: Float>(&self, d: &Conv2dDims, x: &Self::Buf<E>, cols: &mut Self::Buf<E>);
    /// Overwrites `dx` (resized to `d.x_len()`) with the scatter-add of the
    /// per-sample columns `cols`, the adjoint of [`Self::im2col_per_sample`].
    fn col2im<E: Float>(&self, d: &Conv2dDims, cols: &Self::Buf<E>, dx: &mut Self::Buf<E>);
    /// Writes the weight gradient's operands into `ws`, which holds
    /// [`Conv2dDims::backward_weight_ws_len`] elements: the batch's columns
    /// of `x`, then `dy` transposed to `[c_out, n * ohw]`.
    fn weight_gradient_operands<E: Float>(
        &self,
        d: &Conv2dDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        ws: &mut Self::Buf<E>,
    );
    /// The forward's GEMMs ([`Conv2dDims::forward_gemm`]) from the columns
    /// `cols` into `y`, plus the bias `b` when given.
    fn forward_gemm_bias<E: Float>(
        &self,
        gemm: &mut GemmWorkspace,
        d: &Conv2dDims,
        w: &Self::Buf<E>,
        cols: &Self::Buf<E>,
        b: Option<&Self::Buf<E>>,
        y: &mut Self::Buf<E>,
    );
}

impl<B: Im2colLowering> Conv2dKernel for B {
    fn conv2d_forward<E: Float>(
        &self,
        d: Conv2dDims,
        x: &Self::Buf<E>,
        w: &Self::Buf<E>,
        b: Option<&Self::Buf<E>>,
        y: &mut Self::Buf<E>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    ) {
        d.assert_forward(self.len(x), self.len(w));
        self.resize(y, d.y_len());
        if d.n == 0 {
            return;
        }
        let cols = if d.columns_are_input() {
            x
        } else {
            self.resize(ws, d.cols_len());
            self.im2col_per_sample(&d, x, ws);
            &*ws
        };
        self.forward_gemm_bias(gemm, &d, w, cols, b, y);
    }

    fn conv2d_backward_input<E: Float>(
        &self,
        d: Conv2dDims,
        w: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    ) {
        d.assert_backward_input(self.len(w), self.len(dy));
        self.resize(dx, d.x_len());
        if d.n == 0 {
            return;
        }
        let (g, bt) = d.backward_input_gemm();
        if d.columns_are_input() {
            self.gemm_batched_ws(gemm, g, bt, w, dy, dx);
            return;
        }
        self.resize(ws, d.cols_len());
        self.gemm_batched_ws(gemm, g, bt, w, dy, ws);
        self.col2im(&d, ws, dx);
    }

    fn conv2d_backward_weight<E: Float>(
        &self,
        d: Conv2dDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dw: &mut Self::Buf<E>,
        db: Option<&mut Self::Buf<E>>,
        ws: &mut Self::Buf<E>,
        gemm: &mut GemmWorkspace,
    ) {
        let db_len = db.as_ref().map(|b| self.len(b));
        d.assert_backward_weight(self.len(x), self.len(dy), self.len(dw), db_len);
        if let Some(db) = db {
            self.bias_grad(d.bias_dims(), dy, db);
        }
        if d.n == 0 {
            return;
        }
        self.resize(ws, d.backward_weight_ws_len());
        self.weight_gradient_operands(&d, x, dy, ws);
        let (g, bt) = d.backward_weight_gemm();
        self.gemm_batched_ws(gemm, g, bt, ws, ws, dw);
    }
}

#[cfg(test)]
mod tests;
