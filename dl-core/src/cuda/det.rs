//! Deterministic device sums to one `f64` (`ops/util/det_sum.cuh`): a grid
//! whose size depends only on the length, block partials reduced in a fixed
//! tree, then one block adding the partials in order. No atomics, so a sum
//! repeats bit for bit (it differs from the CPU's chunked order by rounding).

use super::{Cuda, CudaModule, BLOCK};
use crate::Storage;
use dl_cuda::cudarc::driver::{LaunchConfig, PushKernelArg};
use dl_cuda::CudaBuf;

/// Most blocks of a stage-1 partial-sum launch.
const MAX_BLOCKS: usize = 1024;

/// The stage-1 launch for `n` terms and its number of blocks (= partials).
pub(crate) fn grid(n: usize) -> (LaunchConfig, usize) {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS);
    let cfg = LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    (cfg, blocks)
}

/// Adds the partials `part` in a fixed order with `det_sum_finish` of the
/// module `module` (which includes `det_sum.cuh`) and downloads the sum.
pub(crate) fn finish(cuda: &Cuda, module: &CudaModule, part: &CudaBuf<f64>) -> f64 {
    let f = cuda.func(module, "det_sum_finish");
    let mut out = cuda.zeros::<f64>(1);
    let (pv, mut ov) = (part.view(), out.view_mut());
    let parts = part.len() as u64;
    let mut l = cuda.stream().launch_builder(&f);
    l.arg(&pv).arg(&parts).arg(&mut ov);
    // SAFETY: det_sum_finish(const double* part, u64 parts, double* out), one
    // block: reads part[0..parts) (the view's length) and writes out[0] (1 element).
    let r = unsafe { l.launch(crate::cuda::cfg_rows(1)) };
    cuda.launched(r, "det_sum_finish");
    cuda.to_vec(&out)[0]
}
