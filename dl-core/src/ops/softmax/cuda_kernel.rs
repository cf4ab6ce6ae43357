//! `SoftmaxKernel for Cuda` (`softmax.cu`, one block per row).

use super::{SoftmaxDims, SoftmaxKernel};
use crate::cuda::{cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `softmax` module: `softmax.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "softmax",
    src: concat!(include_str!("../util/common.cuh"), include_str!("softmax.cu")),
};

impl SoftmaxKernel for Cuda {
    fn softmax_forward<E: Float>(&self, d: SoftmaxDims, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        let (rows, cols, log) = (d.rows, d.cols, d.log);
        let n = d.check("softmax_forward", &[x.len()]);
        self.resize(y, n);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "softmax_fwd");
        let (xv, mut yv) = (x.view(), y.view_mut());
        let (c64, lg) = (cols as u64, log as i32);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&mut yv).arg(&c64).arg(&lg);
        // SAFETY: softmax_fwd_<t>(const T* x, T* y, u64 cols, int log), block r
        // < rows reads x and writes y in [r * cols, (r + 1) * cols) <= n;
        // x holds >= n elements (checked), y n (resized).
        let r = unsafe { l.launch(cfg_rows(rows)) };
        self.launched(r, "softmax_fwd");
    }

    fn softmax_backward<E: Float>(&self, d: SoftmaxDims, y: &CudaBuf<E>, dy: &CudaBuf<E>, dx: &mut CudaBuf<E>) {
        let (rows, cols, log) = (d.rows, d.cols, d.log);
        let n = d.check("softmax_backward", &[y.len(), dy.len()]);
        self.resize(dx, n);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "softmax_bwd");
        let (yv, gv, mut dxv) = (y.view(), dy.view(), dx.view_mut());
        let (c64, lg) = (cols as u64, log as i32);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&yv).arg(&gv).arg(&mut dxv).arg(&c64).arg(&lg);
        // SAFETY: softmax_bwd_<t>(const T* y, const T* dy, T* dx, u64 cols,
        // int log), block r < rows touches [r * cols, (r + 1) * cols) <= n of
        // each buffer; sizes checked, dx resized.
        let r = unsafe { l.launch(cfg_rows(rows)) };
        self.launched(r, "softmax_bwd");
    }
}
