//! `DropoutKernel for Cuda` (`dropout.cu`): the CPU's counter-based keep
//! hash on the device, so the masks are identical bit for bit.

use super::DropoutKernel;
use crate::cuda::{cfg_1d, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `dropout` module: `dropout.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "dropout",
    src: concat!(include_str!("../util/common.cuh"), include_str!("dropout.cu")),
};

impl DropoutKernel for Cuda {
    fn dropout_mask<E: Float>(&self, p: f64, seed: u64, len: usize, mask: &mut CudaBuf<E>) {
        self.resize(mask, len);
        if len == 0 {
            return;
        }
        // As the CPU: rounded to E on the device exactly as E::from_f64.
        let scale = if p >= 1.0 { 0.0 } else { 1.0 / (1.0 - p.max(0.0)) };
        let f = self.kernel::<E>(&MODULE, "dropout_mask");
        let mut mv = mask.view_mut();
        let n = len as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&mut mv).arg(&n).arg(&seed).arg(&p).arg(&scale);
        // SAFETY: dropout_mask_<t>(T* mask, u64 n, u64 seed, double p, double
        // scale) writes mask[0..n); the view holds n elements (resized).
        let r = unsafe { l.launch(cfg_1d(len)) };
        self.launched(r, "dropout_mask");
    }
}
