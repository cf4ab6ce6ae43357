//! `BatchNormKernel for Cuda` (`batchnorm.cu`): per-channel statistics in
//! f64, one block per channel (fixed order), element-wise apply kernels.

use super::{
    check_backward, check_forward, BatchNormConfig, BatchNormKernel, NormBwd, NormDims, NormFwd, RunningStats,
};
use crate::cuda::{cfg_1d, cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `batchnorm` module: `batchnorm.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "batchnorm",
    src: concat!(include_str!("../util/common.cuh"), include_str!("batchnorm.cu")),
};

impl Cuda {
    /// `y = (x - mean_c) rstd_c gamma_c + beta_c` over `d` (y resized).
    #[allow(clippy::too_many_arguments)]
    fn bn_apply<E: Float>(
        &self,
        d: NormDims,
        x: &CudaBuf<E>,
        mean: &CudaBuf<E>,
        rstd: &CudaBuf<E>,
        gamma: &CudaBuf<E>,
        beta: &CudaBuf<E>,
        y: &mut CudaBuf<E>,
    ) {
        let n = d.outer * d.channels * d.inner;
        self.resize(y, n);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "bn_apply");
        let (xv, mv, rv, gv, bv, mut yv) = (
            x.view(),
            mean.view(),
            rstd.view(),
            gamma.view(),
            beta.view(),
            y.view_mut(),
        );
        let (n64, c64, i64_) = (n as u64, d.channels as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv)
            .arg(&mv)
            .arg(&rv)
            .arg(&gv)
            .arg(&bv)
            .arg(&mut yv)
            .arg(&n64)
            .arg(&c64)
            .arg(&i64_);
        // SAFETY: bn_apply_<t>(const T* x, const T* mean, const T* rstd, const
        // T* gamma, const T* beta, T* y, u64 n, u64 channels, u64 inner) writes
        // y[0..n) (resized), reads x[0..n) and per-channel buffers at
        // (e / inner) % channels < channels; sizes checked by the callers.
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "bn_apply");
    }
}

impl BatchNormKernel for Cuda {
    fn batchnorm_forward<E: Float>(
        &self,
        d: NormDims,
        cfg: BatchNormConfig,
        running: RunningStats<'_, CudaBuf<E>>,
        b: NormFwd<'_, CudaBuf<E>>,
    ) {
        check_forward(d, &b, &running, CudaBuf::len);
        let (x, gamma, beta, y, mean, rstd) = (b.x, b.gamma, b.beta, b.y, b.mean, b.rstd);
        self.resize(mean, d.channels);
        self.resize(rstd, d.channels);
        if d.channels > 0 {
            match running {
                RunningStats::Update {
                    mean: running_mean,
                    var: running_var,
                } => {
                    let f = self.kernel::<E>(&MODULE, "bn_stats");
                    let xv = x.view();
                    let (mut mv, mut rv) = (mean.view_mut(), rstd.view_mut());
                    let (mut rmv, mut rvv) = (running_mean.view_mut(), running_var.view_mut());
                    let (o64, c64, i64_) = (d.outer as u64, d.channels as u64, d.inner as u64);
                    let mut l = self.stream().launch_builder(&f);
                    l.arg(&xv).arg(&mut mv).arg(&mut rv).arg(&mut rmv).arg(&mut rvv);
                    l.arg(&o64).arg(&c64).arg(&i64_).arg(&cfg.eps).arg(&cfg.momentum);
                    // SAFETY: bn_stats_<t>(const T* x, T* mean, T* rstd, T* rmean, T*
                    // rvar, u64 outer, u64 channels, u64 inner, double eps, double
                    // momentum), block c < channels: reads x at (o * channels + c) *
                    // inner + i < outer * channels * inner, writes index c of the four
                    // per-channel buffers (each >= channels: checked, mean/rstd resized).
                    let r = unsafe { l.launch(cfg_rows(d.channels)) };
                    self.launched(r, "bn_stats");
                }
                RunningStats::Use {
                    mean: running_mean,
                    var: running_var,
                } => {
                    let f = self.kernel::<E>(&MODULE, "bn_eval_stats");
                    let (rmv, rvv) = (running_mean.view(), running_var.view());
                    let (mut mv, mut rv) = (mean.view_mut(), rstd.view_mut());
                    let c64 = d.channels as u64;
                    let mut l = self.stream().launch_builder(&f);
                    l.arg(&rmv).arg(&rvv).arg(&mut mv).arg(&mut rv).arg(&c64).arg(&cfg.eps);
                    // SAFETY: bn_eval_stats_<t>(const T* rmean, const T* rvar, T* mean,
                    // T* rstd, u64 channels, double eps) touches index c < channels of
                    // each buffer (all >= channels: checked, mean/rstd resized).
                    let r = unsafe { l.launch(cfg_1d(d.channels)) };
                    self.launched(r, "bn_eval_stats");
                }
            }
        }
        self.bn_apply(d, x, mean, rstd, gamma, beta, y);
    }

    fn batchnorm_backward<E: Float>(&self, d: NormDims, batch_stats: bool, b: NormBwd<'_, CudaBuf<E>>) {
        check_backward(d, &b, CudaBuf::len);
        let (x, gamma, mean, rstd, dy) = (b.x, b.gamma, b.mean, b.rstd, b.dy);
        let (dx, dgamma, dbeta) = (b.dx, b.dgamma, b.dbeta);
        let n = d.outer * d.channels * d.inner;
        self.resize(dx, n);
        if d.channels == 0 {
            return;
        }
        // Per channel (gamma rstd, s / m, sx / m), from the sums kernel.
        let mut coef = self.zeros::<E>(3 * d.channels);
        let (xv, gv, mv, rv, dyv) = (x.view(), gamma.view(), mean.view(), rstd.view(), dy.view());
        let (o64, c64, i64_, n64) = (d.outer as u64, d.channels as u64, d.inner as u64, n as u64);
        {
            let f = self.kernel::<E>(&MODULE, "bn_bwd_sums");
            let (mut dgv, mut dbv, mut cv) = (dgamma.view_mut(), dbeta.view_mut(), coef.view_mut());
            let bs = batch_stats as i32;
            let mut l = self.stream().launch_builder(&f);
            l.arg(&xv)
                .arg(&dyv)
                .arg(&gv)
                .arg(&mv)
                .arg(&rv)
                .arg(&mut dgv)
                .arg(&mut dbv)
                .arg(&mut cv);
            l.arg(&o64).arg(&c64).arg(&i64_).arg(&bs);
            // SAFETY: bn_bwd_sums_<t>(const T* x, const T* dy, const T* gamma,
            // const T* mean, const T* rstd, T* dgamma, T* dbeta, T* coef, u64
            // outer, u64 channels, u64 inner, int batch_stats), block c <
            // channels: reads x, dy below outer * channels * inner, index c of
            // the per-channel buffers (>= channels, checked), writes coef[3c..3c+3)
            // (3 * channels elements).
            let r = unsafe { l.launch(cfg_rows(d.channels)) };
            self.launched(r, "bn_bwd_sums");
        }
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "bn_bwd_apply");
        let (cv, mut dxv) = (coef.view(), dx.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv)
            .arg(&dyv)
            .arg(&mv)
            .arg(&rv)
            .arg(&cv)
            .arg(&mut dxv)
            .arg(&n64)
            .arg(&c64)
            .arg(&i64_);
        // SAFETY: bn_bwd_apply_<t>(const T* x, const T* dy, const T* mean, const
        // T* rstd, const T* coef, T* dx, u64 n, u64 channels, u64 inner) writes
        // dx[0..n) (resized), reads x, dy below n, channel c = (e / inner) %
        // channels of mean/rstd and coef[3c..3c+3).
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "bn_bwd_apply");
    }
}
