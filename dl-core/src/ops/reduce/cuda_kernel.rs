//! `ReduceKernel for Cuda` (`reduce.cu`): one thread per output column for
//! many outputs over a short axis, one block per output for few outputs
//! over a long axis ([`block_per_output`]).

use super::{Reduce, ReduceDims, ReduceKernel};
use crate::cuda::{cfg_1d, Cuda, CudaModule, BLOCK};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::LaunchConfig;
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

/// Whether a reduction runs one block per output (`reduce_block_*`) rather
/// than one thread per output (`reduce_*`): when the axis is long enough to
/// keep a block's threads busy and there are too few outputs to fill the
/// GPU with one thread each (an H100 runs about 270 000 threads at once).
/// A sum over a whole weight matrix (one output) takes the block path; the
/// mean over a sequence of a batch of feature vectors takes the thread path.
pub(crate) fn block_per_output(d: ReduceDims) -> bool {
    d.axis >= 32 && d.outer.saturating_mul(d.inner) < 65_536
}

/// Kernel name and launch shape for `n` outputs of `d`.
fn launch(d: ReduceDims, base: &'static str, block: &'static str) -> (&'static str, LaunchConfig) {
    let n = d.outer * d.inner;
    if block_per_output(d) {
        let cfg = LaunchConfig {
            grid_dim: (n.clamp(1, 65_535 * 16) as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        (block, cfg)
    } else {
        (base, cfg_1d(n))
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
        let (name, cfg) = launch(d, "reduce_fwd", "reduce_block_fwd");
        let f = self.kernel::<E>(&MODULE, name);
        let (xv, mut yv) = (x.view(), y.view_mut());
        let (c, o, a, i) = (code(r), d.outer as u64, d.axis as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c).arg(&xv).arg(&mut yv).arg(&o).arg(&a).arg(&i);
        // SAFETY: reduce_fwd_<t> and reduce_block_fwd_<t>(int r, const T* x,
        // T* y, u64 outer, u64 axis, u64 inner) write y[0..outer * inner) and
        // read x below outer * axis * inner (grid-stride loops over any
        // grid; the block kernel needs blockDim == BLOCK, as launched);
        // sizes checked, y resized.
        let res = unsafe { l.launch(cfg) };
        self.launched(res, name);
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
        let (name, cfg) = launch(d, "reduce_bwd", "reduce_block_bwd");
        let f = self.kernel::<E>(&MODULE, name);
        let (xv, gv, mut dxv) = (x.view(), dy.view(), dx.view_mut());
        let (c, o, a, i) = (code(r), d.outer as u64, d.axis as u64, d.inner as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c).arg(&xv).arg(&gv).arg(&mut dxv).arg(&o).arg(&a).arg(&i);
        // SAFETY: reduce_bwd_<t> and reduce_block_bwd_<t>(int r, const T* x,
        // const T* dy, T* dx, u64 outer, u64 axis, u64 inner) read
        // dy[0..outer * inner) and x, write dx below outer * axis * inner
        // (grid-stride loops; the block kernel needs blockDim == BLOCK, as
        // launched); sizes checked, dx resized.
        let res = unsafe { l.launch(cfg) };
        self.launched(res, name);
    }
}
