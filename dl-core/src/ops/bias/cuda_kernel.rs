//! `BiasKernel for Cuda` (`bias.cu`).

use super::{BiasDims, BiasKernel};
use crate::cuda::{cfg_1d, cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `bias` module: `bias.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "bias",
    src: concat!(include_str!("../util/common.cuh"), include_str!("bias.cu")),
};

impl BiasKernel for Cuda {
    fn bias_add<E: Float>(&self, d: BiasDims, b: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        let n = d.outer * d.channels * d.inner;
        assert!(b.len() >= d.channels && y.len() >= n, "bias_add: buffer too small");
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "bias_add");
        let (bv, mut yv) = (b.view(), y.view_mut());
        let (n64, c64, i64_) = (n as u64, d.channels as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&bv).arg(&mut yv).arg(&n64).arg(&c64).arg(&i64_);
        // SAFETY: bias_add_<t>(const T* b, T* y, u64 n, u64 channels, u64 inner)
        // updates y[0..n) and reads b[(j / inner) % channels] < channels;
        // y holds >= n and b >= channels elements (checked), inner > 0 as n > 0.
        let r = unsafe { l.launch(cfg_1d(n)) };
        self.launched(r, "bias_add");
    }

    fn bias_grad<E: Float>(&self, d: BiasDims, dy: &CudaBuf<E>, db: &mut CudaBuf<E>) {
        let n = d.outer * d.channels * d.inner;
        assert!(db.len() >= d.channels && dy.len() >= n, "bias_grad: buffer too small");
        if d.channels == 0 || n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "bias_grad");
        let (gv, mut dbv) = (dy.view(), db.view_mut());
        let (o64, c64, i64_) = (d.outer as u64, d.channels as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&gv).arg(&mut dbv).arg(&o64).arg(&c64).arg(&i64_);
        // SAFETY: bias_grad_<t>(const T* dy, T* db, u64 outer, u64 channels,
        // u64 inner), one block per channel c < channels: reads dy at
        // (o * channels + c) * inner + i < n and updates db[c]; sizes checked.
        let r = unsafe { l.launch(cfg_rows(d.channels)) };
        self.launched(r, "bias_grad");
    }
}
