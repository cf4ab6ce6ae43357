//! `Pool2dKernel for Cuda` (`pool2d.cu`): one thread per output for the
//! forwards; the backwards gather, per input element, the outputs whose
//! window covers it, in the CPU's output order (no atomics, same sums).

use super::{Pool2dDims, Pool2dKernel};
use crate::cuda::{cfg_1d, cfg_rows, Cuda, CudaModule};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The `pool2d` module: `pool2d.cu` after the shared headers.
pub(crate) const MODULE: CudaModule = CudaModule {
    name: "pool2d",
    src: concat!(include_str!("../util/common.cuh"), include_str!("pool2d.cu")),
};

fn check(d: &Pool2dDims) {
    if let Err(e) = d.validate() {
        panic!("pool2d kernel called with invalid dimensions {d:?}: {e}");
    }
}

/// The eight dimension arguments `planes, h, w, k, stride, pad, oh, ow`.
fn dims(d: &Pool2dDims) -> [u64; 8] {
    [d.n * d.c, d.h, d.w, d.k, d.stride, d.pad, d.oh(), d.ow()].map(|v| v as u64)
}

impl Pool2dKernel for Cuda {
    fn maxpool2d_forward<E: Float>(
        &self,
        d: Pool2dDims,
        x: &CudaBuf<E>,
        y: &mut CudaBuf<E>,
        argmax: &mut CudaBuf<u32>,
    ) {
        check(&d);
        assert!(x.len() >= d.x_len(), "maxpool2d_forward: input too small");
        self.resize(y, d.y_len());
        self.check(argmax.resize(d.y_len()), "resize");
        if d.y_len() == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "maxpool_fwd");
        let a = dims(&d);
        let (xv, mut yv, mut iv) = (x.view(), y.view_mut(), argmax.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&mut yv).arg(&mut iv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: maxpool_fwd_<t>(const T* x, T* y, u32* argmax, u64 planes, h,
        // w, k, stride, pad, oh, ow) writes y and argmax [0..planes * oh * ow)
        // (both resized to y_len) and reads x inside the clipped windows of
        // each plane, below planes * h * w = x_len (checked).
        let r = unsafe { l.launch(cfg_1d(d.y_len())) };
        self.launched(r, "maxpool_fwd");
    }

    fn maxpool2d_backward<E: Float>(&self, d: Pool2dDims, argmax: &CudaBuf<u32>, dy: &CudaBuf<E>, dx: &mut CudaBuf<E>) {
        check(&d);
        assert!(
            dy.len() >= d.y_len() && argmax.len() >= d.y_len(),
            "maxpool2d_backward: buffer too small"
        );
        self.resize(dx, d.x_len());
        if d.oh() * d.ow() == 0 || d.h * d.w == 0 || d.x_len() == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "maxpool_bwd");
        let a = dims(&d);
        let (iv, gv, mut dxv) = (argmax.view(), dy.view(), dx.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&iv).arg(&gv).arg(&mut dxv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: maxpool_bwd_<t>(const u32* argmax, const T* dy, T* dx, u64
        // planes, h, w, k, stride, pad, oh, ow) writes dx[0..x_len) (resized)
        // and reads argmax and dy at outputs (p, oy < oh, ox < ow) below y_len
        // (checked).
        let r = unsafe { l.launch(cfg_1d(d.x_len())) };
        self.launched(r, "maxpool_bwd");
    }

    fn avgpool2d_forward<E: Float>(&self, d: Pool2dDims, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        check(&d);
        assert!(x.len() >= d.x_len(), "avgpool2d_forward: input too small");
        self.resize(y, d.y_len());
        if d.y_len() == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "avgpool_fwd");
        let a = dims(&d);
        let (xv, mut yv) = (x.view(), y.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&mut yv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: avgpool_fwd_<t>(const T* x, T* y, u64 planes, h, w, k, stride,
        // pad, oh, ow) writes y[0..y_len) (resized) and reads x inside the
        // clipped windows, below x_len (checked).
        let r = unsafe { l.launch(cfg_1d(d.y_len())) };
        self.launched(r, "avgpool_fwd");
    }

    fn avgpool2d_backward<E: Float>(&self, d: Pool2dDims, dy: &CudaBuf<E>, dx: &mut CudaBuf<E>) {
        check(&d);
        assert!(dy.len() >= d.y_len(), "avgpool2d_backward: gradient too small");
        self.resize(dx, d.x_len());
        if d.h * d.w == 0 || d.oh() * d.ow() == 0 || d.x_len() == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "avgpool_bwd");
        let a = dims(&d);
        let (gv, mut dxv) = (dy.view(), dx.view_mut());
        let mut l = self.stream().launch_builder(&f);
        l.arg(&gv).arg(&mut dxv);
        for v in &a {
            l.arg(v);
        }
        // SAFETY: avgpool_bwd_<t>(const T* dy, T* dx, u64 planes, h, w, k,
        // stride, pad, oh, ow) writes dx[0..x_len) (resized) and reads dy at
        // covering outputs below y_len (checked).
        let r = unsafe { l.launch(cfg_1d(d.x_len())) };
        self.launched(r, "avgpool_bwd");
    }

    fn global_avgpool2d_forward<E: Float>(&self, planes: usize, hw: usize, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        assert!(x.len() >= planes * hw, "global_avgpool2d_forward: input too small");
        self.resize(y, planes);
        if hw == 0 {
            self.fill(y, E::ZERO);
            return;
        }
        if planes == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "gap_fwd");
        let (xv, mut yv) = (x.view(), y.view_mut());
        let hw64 = hw as u64;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&xv).arg(&mut yv).arg(&hw64);
        // SAFETY: gap_fwd_<t>(const T* x, T* y, u64 hw), block p < planes reads
        // x[p * hw..(p + 1) * hw) (x >= planes * hw, checked) and writes y[p]
        // (resized to planes).
        let r = unsafe { l.launch(cfg_rows(planes)) };
        self.launched(r, "gap_fwd");
    }

    fn global_avgpool2d_backward<E: Float>(&self, planes: usize, hw: usize, dy: &CudaBuf<E>, dx: &mut CudaBuf<E>) {
        assert!(dy.len() >= planes, "global_avgpool2d_backward: gradient too small");
        self.resize(dx, planes * hw);
        if hw == 0 || planes == 0 {
            return;
        }
        let f = self.kernel::<E>(&MODULE, "gap_bwd");
        let (gv, mut dxv) = (dy.view(), dx.view_mut());
        let (p64, hw64) = (planes as u64, hw as u64);
        let mut l = self.stream().launch_builder(&f);
        l.arg(&gv).arg(&mut dxv).arg(&p64).arg(&hw64);
        // SAFETY: gap_bwd_<t>(const T* dy, T* dx, u64 planes, u64 hw) writes
        // dx[0..planes * hw) (resized) and reads dy[e / hw] < planes (checked).
        let r = unsafe { l.launch(cfg_1d(planes * hw)) };
        self.launched(r, "gap_bwd");
    }
}
