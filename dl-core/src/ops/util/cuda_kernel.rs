//! `UnaryKernel for Cuda`: one launch per call of the op's `NAME_fwd` /
//! `NAME_bwd` kernel from its folder's `.cu` (instantiated by `unary.cuh`).
//!
//! A [`UnaryOp`] without CUDA source (one defined outside dl-core) runs on
//! the host instead: its buffers are downloaded, mapped with `f`/`df` and
//! uploaded. That is correct but slow; give such an op a kernel by adding
//! its `.cu` to [`source`].

use super::{UnaryKernel, UnaryOp};
use crate::cuda::{cfg_1d, kname, Cuda};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// `(module, source)` of the unary op named `name`.
fn source(name: &str) -> Option<(&'static str, &'static str)> {
    use crate::ops;
    Some(match name {
        "relu" => ("relu", ops::relu::cuda_kernel::SRC),
        "leaky_relu" => ("leaky_relu", ops::leaky_relu::cuda_kernel::SRC),
        "sigmoid" => ("sigmoid", ops::sigmoid::cuda_kernel::SRC),
        "tanh" => ("tanh", ops::tanh::cuda_kernel::SRC),
        "exp" => ("exp", ops::exp::cuda_kernel::SRC),
        "log" => ("log", ops::log::cuda_kernel::SRC),
        "sqrt" => ("sqrt", ops::sqrt::cuda_kernel::SRC),
        "powf" => ("powf", ops::powf::cuda_kernel::SRC),
        "gelu" | "gelu_tanh" => ("gelu", ops::gelu::cuda_kernel::SRC),
        _ => return None,
    })
}

/// Every unary module `(module, source)`, for the NVRTC compile test.
#[cfg(test)]
pub(crate) fn all_sources() -> Vec<(&'static str, &'static str)> {
    [
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "exp",
        "log",
        "sqrt",
        "powf",
        "gelu",
    ]
    .iter()
    .filter_map(|n| source(n))
    .collect()
}

impl UnaryKernel for Cuda {
    fn unary_forward<E: Float, Op: UnaryOp>(&self, op: Op, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        let n = x.len();
        self.resize(y, n);
        if n == 0 {
            return;
        }
        let Some((module, src)) = source(Op::NAME) else {
            let v: Vec<E> = self.to_vec(x).into_iter().map(|v| op.f(v)).collect();
            return self.write(y, &v);
        };
        let f = self.func(module, src, &kname::<E>(&format!("{}_fwd", Op::NAME)));
        let (xv, mut yv) = (x.view(), y.view_mut());
        let (n64, p) = (n as u64, op.param());
        let mut b = self.stream().launch_builder(&f);
        b.arg(&xv).arg(&mut yv).arg(&n64).arg(&p);
        // SAFETY: NAME_fwd_<t>(const T* x, T* y, u64 n, double p) reads
        // x[0..n) and writes y[0..n); both views hold n elements (y resized).
        let r = unsafe { b.launch(cfg_1d(n)) };
        self.launched(r, Op::NAME);
    }

    fn unary_backward<E: Float, Op: UnaryOp>(
        &self,
        op: Op,
        x: &CudaBuf<E>,
        y: &CudaBuf<E>,
        dy: &CudaBuf<E>,
        dx: &mut CudaBuf<E>,
    ) {
        let n = x.len();
        assert!(y.len() >= n && dy.len() >= n, "unary_backward: buffer too small");
        self.resize(dx, n);
        if n == 0 {
            return;
        }
        let Some((module, src)) = source(Op::NAME) else {
            let (xs, ys, gs) = (self.to_vec(x), self.to_vec(y), self.to_vec(dy));
            let v: Vec<E> = (0..n).map(|i| gs[i] * op.df(xs[i], ys[i])).collect();
            return self.write(dx, &v);
        };
        let f = self.func(module, src, &kname::<E>(&format!("{}_bwd", Op::NAME)));
        let (xv, yv, gv, mut dxv) = (x.view(), y.view(), dy.view(), dx.view_mut());
        let (n64, p) = (n as u64, op.param());
        let mut b = self.stream().launch_builder(&f);
        b.arg(&xv).arg(&yv).arg(&gv).arg(&mut dxv).arg(&n64).arg(&p);
        // SAFETY: NAME_bwd_<t>(const T* x, const T* y, const T* dy, T* dx,
        // u64 n, double p) reads x, y, dy [0..n) and writes dx[0..n); each
        // view holds at least n elements (checked above, dx resized).
        let r = unsafe { b.launch(cfg_1d(n)) };
        self.launched(r, Op::NAME);
    }
}
