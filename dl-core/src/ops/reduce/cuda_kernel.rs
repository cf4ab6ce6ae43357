//! `ReduceKernel for Cuda` (`reduce.cu`, one thread per output column).

use super::{Reduce, ReduceDims, ReduceKernel};
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `reduce` module: `reduce.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "reduce",
    src: concat!(include_str!("../util/common.cuh"), include_str!("reduce.cu")),
};

fn code(r: Reduce) -> i32 {
    match r {
        Reduce::Sum => 0,
        Reduce::Mean => 1,
        Reduce::Max => 2,
    }
}

impl ReduceKernel for Cuda {
    fn reduce_forward<E: Float>(&self, r: Reduce, d: ReduceDims, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        assert!(
            x.len() >= d.outer * d.axis * d.inner,
            "reduce_forward: buffer too small"
        );
        let n = d.outer * d.inner;
        self.resize(y, n);
        if n == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "reduce_fwd");
        let (xv, mut yv) = (x.view(), y.view_mut());
        let (c, o, a, i) = (code(r), d.outer as u64, d.axis as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c).arg(&xv).arg(&mut yv).arg(&o).arg(&a).arg(&i);
        // SAFETY: reduce_fwd_<t>(int r, const T* x, T* y, u64 outer, u64 axis,
        // u64 inner) writes y[0..outer * inner) and reads x below
        // outer * axis * inner; sizes checked, y resized.
        let res = unsafe { l.launch(cfg_1d(n)) };
        self.launched(res, "reduce_fwd");
    }

    fn reduce_backward<E: Float>(
        &self,
        r: Reduce,
        d: ReduceDims,
        x: &CudaBuf<E>,
        dy: &CudaBuf<E>,
        dx: &mut CudaBuf<E>,
    ) {
        let len = d.outer * d.axis * d.inner;
        let n = d.outer * d.inner;
        assert!(x.len() >= len && dy.len() >= n, "reduce_backward: buffer too small");
        self.resize(dx, len);
        if len == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "reduce_bwd");
        let (xv, gv, mut dxv) = (x.view(), dy.view(), dx.view_mut());
        let (c, o, a, i) = (code(r), d.outer as u64, d.axis as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c).arg(&xv).arg(&gv).arg(&mut dxv).arg(&o).arg(&a).arg(&i);
        // SAFETY: reduce_bwd_<t>(int r, const T* x, const T* dy, T* dx, u64
        // outer, u64 axis, u64 inner) reads dy[0..outer * inner) and x, writes
        // dx below outer * axis * inner; sizes checked, dx resized.
        let res = unsafe { l.launch(cfg_1d(n)) };
        self.launched(res, "reduce_bwd");
    }
}
