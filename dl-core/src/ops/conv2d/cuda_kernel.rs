//! `Conv2dKernel for Cuda` is the shared lowering ([`Im2colLowering`]: im2col
//! columns in the workspace, cuBLAS GEMMs through [`GemmKernel`], col2im for
//! `dx`), with the data movement here and in `conv2d.cu`. col2im gathers each input element's taps in
//! the CPU's order, so it needs no atomics.

use super::{Conv2dDims, Im2colLowering};
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::ops::bias::BiasKernel;
use crate::ops::matmul::{GemmKernel, GemmWorkspace};
use dl_cuda::cudarc::driver::{CudaView, CudaViewMut, PushKernelArg};
use dl_cuda::CudaBuf;

/// The `conv2d` module: `conv2d.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "conv2d",
    src: concat!(include_str!("../util/common.cuh"), include_str!("conv2d.cu")),
};

/// Column layouts of `conv2d.cu` (the CPU's `Layout`).
const PER_SAMPLE: i32 = 0;
const BATCH: i32 = 1;

/// The nine dimension arguments `n, c_in, h, w, k, stride, pad, oh, ow`.
fn dims(d: &Conv2dDims) -> [u64; 9] {
    [d.n, d.c_in, d.h, d.w, d.k, d.stride, d.pad, d.oh(), d.ow()].map(|v| v as u64)
}

impl Cuda {
    /// Writes the im2col columns of `x` into `col` (`n * ckk * ohw` elements).
    fn im2col<E: Float>(&self, d: &Conv2dDims, x: &CudaView<'_, E>, col: &mut CudaViewMut<'_, E>, layout: i32) {
        let total = d.n * d.ckk() * d.oh() * d.ow();
        assert!(x.len() >= d.x_len() && col.len() >= total, "im2col: buffer too small");
        if total == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "im2col");
        let a = dims(d);
        let mut l = self.stream().launch_builder(&f);
        l.arg(x).arg(col);
        for v in &a {
            l.arg(v);
        }
        l.arg(&layout);
        // SAFETY: im2col_<t>(const T* x, T* col, u64 n, c_in, h, w, k, stride,
        // pad, oh, ow, int layout) writes col[0..n * ckk * ohw) and reads x
        // below n * c_in * h * w only at in-range positions; both checked above.
        let r = unsafe { l.launch(cfg_1d(total)) };
        self.launched(r, "im2col");
    }
}

impl Im2colLowering for Cuda {
    fn im2col_per_sample<E: Float>(&self, d: &Conv2dDims, x: &CudaBuf<E>, cols: &mut CudaBuf<E>) {
        self.im2col(d, &x.view(), &mut cols.view_mut(), PER_SAMPLE);
    }

    fn col2im<E: Float>(&self, d: &Conv2dDims, cols: &CudaBuf<E>, dx: &mut CudaBuf<E>) {
        let f = self.kernel::<E>(&MODULE, "col2im");
        let a = dims(d);
        let (cv, mut dxv) = (cols.view(), dx.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&cv).arg(&mut dxv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: col2im_<t>(const T* col, T* dx, u64 n, c_in, h, w, k, stride,
        // pad, oh, ow) writes dx[0..n * c_in * h * w) (resized to x_len) and
        // reads col below n * ckk * ohw (ws resized to that).
        let r = unsafe { l.launch(cfg_1d(d.x_len())) };
        self.launched(r, "col2im");
    }

    fn weight_gradient_operands<E: Float>(&self, d: &Conv2dDims, x: &CudaBuf<E>, dy: &CudaBuf<E>, ws: &mut CudaBuf<E>) {
        let (ohw, m) = (d.oh() * d.ow(), d.n * d.oh() * d.ow());
        let mut wv = ws.view_mut();
        let (mut cols, mut dyt) = wv.split_at_mut(d.cols_len());
        self.im2col(d, &x.view(), &mut cols, BATCH);
        if m > 0 {
            let f = self.kernel::<E>(&MODULE, "transpose_nc");
            let gv = dy.view();
            let (n64, o64, p64) = (d.n as u64, d.c_out as u64, ohw as u64);
            let mut l = self.stream().launch_builder(&f);
            l.arg(&gv).arg(&mut dyt).arg(&n64).arg(&o64).arg(&p64);
            // SAFETY: transpose_nc_<t>(const T* dy, T* dyt, u64 n, u64 c_out,
            // u64 ohw) writes dyt[0..n * c_out * ohw) (the view after the
            // columns holds c_out * m) and reads dy below y_len (checked).
            let r = unsafe { l.launch(cfg_1d(d.c_out * m)) };
            self.launched(r, "transpose_nc");
        }
    }

    fn forward_gemm_bias<E: Float>(
        &self,
        gemm: &mut GemmWorkspace,
        d: &Conv2dDims,
        w: &CudaBuf<E>,
        cols: &CudaBuf<E>,
        b: Option<&CudaBuf<E>>,
        y: &mut CudaBuf<E>,
    ) {
        let (g, bt) = d.forward_gemm();
        if let Some(p) = crate::amp::low_for::<E>() {
            // Autocast: the bias joins the product before its one rounding,
            // as in the CPU's fused epilogue.
            use crate::ops::matmul::cuda_kernel::{f32_buf, f32_buf_mut};
            let g32 = g.to_f32();
            let bias = b.map(|b| (f32_buf(b), d.bias_dims()));
            return self.gemm_autocast(p, g32, bt, f32_buf(w), f32_buf(cols), f32_buf_mut(y), bias);
        }
        self.gemm_batched_ws(gemm, g, bt, w, cols, y);
        if let Some(b) = b {
            self.bias_add(d.bias_dims(), b, y);
        }
    }
}
