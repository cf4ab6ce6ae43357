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
use crate::cuda::{cfg_1d, Cuda, CudaModule};
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
pub struct UnaryCudaKernel(Option<DeviceCode>);

/// Kernels `{name}_fwd_<t>` and `{name}_bwd_<t>` of `module` (whose
/// source instantiates them with `UNARY_OP(name)`, see `unary.cuh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeviceCode {
    pub(crate) module: CudaModule,
    pub(crate) name: &'static str,
}

impl UnaryCudaKernel {
    /// The kernels `{name}_fwd_<t>` / `{name}_bwd_<t>` of `module`.
    pub(crate) const fn device(module: CudaModule, name: &'static str) -> Self {
        Self(Some(DeviceCode { module, name }))
    }

    /// No device code: the CUDA backend maps the buffers on the host
    /// (what [`super::OnHost`] asks for).
    pub(crate) const HOST: Self = Self(None);

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
        self.0.map(|d| d.module.name)
    }

    /// The device code; `None` for the host mapping.
    pub(crate) fn device_code(&self) -> Option<DeviceCode> {
        self.0
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
        let Some(k) = kernel.device_code() else {
            let v: Vec<E> = self.to_vec(x).into_iter().map(|v| op.f(v)).collect();
            return self.write(y, &v);
        };
        let f = self.kernel::<E>(&k.module, &format!("{}_fwd", k.name));
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
        let Some(k) = kernel.device_code() else {
            let (xs, ys, gs) = (self.to_vec(x), self.to_vec(y), self.to_vec(dy));
            let v: Vec<E> = (0..n).map(|i| gs[i] * op.df(xs[i], ys[i])).collect();
            return self.write(dx, &v);
        };
        let f = self.kernel::<E>(&k.module, &format!("{}_bwd", k.name));
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

/// The kernel handles of dl-core's element-wise ops, for the tests that
/// compile every module.
#[cfg(test)]
pub(crate) fn builtin() -> Vec<(&'static str, Option<UnaryCudaKernel>)> {
    use crate::ops::*;
    fn of<Op: UnaryOp>() -> (&'static str, Option<UnaryCudaKernel>) {
        (Op::NAME, Op::CUDA)
    }
    vec![
        of::<Relu>(),
        of::<LeakyRelu>(),
        of::<Sigmoid>(),
        of::<Tanh>(),
        of::<Exp>(),
        of::<Log>(),
        of::<Sqrt>(),
        of::<Powf>(),
        of::<Gelu>(),
        of::<GeluTanh>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::OnHost;
    use crate::ops::{Gelu, GeluTanh, Relu};

    /// Each built-in op's handle names kernels that its module defines, in
    /// both element types (compiled with NVRTC where it is installed).
    #[test]
    fn every_builtin_handle_names_kernels_its_module_defines() {
        if !dl_cuda::nvrtc_present() {
            return dl_cuda::skip_test("NVRTC library not found (put libnvrtc.so.13 or .so.12 on LD_LIBRARY_PATH)");
        }
        for (op, k) in builtin() {
            let k = k
                .and_then(|k| k.device_code())
                .unwrap_or_else(|| panic!("{op} has no device code"));
            let ptx = dl_cuda::compile_ptx(k.module.name, k.module.src, Some((9, 0))).unwrap_or_else(|e| panic!("{e}"));
            for kernel in ["fwd_f32", "fwd_f64", "bwd_f32", "bwd_f64"] {
                let entry = format!(".entry {}_{kernel}(", k.name);
                assert!(ptx.contains(&entry), "{op}: module {} lacks `{entry}`", k.module.name);
            }
        }
    }

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
