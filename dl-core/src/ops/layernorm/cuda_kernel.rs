//! `LayerNormKernel for Cuda` (`layernorm.cu`): statistics in f64, one
//! block per row; parameter gradients one thread per column, rows in order.

use super::{check_backward, check_forward, LayerNormKernel, NormBwd, NormFwd};
use crate::cuda::{cfg_1d, cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `layernorm` module: `layernorm.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "layernorm",
    src: concat!(include_str!("../util/common.cuh"), include_str!("layernorm.cu")),
};

impl LayerNormKernel for Cuda {
    fn layernorm_forward<E: Float>(&self, rows: usize, dim: usize, eps: f64, b: NormFwd<'_, CudaBuf<E>>) {
        check_forward(rows, dim, &b, CudaBuf::len);
        let (x, gamma, beta, y, mean, rstd) = (b.x, b.gamma, b.beta, b.y, b.mean, b.rstd);
        let n = rows * dim;
        self.resize(y, n);
        self.resize(mean, rows);
        self.resize(rstd, rows);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "ln_fwd");
        let (xv, gv, bv) = (x.view(), gamma.view(), beta.view());
        let (mut yv, mut mv, mut rv) = (y.view_mut(), mean.view_mut(), rstd.view_mut());
        let d64 = dim as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv)
            .arg(&gv)
            .arg(&bv)
            .arg(&mut yv)
            .arg(&mut mv)
            .arg(&mut rv)
            .arg(&d64)
            .arg(&eps);
        // SAFETY: ln_fwd_<t>(const T* x, const T* gamma, const T* beta, T* y,
        // T* mean, T* rstd, u64 dim, double eps), block r < rows: x, y in
        // [r * dim, (r + 1) * dim) <= n, gamma/beta < dim, mean/rstd[r] < rows;
        // sizes checked, outputs resized.
        let r = unsafe { l.launch(cfg_rows(rows)) };
        self.launched(r, "ln_fwd");
    }

    fn layernorm_backward<E: Float>(&self, rows: usize, dim: usize, b: NormBwd<'_, CudaBuf<E>>) {
        check_backward(rows, dim, &b, CudaBuf::len);
        let (x, gamma, mean, rstd, dy) = (b.x, b.gamma, b.mean, b.rstd, b.dy);
        let (dx, dgamma, dbeta) = (b.dx, b.dgamma, b.dbeta);
        let n = rows * dim;
        self.resize(dx, n);
        if n == 0 {
            return;
        }
        let (xv, gv, mv, rv, dyv) = (x.view(), gamma.view(), mean.view(), rstd.view(), dy.view());
        let (r64, d64) = (rows as u64, dim as u64);
        let f = self.kernel::<E>(&MODULE, "ln_bwd_dx");
        let mut dxv = dx.view_mut();
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&gv).arg(&mv).arg(&rv).arg(&dyv).arg(&mut dxv).arg(&d64);
        // SAFETY: ln_bwd_dx_<t>(const T* x, const T* gamma, const T* mean,
        // const T* rstd, const T* dy, T* dx, u64 dim), block r < rows touches
        // [r * dim, (r + 1) * dim) <= n of x, dy, dx, gamma < dim, mean/rstd[r];
        // sizes checked, dx resized.
        let r = unsafe { l.launch(cfg_rows(rows)) };
        self.launched(r, "ln_bwd_dx");
        let f = self.kernel::<E>(&MODULE, "ln_bwd_params");
        let (mut dgv, mut dbv) = (dgamma.view_mut(), dbeta.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv)
            .arg(&mv)
            .arg(&rv)
            .arg(&dyv)
            .arg(&mut dgv)
            .arg(&mut dbv)
            .arg(&r64)
            .arg(&d64);
        // SAFETY: ln_bwd_params_<t>(const T* x, const T* mean, const T* rstd,
        // const T* dy, T* dgamma, T* dbeta, u64 rows, u64 dim), thread j < dim
        // reads x, dy at r * dim + j < n and mean/rstd[r < rows], updates
        // dgamma/dbeta[j] (>= dim elements, checked).
        let r = unsafe { l.launch(cfg_1d(dim)) };
        self.launched(r, "ln_bwd_params");
    }
}
