//! The CPU kernels, compiled here in `dl-core` for `f32` and `f64`.
//!
//! A generic function is compiled in the crate that names its type
//! arguments. Were the CPU kernels generic over the element type, a
//! program's `Linear<784, 10, Cpu, f32>` would compile them into the
//! program's own crate, at that crate's optimisation level: in a user's
//! dev profile (`opt-level = 0`) training ran 10-30 times slower than in
//! release, whatever the profile said for dependencies.
//!
//! So every kernel trait is implemented for [`Cpu`] by a one-line
//! forwarder to [`CpuKernels`], a trait of the element type that `f32` and
//! `f64` implement here with non-generic, never-inlined functions. Each of
//! them instantiates the kernel's one generic body (the `impl ... for Host`
//! blocks in `ops/<op>/cpu_kernel.rs`) inside this crate, at this crate's
//! optimisation level. Element-wise ops ([`UnaryOp`]) do the same through
//! the hidden `cpu_*_f32`/`cpu_*_f64` methods that `mono_unary_op!`
//! writes into each op's impl.
//!
//! Adding a kernel method: write it for `Host` in the op's `cpu_kernel.rs`
//! and add its signature to the list below (with `Vec<E>` for buffers).

use super::attention::{AttentionKernel, HeadDims, ScoreDims};
use super::axpy::AxpyKernel;
use super::batchnorm::{BatchNormConfig, BatchNormKernel, NormBwd, NormDims, NormFwd, RunningStats};
use super::bias::{BiasDims, BiasKernel};
use super::binary::{BinaryDims, BinaryKernel, BinaryOp};
use super::conv1d::{Conv1dDims, Conv1dKernel};
use super::conv2d::{Conv2dDims, Conv2dKernel};
use super::dropout::DropoutKernel;
use super::embedding::EmbeddingKernel;
use super::layernorm::LayerNormKernel;
use super::loss::{BadLabel, ClassDims, LossKernel, PointwiseLoss};
use super::matmul::{Batch, BiasAxis, Gemm, GemmBiasKernel, GemmKernel, GemmWorkspace};
use super::optim::{AdagradHyper, AdamHyper, OptimKernel, Penalty, RmsPropHyper, SgdHyper};
use super::pool1d::{Pool1dDims, Pool1dKernel};
use super::pool2d::{Pool2dDims, Pool2dKernel};
use super::reduce::{Reduce, ReduceDims, ReduceKernel};
use super::rnn::{RnnKernel, RnnStep, RnnStepBwd, RnnStepFwd};
use super::softmax::{SoftmaxDims, SoftmaxKernel};
use super::util::{UnaryKernel, UnaryOp};
use crate::backend::Storage;
use crate::cpu::Cpu;
use crate::dtype::Float;

/// The CPU backend's kernels with their generic bodies: `ops/<op>/cpu_kernel.rs`
/// implements the kernel traits for `Host`, and [`Cpu`]'s implementations
/// call them through [`CpuKernels`], so that they are instantiated here.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Host;

impl Storage for Host {
    type Buf<E: Float> = Vec<E>;
    type Idx = Vec<u32>;
    fn name(&self) -> String {
        Cpu.name()
    }
    fn zeros<E: Float>(&self, len: usize) -> Vec<E> {
        Cpu.zeros(len)
    }
    fn from_slice<E: Float>(&self, data: &[E]) -> Vec<E> {
        Cpu.from_slice(data)
    }
    fn to_vec<E: Float>(&self, buf: &Vec<E>) -> Vec<E> {
        Cpu.to_vec(buf)
    }
    fn write<E: Float>(&self, buf: &mut Vec<E>, data: &[E]) {
        Cpu.write(buf, data)
    }
    fn len<E: Float>(&self, buf: &Vec<E>) -> usize {
        buf.len()
    }
    fn resize<E: Float>(&self, buf: &mut Vec<E>, len: usize) {
        Cpu.resize(buf, len)
    }
    fn fill<E: Float>(&self, buf: &mut Vec<E>, v: E) {
        Cpu.fill(buf, v)
    }
    fn copy<E: Float>(&self, src: &Vec<E>, dst: &mut Vec<E>) {
        Cpu.copy(src, dst)
    }
    fn idx_from_slice(&self, data: &[u32]) -> Vec<u32> {
        data.to_vec()
    }
    fn idx_to_vec(&self, idx: &Vec<u32>) -> Vec<u32> {
        idx.clone()
    }
}

/// Writes [`CpuKernels`] (one method per kernel method), its `f32` and
/// `f64` implementations (each calls `Host`'s generic body) and the
/// forwarders `impl Trait for Cpu`. Buffer types are written `Vec<E>`; in
/// the element types' implementations `E` is an alias of `f32` or `f64`.
macro_rules! mono_kernels {
    ($( impl $tr:ident { $( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )* } )*) => {
        /// The CPU kernels of element type `E`, implemented by `f32` and
        /// `f64` in `dl-core` (a supertrait of [`Float`]; see the module
        /// documentation). Not for use outside `dl-core`.
        #[doc(hidden)]
        #[allow(missing_docs, clippy::too_many_arguments, clippy::ptr_arg)]
        pub trait CpuKernels<E> {
            $($( fn $name($($arg: $ty),*) $(-> $ret)?; )*)*
        }
        mono_kernels!(@elem for_f32, f32; $( $( fn $tr::$name($($arg: $ty),*) $(-> $ret)?; )* )*);
        mono_kernels!(@elem for_f64, f64; $( $( fn $tr::$name($($arg: $ty),*) $(-> $ret)?; )* )*);
        $(
            impl $tr for Cpu {
                $(
                    #[inline]
                    #[allow(clippy::too_many_arguments)]
                    fn $name<E: Float>(&self, $($arg: $ty),*) $(-> $ret)? {
                        <E as CpuKernels<E>>::$name($($arg),*)
                    }
                )*
            }
        )*
    };
    (@elem $m:ident, $t:ty; $( fn $tr:ident::$name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?; )*) => {
        mod $m {
            use super::*;
            type E = $t;
            impl CpuKernels<E> for E {
                $(
                    #[inline(never)]
                    fn $name($($arg: $ty),*) $(-> $ret)? {
                        <Host as $tr>::$name::<E>(&Host, $($arg),*)
                    }
                )*
            }
        }
    };
}

mono_kernels! {
    impl AttentionKernel {
        fn masked_softmax_forward(d: ScoreDims, s: &mut Vec<E>);
        fn masked_softmax_backward(d: ScoreDims, p: &Vec<E>, dp: &mut Vec<E>);
        fn split_heads(d: HeadDims, chunk: usize, src: &Vec<E>, dst: &mut Vec<E>);
        fn merge_heads(d: HeadDims, chunk: usize, src: &Vec<E>, dst: &mut Vec<E>);
    }
    impl AxpyKernel {
        fn axpy(alpha: E, x: &Vec<E>, y: &mut Vec<E>);
    }
    impl BatchNormKernel {
        fn batchnorm_forward(d: NormDims, cfg: BatchNormConfig, running: RunningStats<'_, Vec<E>>, b: NormFwd<'_, Vec<E>>);
        fn batchnorm_backward(d: NormDims, batch_stats: bool, b: NormBwd<'_, Vec<E>>);
    }
    impl BiasKernel {
        fn bias_add(d: BiasDims, b: &Vec<E>, y: &mut Vec<E>);
        fn bias_grad(d: BiasDims, dy: &Vec<E>, db: &mut Vec<E>);
    }
    impl BinaryKernel {
        fn binary_forward(op: BinaryOp, d: BinaryDims, a: &Vec<E>, b: &Vec<E>, out: &mut Vec<E>);
        fn binary_backward(op: BinaryOp, d: BinaryDims, a: &Vec<E>, b: &Vec<E>, dy: &Vec<E>, da: &mut Vec<E>, db: &mut Vec<E>);
    }
    impl Conv1dKernel {
        fn conv1d_forward(d: Conv1dDims, x: &Vec<E>, w: &Vec<E>, b: Option<&Vec<E>>, y: &mut Vec<E>);
        fn conv1d_backward_input(d: Conv1dDims, w: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>);
        fn conv1d_backward_weight(d: Conv1dDims, x: &Vec<E>, dy: &Vec<E>, dw: &mut Vec<E>, db: Option<&mut Vec<E>>);
    }
    impl Conv2dKernel {
        fn conv2d_forward(d: Conv2dDims, x: &Vec<E>, w: &Vec<E>, b: Option<&Vec<E>>, y: &mut Vec<E>, ws: &mut Vec<E>, gemm: &mut GemmWorkspace);
        fn conv2d_backward_input(d: Conv2dDims, w: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>, ws: &mut Vec<E>, gemm: &mut GemmWorkspace);
        fn conv2d_backward_weight(d: Conv2dDims, x: &Vec<E>, dy: &Vec<E>, dw: &mut Vec<E>, db: Option<&mut Vec<E>>, ws: &mut Vec<E>, gemm: &mut GemmWorkspace);
    }
    impl DropoutKernel {
        fn dropout_mask(p: f64, seed: u64, len: usize, mask: &mut Vec<E>);
    }
    impl EmbeddingKernel {
        fn embedding_forward(vocab: usize, dim: usize, ids: &Vec<E>, w: &Vec<E>, y: &mut Vec<E>) -> usize;
        fn embedding_backward(vocab: usize, dim: usize, ids: &Vec<E>, dy: &Vec<E>, dw: &mut Vec<E>);
    }
    impl LayerNormKernel {
        fn layernorm_forward(rows: usize, dim: usize, eps: f64, b: NormFwd<'_, Vec<E>>);
        fn layernorm_backward(rows: usize, dim: usize, b: NormBwd<'_, Vec<E>>);
    }
    impl LossKernel {
        fn cross_entropy(d: ClassDims, smoothing: f64, scale: f64, logits: &Vec<E>, labels: &Vec<u32>, grad: &mut Vec<E>) -> Result<E, BadLabel>;
        fn pointwise_loss(kind: PointwiseLoss, n: usize, scale: f64, pred: &Vec<E>, target: &Vec<E>, grad: &mut Vec<E>) -> E;
        fn count_correct(d: ClassDims, logits: &Vec<E>, labels: &Vec<u32>) -> Result<usize, BadLabel>;
    }
    impl GemmKernel {
        fn gemm_batched_ws(ws: &mut GemmWorkspace, g: Gemm<E>, batch: Batch, a: &Vec<E>, b: &Vec<E>, c: &mut Vec<E>);
    }
    impl GemmBiasKernel {
        fn gemm_bias_ws(ws: &mut GemmWorkspace, g: Gemm<E>, a: &Vec<E>, b: &Vec<E>, bias: &Vec<E>, axis: BiasAxis, c: &mut Vec<E>);
    }
    impl OptimKernel {
        fn sgd_update(h: &SgdHyper, p: &mut Vec<E>, g: &Vec<E>, buf: &mut Vec<E>);
        fn adagrad_update(h: &AdagradHyper, p: &mut Vec<E>, g: &Vec<E>, sum: &mut Vec<E>);
        fn rmsprop_update(h: &RmsPropHyper, p: &mut Vec<E>, g: &Vec<E>, square_avg: &mut Vec<E>, momentum_buf: &mut Vec<E>, grad_avg: &mut Vec<E>);
        fn adam_update(h: &AdamHyper, p: &mut Vec<E>, g: &Vec<E>, exp_avg: &mut Vec<E>, exp_avg_sq: &mut Vec<E>, max_exp_avg_sq: &mut Vec<E>);
        fn sum_squares(x: &Vec<E>) -> f64;
        fn sum_abs(x: &Vec<E>) -> f64;
        fn scale(x: &mut Vec<E>, s: f64);
        fn penalty_grad(kind: Penalty, lambda: f64, w: &Vec<E>, g: &mut Vec<E>);
    }
    impl Pool1dKernel {
        fn max_pool1d_forward(d: Pool1dDims, x: &Vec<E>, y: &mut Vec<E>, idx: &mut Vec<u32>);
        fn max_pool1d_backward(d: Pool1dDims, idx: &Vec<u32>, dy: &Vec<E>, dx: &mut Vec<E>);
        fn avg_pool1d_forward(d: Pool1dDims, x: &Vec<E>, y: &mut Vec<E>);
        fn avg_pool1d_backward(d: Pool1dDims, dy: &Vec<E>, dx: &mut Vec<E>);
    }
    impl Pool2dKernel {
        fn maxpool2d_forward(d: Pool2dDims, x: &Vec<E>, y: &mut Vec<E>, argmax: &mut Vec<u32>);
        fn maxpool2d_backward(d: Pool2dDims, argmax: &Vec<u32>, dy: &Vec<E>, dx: &mut Vec<E>);
        fn avgpool2d_forward(d: Pool2dDims, x: &Vec<E>, y: &mut Vec<E>);
        fn avgpool2d_backward(d: Pool2dDims, dy: &Vec<E>, dx: &mut Vec<E>);
        fn global_avgpool2d_forward(planes: usize, hw: usize, x: &Vec<E>, y: &mut Vec<E>);
        fn global_avgpool2d_backward(planes: usize, hw: usize, dy: &Vec<E>, dx: &mut Vec<E>);
    }
    impl ReduceKernel {
        fn reduce_forward(r: Reduce, d: ReduceDims, x: &Vec<E>, y: &mut Vec<E>);
        fn reduce_backward(r: Reduce, d: ReduceDims, x: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>);
    }
    impl RnnKernel {
        fn rnn_step_forward(s: RnnStep, b: RnnStepFwd<'_, Vec<E>>);
        fn rnn_step_backward(s: RnnStep, b: RnnStepBwd<'_, Vec<E>>);
    }
    impl SoftmaxKernel {
        fn softmax_forward(d: SoftmaxDims, x: &Vec<E>, y: &mut Vec<E>);
        fn softmax_backward(d: SoftmaxDims, y: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>);
    }
}

/// The element-wise kernels of element type `Self`: each dispatches to the
/// op's `cpu_*_f32`/`cpu_*_f64` method (compiled here for the ops of
/// `dl-core`, see [`mono_unary_op!`]). Not for use outside `dl-core`.
#[doc(hidden)]
#[allow(clippy::ptr_arg)]
pub trait CpuUnary: Sized {
    /// `y[i] = op.f(x[i])`.
    fn unary_forward<Op: UnaryOp>(op: Op, x: &Vec<Self>, y: &mut Vec<Self>);
    /// `dx[i] = dy[i] * op.df(x[i], y[i])`.
    fn unary_backward<Op: UnaryOp>(op: Op, x: &Vec<Self>, y: &Vec<Self>, dy: &Vec<Self>, dx: &mut Vec<Self>);
}

macro_rules! cpu_unary {
    ($t:ty, $fwd:ident, $bwd:ident) => {
        impl CpuUnary for $t {
            #[inline]
            fn unary_forward<Op: UnaryOp>(op: Op, x: &Vec<$t>, y: &mut Vec<$t>) {
                op.$fwd(x, y)
            }
            #[inline]
            fn unary_backward<Op: UnaryOp>(op: Op, x: &Vec<$t>, y: &Vec<$t>, dy: &Vec<$t>, dx: &mut Vec<$t>) {
                op.$bwd(x, y, dy, dx)
            }
        }
    };
}
cpu_unary!(f32, cpu_forward_f32, cpu_backward_f32);
cpu_unary!(f64, cpu_forward_f64, cpu_backward_f64);

impl UnaryKernel for Cpu {
    #[inline]
    fn unary_forward<E: Float, Op: UnaryOp>(&self, op: Op, x: &Vec<E>, y: &mut Vec<E>) {
        E::unary_forward(op, x, y)
    }
    #[inline]
    fn unary_backward<E: Float, Op: UnaryOp>(&self, op: Op, x: &Vec<E>, y: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
        E::unary_backward(op, x, y, dy, dx)
    }
}

/// Inside `impl UnaryOp for MyOp { .. }` of an op of `dl-core`: compiles
/// the op's CPU kernels for `f32` and `f64` here (overriding the generic
/// defaults of `UnaryOp::cpu_forward_f32` and the like).
macro_rules! mono_unary_op {
    () => {
        #[inline(never)]
        fn cpu_forward_f32(&self, x: &Vec<f32>, y: &mut Vec<f32>) {
            crate::ops::mono::host_unary_forward(*self, x, y)
        }
        #[inline(never)]
        fn cpu_forward_f64(&self, x: &Vec<f64>, y: &mut Vec<f64>) {
            crate::ops::mono::host_unary_forward(*self, x, y)
        }
        #[inline(never)]
        fn cpu_backward_f32(&self, x: &Vec<f32>, y: &Vec<f32>, dy: &Vec<f32>, dx: &mut Vec<f32>) {
            crate::ops::mono::host_unary_backward(*self, x, y, dy, dx)
        }
        #[inline(never)]
        fn cpu_backward_f64(&self, x: &Vec<f64>, y: &Vec<f64>, dy: &Vec<f64>, dx: &mut Vec<f64>) {
            crate::ops::mono::host_unary_backward(*self, x, y, dy, dx)
        }
    };
}
pub(crate) use mono_unary_op;

/// `impl UnaryOp for super::$op` for an element-wise op of dl-core: its
/// `NAME`, its CUDA kernels (`super::cuda_kernel::$cuda`, feature `cuda`),
/// its CPU kernels compiled here ([`mono_unary_op!`]) and the methods given,
/// each `#[inline(always)]` (`E: Float` needs no import).
macro_rules! core_unary_op {
    ($op:ident, $name:literal, $cuda:ident; $(fn $f:ident $(<$e:ident: Float>)? ($($arg:tt)*) -> $ret:ty $body:block)*) => {
        impl $crate::ops::util::UnaryOp for super::$op {
            const NAME: &'static str = $name;
            #[cfg(feature = "cuda")]
            const CUDA: Option<$crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::$cuda);
            $crate::ops::mono::mono_unary_op!();
            $(
                #[inline(always)]
                fn $f $(<$e: $crate::Float>)? ($($arg)*) -> $ret $body
            )*
        }
    };
}
pub(crate) use core_unary_op;

/// The generic body of the element-wise forward kernel (`Host`'s).
#[doc(hidden)]
#[allow(clippy::ptr_arg)]
pub fn host_unary_forward<E: Float, Op: UnaryOp>(op: Op, x: &Vec<E>, y: &mut Vec<E>) {
    Host.unary_forward(op, x, y)
}

/// The generic body of the element-wise backward kernel (`Host`'s).
#[doc(hidden)]
#[allow(clippy::ptr_arg)]
pub fn host_unary_backward<E: Float, Op: UnaryOp>(op: Op, x: &Vec<E>, y: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
    Host.unary_backward(op, x, y, dy, dx)
}

#[cfg(test)]
mod tests {
    use crate::ops::util::{testing::check_unary_grad, unary, unary_backward, UnaryOp};
    use crate::prelude::*;

    /// An op defined outside `dl-core`'s list: it takes the generic default
    /// kernels (compiled where it is used), in both element types.
    #[derive(Clone, Copy)]
    struct Square;
    impl UnaryOp for Square {
        const NAME: &'static str = "square";
        fn f<E: Float>(&self, x: E) -> E {
            x * x
        }
        fn df<E: Float>(&self, x: E, _y: E) -> E {
            x + x
        }
    }

    #[test]
    fn a_user_defined_unary_op_runs_on_the_default_kernels() {
        let x = Tensor::<S1<3>, Cpu, f32>::from_vec(&Cpu, 1, vec![-2.0, 0.5, 3.0]).unwrap();
        let y = unary(Square, &x);
        assert_eq!(y.to_vec(), vec![4.0, 0.25, 9.0]);
        let dx = unary_backward(Square, &x, &y, &x);
        assert_eq!(dx.to_vec(), vec![8.0, 0.5, 18.0]);
        check_unary_grad(Square, &[-1.5, 0.2, 2.0]);
    }

    #[test]
    fn the_kernels_compiled_here_agree_with_the_generic_bodies() {
        // `Cpu` goes through `CpuKernels` (instances compiled in dl-core);
        // `Host` is the generic body itself.
        use super::Host;
        use crate::ops::bias::{BiasDims, BiasKernel};
        use crate::ops::util::UnaryKernel;
        let x: Vec<f32> = (0..100).map(|i| (i as f32 - 50.0) / 7.0).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        Cpu.unary_forward(crate::ops::Gelu, &x, &mut a);
        Host.unary_forward(crate::ops::Gelu, &x, &mut b);
        assert_eq!(a, b);
        let d = BiasDims {
            outer: 4,
            channels: 5,
            inner: 5,
        };
        let bias: Vec<f64> = (0..5).map(|c| c as f64).collect();
        let (mut ya, mut yb) = (vec![1.0f64; 100], vec![1.0f64; 100]);
        Cpu.bias_add(d, &bias, &mut ya);
        Host.bias_add(d, &bias, &mut yb);
        assert_eq!(ya, yb);
        assert_eq!(ya[5..10], [2.0; 5]);
    }
}
