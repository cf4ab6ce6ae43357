//! Shared kernel plumbing: element-wise unary maps and their backward.
//!
//! An element-wise op is a type implementing [`UnaryOp`] (its `f` and
//! `df`); every backend implements [`UnaryKernel`] once for all of them.
//! On the CUDA backend an op runs the kernels its type names
//! (`UnaryOp::CUDA`, feature `cuda`); an op without them is refused unless the caller
//! wraps it in [`OnHost`].

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;
pub(crate) mod window;
#[cfg(feature = "cuda")]
pub use cuda_kernel::{NoCudaKernel, UnaryCudaKernel};

use crate::backend::Storage;
use crate::dtype::Float;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The size contract of a kernel whose buffers all hold `need` elements:
/// a shorter one is a bug in the caller and panics, naming `kernel`.
/// Returns `need`.
#[track_caller]
pub(crate) fn assert_lens(kernel: &str, lens: &[usize], need: usize) -> usize {
    assert!(lens.iter().all(|&l| l >= need), "{kernel}: buffer too small");
    need
}

/// The math of an element-wise op: `y = f(x)` and `dy/dx`.
pub trait UnaryOp: Copy + Send + Sync + 'static {
    /// The op's name (for messages and kernel names).
    const NAME: &'static str;
    /// `f(x)`.
    fn f<E: Float>(&self, x: E) -> E;
    /// `f'(x)`, given `x` and `y = f(x)` (ops use whichever is cheaper).
    fn df<E: Float>(&self, x: E, y: E) -> E;
    /// The op's scalar parameter (leaky slope, exponent) for device kernels,
    /// which receive it as `p`; 0 for ops without one.
    fn param(&self) -> f64 {
        0.0
    }
    /// The op's CUDA kernels (feature `cuda`). The ops of dl-core name
    /// theirs (`ops/<op>/cuda_kernel.rs`); any other op has none, and the
    /// CUDA backend refuses it with [`NoCudaKernel`] unless it is wrapped
    /// in [`OnHost`].
    #[cfg(feature = "cuda")]
    const CUDA: Option<UnaryCudaKernel> = None;
    /// The CPU forward kernel in `f32`. The ops of `dl-core` compile it
    /// there (`ops::mono`), so that it runs optimised whatever profile the
    /// calling crate is built in; other ops get this generic default.
    #[doc(hidden)]
    #[allow(clippy::ptr_arg)]
    fn cpu_forward_f32(&self, x: &Vec<f32>, y: &mut Vec<f32>) {
        crate::ops::mono::host_unary_forward(*self, x, y)
    }
    /// As [`UnaryOp::cpu_forward_f32`], in `f64`.
    #[doc(hidden)]
    #[allow(clippy::ptr_arg)]
    fn cpu_forward_f64(&self, x: &Vec<f64>, y: &mut Vec<f64>) {
        crate::ops::mono::host_unary_forward(*self, x, y)
    }
    /// The CPU backward kernel in `f32` (see [`UnaryOp::cpu_forward_f32`]).
    #[doc(hidden)]
    #[allow(clippy::ptr_arg)]
    fn cpu_backward_f32(&self, x: &Vec<f32>, y: &Vec<f32>, dy: &Vec<f32>, dx: &mut Vec<f32>) {
        crate::ops::mono::host_unary_backward(*self, x, y, dy, dx)
    }
    /// As [`UnaryOp::cpu_backward_f32`], in `f64`.
    #[doc(hidden)]
    #[allow(clippy::ptr_arg)]
    fn cpu_backward_f64(&self, x: &Vec<f64>, y: &Vec<f64>, dy: &Vec<f64>, dx: &mut Vec<f64>) {
        crate::ops::mono::host_unary_backward(*self, x, y, dy, dx)
    }
}

/// Runs the element-wise op `Op` on a backend that has no kernel for it by
/// mapping its buffers on the host: the CUDA backend downloads the input,
/// applies `f` (or `df`) on the CPU and uploads the result. Correct but
/// slow; on the CPU backend it is `Op` itself.
///
/// ```
/// use dl_core::ops::util::{unary, OnHost};
/// use dl_core::prelude::*;
/// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![-1.0, 2.0]).unwrap();
/// assert_eq!(unary(OnHost(dl_core::ops::Relu), &x).to_vec(), vec![0.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OnHost<Op>(pub Op);

impl<Op: UnaryOp> UnaryOp for OnHost<Op> {
    const NAME: &'static str = Op::NAME;
    #[cfg(feature = "cuda")]
    const CUDA: Option<UnaryCudaKernel> = Some(UnaryCudaKernel::HOST);
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        self.0.f(x)
    }
    #[inline(always)]
    fn df<E: Float>(&self, x: E, y: E) -> E {
        self.0.df(x, y)
    }
    fn param(&self) -> f64 {
        self.0.param()
    }
    fn cpu_forward_f32(&self, x: &Vec<f32>, y: &mut Vec<f32>) {
        self.0.cpu_forward_f32(x, y)
    }
    fn cpu_forward_f64(&self, x: &Vec<f64>, y: &mut Vec<f64>) {
        self.0.cpu_forward_f64(x, y)
    }
    fn cpu_backward_f32(&self, x: &Vec<f32>, y: &Vec<f32>, dy: &Vec<f32>, dx: &mut Vec<f32>) {
        self.0.cpu_backward_f32(x, y, dy, dx)
    }
    fn cpu_backward_f64(&self, x: &Vec<f64>, y: &Vec<f64>, dy: &Vec<f64>, dx: &mut Vec<f64>) {
        self.0.cpu_backward_f64(x, y, dy, dx)
    }
}

/// Backend kernels for every [`UnaryOp`].
pub trait UnaryKernel: Storage {
    /// `y[i] = op.f(x[i])`; `y` is resized to `x`'s length.
    fn unary_forward<E: Float, Op: UnaryOp>(&self, op: Op, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// `dx[i] = dy[i] * op.df(x[i], y[i])`; `dx` is resized to `x`'s length.
    fn unary_backward<E: Float, Op: UnaryOp>(
        &self,
        op: Op,
        x: &Self::Buf<E>,
        y: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
    );
}

/// Applies an element-wise op to a tensor, writing into `y` (resized to `x`).
pub fn unary_into<S: Shape, B: UnaryKernel, E: Float, Op: UnaryOp>(
    op: Op,
    x: &Tensor<S, B, E>,
    y: &mut Tensor<S, B, E>,
) {
    y.set_batch(x.batch());
    x.device().unary_forward(op, x.buf(), y.buf_mut());
}

/// Applies an element-wise op to a tensor.
pub fn unary<S: Shape, B: UnaryKernel, E: Float, Op: UnaryOp>(op: Op, x: &Tensor<S, B, E>) -> Tensor<S, B, E> {
    let mut y = Tensor::empty(x.device());
    unary_into(op, x, &mut y);
    y
}

/// Backward of an element-wise op, writing into `dx` (resized to `x`).
pub fn unary_backward_into<S: Shape, B: UnaryKernel, E: Float, Op: UnaryOp>(
    op: Op,
    x: &Tensor<S, B, E>,
    y: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
    dx: &mut Tensor<S, B, E>,
) {
    dx.set_batch(x.batch());
    x.device().unary_backward(op, x.buf(), y.buf(), dy.buf(), dx.buf_mut());
}

/// Backward of an element-wise op: `dx = dy * f'(x)`.
pub fn unary_backward<S: Shape, B: UnaryKernel, E: Float, Op: UnaryOp>(
    op: Op,
    x: &Tensor<S, B, E>,
    y: &Tensor<S, B, E>,
    dy: &Tensor<S, B, E>,
) -> Tensor<S, B, E> {
    let mut dx = Tensor::empty(x.device());
    unary_backward_into(op, x, y, dy, &mut dx);
    dx
}

/// Writes an element-wise op's two typed functions, each with its doc
/// comment: `fwd(x, params..)` applies `op` ([`unary`]) and
/// `bwd(x, y, dy, params..)` is its backward ([`unary_backward`]); `op` is
/// an expression of the extra parameters. An op without parameters may be
/// declared in the same call instead: `pub struct Relu;` (with its doc
/// comment) before the functions, and no `op:` line.
///
/// ```text
/// unary_fns! {
///     /// `y = x > 0 ? x : slope * x` element-wise.
///     pub fn leaky_relu(x, slope: f64);
///     /// Backward of [`leaky_relu`].
///     pub fn leaky_relu_backward(x, y, dy, slope: f64);
///     op: LeakyRelu { slope };
/// }
/// ```
macro_rules! unary_fns {
    (
        $(#[$op_doc:meta])*
        pub struct $op:ident;
        $(#[$fwd_doc:meta])*
        pub fn $fwd:ident(x);
        $(#[$bwd_doc:meta])*
        pub fn $bwd:ident(x, y, dy);
    ) => {
        $(#[$op_doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $op;

        $crate::ops::util::unary_fns! {
            $(#[$fwd_doc])*
            pub fn $fwd(x);
            $(#[$bwd_doc])*
            pub fn $bwd(x, y, dy);
            op: $op;
        }
    };
    (
        $(#[$fwd_doc:meta])*
        pub fn $fwd:ident(x $(, $p:ident: $pt:ty)*);
        $(#[$bwd_doc:meta])*
        pub fn $bwd:ident(x, y, dy $(, $bp:ident: $bpt:ty)*);
        op: $op:expr;
    ) => {
        $(#[$fwd_doc])*
        pub fn $fwd<S: $crate::Shape, B: $crate::ops::util::UnaryKernel, E: $crate::Float>(
            x: &$crate::Tensor<S, B, E>
            $(, $p: $pt)*
        ) -> $crate::Tensor<S, B, E> {
            $crate::ops::util::unary($op, x)
        }

        $(#[$bwd_doc])*
        pub fn $bwd<S: $crate::Shape, B: $crate::ops::util::UnaryKernel, E: $crate::Float>(
            x: &$crate::Tensor<S, B, E>,
            y: &$crate::Tensor<S, B, E>,
            dy: &$crate::Tensor<S, B, E>
            $(, $bp: $bpt)*
        ) -> $crate::Tensor<S, B, E> {
            $crate::ops::util::unary_backward($op, x, y, dy)
        }
    };
}
pub(crate) use unary_fns;

/// Test helpers shared by the op folders: tolerance comparison and a
/// finite-difference check of any [`UnaryOp`].
pub mod testing {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::Cpu;

    /// Asserts `|a - b| <= atol + rtol * |b|` element-wise, naming the first failure.
    #[track_caller]
    pub fn assert_close<E: Float>(actual: &[E], expected: &[E], rtol: f64, atol: f64) {
        assert_eq!(actual.len(), expected.len(), "length differs");
        for (i, (a, b)) in actual.iter().zip(expected).enumerate() {
            let (a, b) = (a.to_f64(), b.to_f64());
            assert!(
                (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan()),
                "element {i}: actual {a}, expected {b} (rtol {rtol}, atol {atol})"
            );
        }
    }

    /// An element-wise op's outputs at some points, on the CPU: `y = f(x)`
    /// and `dx = dy * f'(x)`, checked against references with
    /// [`UnaryValues::y`] and [`UnaryValues::dx`].
    pub struct UnaryValues<E> {
        y: Vec<E>,
        dx: Vec<E>,
    }

    /// Runs `op` forward at `x` and backward with the upstream gradient `dy`
    /// through the tensor functions [`unary`] and [`unary_backward`].
    pub fn unary_values<Op: UnaryOp, E: Float, const N: usize>(op: Op, x: [E; N], dy: [E; N]) -> UnaryValues<E> {
        let x = Tensor::<crate::S1<N>, Cpu, E>::from_vec(&Cpu, 1, x.to_vec()).unwrap();
        let dy = Tensor::<crate::S1<N>, Cpu, E>::from_vec(&Cpu, 1, dy.to_vec()).unwrap();
        let y = unary(op, &x);
        let dx = unary_backward(op, &x, &y, &dy);
        UnaryValues {
            y: y.to_vec(),
            dx: dx.to_vec(),
        }
    }

    impl<E: Float> UnaryValues<E> {
        /// Asserts the forward output with [`assert_close`] (`rtol = atol = 0`: exactly).
        #[track_caller]
        pub fn y(self, expected: &[E], rtol: f64, atol: f64) -> Self {
            assert_close(&self.y, expected, rtol, atol);
            self
        }
        /// Asserts the input gradient with [`assert_close`] (`rtol = atol = 0`: exactly).
        #[track_caller]
        pub fn dx(self, expected: &[E], rtol: f64, atol: f64) -> Self {
            assert_close(&self.dx, expected, rtol, atol);
            self
        }
    }

    /// Checks `op`'s backward kernel against central differences of its
    /// forward kernel, in f64 on the CPU, at the points `xs`, through a
    /// non-uniform upstream gradient.
    #[track_caller]
    pub fn check_unary_grad<Op: UnaryOp>(op: Op, xs: &[f64]) {
        let g: Vec<f64> = (0..xs.len()).map(|i| 0.5 + (i % 7) as f64 * 0.25).collect();
        let cpu = Cpu;
        let mut y = Vec::new();
        cpu.unary_forward(op, &xs.to_vec(), &mut y);
        let mut dx = Vec::new();
        cpu.unary_backward(op, &xs.to_vec(), &y, &g, &mut dx);
        let f = |x: &[f64]| {
            let mut y = Vec::new();
            Cpu.unary_forward(op, &x.to_vec(), &mut y);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        check_gradient(f, xs, &dx, GradCheck::default()).unwrap_or_else(|e| panic!("{}: {e}", Op::NAME));
    }

    /// The checks every element-wise op of dl-core passes:
    /// [`check_unary_grad`] at `xs`, then [`check_unary_nan_and_empty`].
    #[track_caller]
    pub fn check_unary_op<Op: UnaryOp>(op: Op, xs: &[f64]) {
        check_unary_grad(op, xs);
        check_unary_nan_and_empty(op);
    }

    /// Asserts that `op` maps NaN to NaN and an empty batch to an empty
    /// output (forward and backward), on the CPU in `f32`.
    #[track_caller]
    pub fn check_unary_nan_and_empty<Op: UnaryOp>(op: Op) {
        let x = Tensor::<crate::S1<2>, Cpu, f32>::from_vec(&Cpu, 1, vec![f32::NAN, 0.5]).unwrap();
        let y = unary(op, &x);
        assert!(y.to_vec()[0].is_nan(), "{}: NaN input gave {}", Op::NAME, y.to_vec()[0]);
        let empty = Tensor::<crate::S1<2>, Cpu, f32>::zeros(&Cpu, 0);
        let y = unary(op, &empty);
        assert!(
            y.is_empty() && y.batch() == 0,
            "{}: empty batch gave {:?}",
            Op::NAME,
            y.shape()
        );
        let dx = unary_backward(op, &empty, &y, &y);
        assert!(
            dx.is_empty(),
            "{}: empty batch backward gave {:?}",
            Op::NAME,
            dx.shape()
        );
    }
}
