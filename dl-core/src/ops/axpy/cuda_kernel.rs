//! `AxpyKernel for Cuda` (`axpy.cu`).

use super::AxpyKernel;
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `axpy` module: `axpy.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "axpy",
    src: concat!(include_str!("../util/common.cuh"), include_str!("axpy.cu")),
};

impl AxpyKernel for Cuda {
    fn axpy<E: Float>(&self, alpha: E, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        let n = y.len();
        assert!(x.len() >= n, "axpy: x has {} elements, y {n}", x.len());
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "axpy");
        let (xv, mut yv) = (x.view(), y.view_mut());
        let (a, n64) = (alpha.to_f64(), n as u64);
        let mut b = self.stream().launch_builder(&f);
        b.arg(&a).arg(&xv).arg(&mut yv).arg(&n64);
        // SAFETY: axpy_<t>(double alpha, const T* x, T* y, u64 n) reads
        // x[0..n) and updates y[0..n); x holds >= n elements (checked), y n.
        let r = unsafe { b.launch(cfg_1d(n)) };
        self.launched(r, "axpy");
    }
}
