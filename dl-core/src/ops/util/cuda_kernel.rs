//! `UnaryKernel for Cuda`: one launch per call of the kernels that the
//! op's [`UnaryOp::CUDA`] handle names (its `NAME_fwd` / `NAME_bwd` from
//! its folder's `.cu`, instantiated by `unary.cuh`).
//!
//! The handle belongs to the op's type: only dl-core creates one that
//! names device code, so an op defined elsewhere never runs a built-in
//! kernel because its `NAME` happens to match. An op without a handle is
//! refused ([`NoCudaKernel`], raised as a device fault by the infallible
//! kernel trait); [`super::OnHost`] runs such an op on the host, by the
//! caller's explicit choice.

use super::{UnaryKernel, UnaryOp};
use crate::cuda::{cfg_1d, kname, Cuda};
use crate::dtype::Float;
use crate::Storage;
use dl_cuda::cudarc::driver::PushKernelArg;
use dl_cuda::CudaBuf;

/// The CUDA kernels of an element-wise op (its [`UnaryOp::CUDA`]).
///
/// Only dl-core creates handles to device code (each built-in op's
/// `cuda_kernel.rs`); outside it, the one handle to be had is
/// [`super::OnHost`]'s, which maps the buffers on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnaryCudaKernel(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `{name}_fwd_<t>` and `{name}_bwd_<t>` of the NVRTC module `module`.
    Device {
        module: &'static str,
        src: &'static str,
        name: &'static str,
    },
    /// Download, map with `f`/`df` on the host, upload.
    Host,
}

impl UnaryCudaKernel {
    /// The kernels `{name}_fwd_<t>` / `{name}_bwd_<t>` of the module
    /// `module` compiled from `src` (which instantiates them with
    /// `UNARY_OP(name)`, see `unary.cuh`).
    pub(crate) const fn device(module: &'static str, src: &'static str, name: &'static str) -> Self {
        Self(Kind::Device { module, src, name })
    }

    /// No device code: the CUDA backend maps the buffers on the host
    /// (what [`super::OnHost`] asks for).
    pub(crate) const HOST: Self = Self(Kind::Host);

    /// The kernel handle of `Op`.
    ///
    /// # Errors
    /// [`NoCudaKernel`] when `Op` has none (an op defined outside dl-core
    /// and not wrapped in [`super::OnHost`]).
    pub fn of<Op: UnaryOp>() -> Result<Self, NoCudaKernel> {
        Op::CUDA.ok_or(NoCudaKernel { op: Op::NAME })
    }

    /// The NVRTC module holding the kernels; `None` for the host mapping.
    pub fn module(&self) -> Option<&'static str> {
        match self.0 {
            Kind::Device { module, .. } => Some(module),
            Kind::Host => None,
        }
    }

    /// `(module, source)` of the device code; `None` for the host mapping.
    pub(crate) fn source(&self) -> Option<(&'static str, &'static str)> {
        match self.0 {
            Kind::Device { module, src, .. } => Some((module, src)),
            Kind::Host => None,
        }
    }
}

/// An element-wise op without CUDA kernels was run on the CUDA backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "element-wise op `{op}` has no CUDA kernel; wrap it in `dl_core::ops::util::OnHost` to map it on the host (slow)"
)]
pub struct NoCudaKernel {
    /// The op's [`UnaryOp::NAME`].
    pub op: &'static str,
}

impl From<NoCudaKernel> for crate::Error {
    fn from(e: NoCudaKernel) -> Self {
        crate::Error::InvalidArgument {
            op: e.op,
            msg: e.to_string(),
        }
    }
}

impl Cuda {
    /// `Op`'s kernel handle; an op without one is a device fault (the
    /// kernel traits are infallible), which `fit` and
    /// [`crate::fault::catch_device_fault`] turn into an error.
    fn unary_kernel<Op: UnaryOp>(&self) -> UnaryCudaKernel {
        UnaryCudaKernel::of::<Op>()
            .unwrap_or_else(|e| panic!("{}{}: {e}", crate::fault::DEVICE_FAULT_PREFIX, self.name()))
    }
}

impl UnaryKernel for Cuda {
    fn unary_forward<E: Float, Op: UnaryOp>(&self, op: Op, x: &CudaBuf<E>, y: &mut CudaBuf<E>) {
        let n = x.len();
        let kernel = self.unary_kernel::<Op>();
        self.resize(y, n);
        if n == 0 {
            return;
        }
        let (name, module, src) = match kernel.0 {
            Kind::Device { module, src, name } => (name, module, src),
            Kind::Host => {
                let v: Vec<E> = self.to_vec(x).into_iter().map(|v| op.f(v)).collect();
                return self.write(y, &v);
            }
        };
        let f = self.func(module, src, &kname::<E>(&format!("{name}_fwd")));
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
        let kernel = self.unary_kernel::<Op>();
        self.resize(dx, n);
        if n == 0 {
            return;
        }
        let (name, module, src) = match kernel.0 {
            Kind::Device { module, src, name } => (name, module, src),
            Kind::Host => {
                let (xs, ys, gs) = (self.to_vec(x), self.to_vec(y), self.to_vec(dy));
                let v: Vec<E> = (0..n).map(|i| gs[i] * op.df(xs[i], ys[i])).collect();
                return self.write(dx, &v);
            }
        };
        let f = self.func(module, src, &kname::<E>(&format!("{name}_bwd")));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::OnHost;
    use crate::ops::{Gelu, GeluTanh, Relu};

    /// A user's op that happens to share a built-in op's name.
    #[derive(Clone, Copy)]
    struct MyRelu;
    impl UnaryOp for MyRelu {
        const NAME: &'static str = "relu";
        fn f<E: Float>(&self, x: E) -> E {
            x * x
        }
        fn df<E: Float>(&self, x: E, _y: E) -> E {
            x + x
        }
    }

    #[test]
    fn a_user_op_named_like_a_builtin_has_no_cuda_kernel() {
        assert_eq!(UnaryCudaKernel::of::<MyRelu>(), Err(NoCudaKernel { op: "relu" }));
        let e: crate::Error = UnaryCudaKernel::of::<MyRelu>().unwrap_err().into();
        assert!(e.to_string().contains("OnHost"), "{e}");
        assert_eq!(UnaryCudaKernel::of::<OnHost<MyRelu>>(), Ok(UnaryCudaKernel::HOST));
        assert_eq!(UnaryCudaKernel::of::<OnHost<MyRelu>>().unwrap().module(), None);
    }

    #[test]
    fn builtin_ops_name_their_own_kernels() {
        let relu = UnaryCudaKernel::of::<Relu>().unwrap();
        assert_eq!(relu.module(), Some("relu"));
        let (gelu, tanh) = (
            UnaryCudaKernel::of::<Gelu>().unwrap(),
            UnaryCudaKernel::of::<GeluTanh>().unwrap(),
        );
        assert_eq!((gelu.module(), tanh.module()), (Some("gelu"), Some("gelu")));
        assert_ne!(gelu, tanh, "one module, two kernels");
        // Wrapping a built-in op in OnHost is an explicit request for the host.
        assert_eq!(UnaryCudaKernel::of::<OnHost<Relu>>(), Ok(UnaryCudaKernel::HOST));
    }

    #[test]
    fn running_an_op_without_a_kernel_is_a_device_fault_error() {
        let Ok(cuda) = Cuda::new(0) else {
            return dl_cuda::skip_test("no CUDA driver/GPU");
        };
        let x = cuda.from_slice(&[1.0f32, 2.0]);
        let mut y = cuda.zeros(0);
        let r = crate::fault::catch_device_fault(|| cuda.unary_forward(MyRelu, &x, &mut y));
        assert!(r.unwrap_err().to_string().contains("no CUDA kernel"));
        cuda.unary_forward(OnHost(MyRelu), &x, &mut y);
        assert_eq!(cuda.to_vec(&y), vec![1.0, 4.0]);
    }
}
