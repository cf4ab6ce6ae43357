//! 2-D convolution layer: `y = conv(x, W) + b` on NCHW images.
//!
//! **PyTorch equivalent**: `nn.Conv2d(IN_C, OUT_C, K, stride=STRIDE,
//! padding=PAD)` (dilation 1, groups 1, bias, zero padding); weight
//! `[OUT_C, IN_C, K, K]`, bias `[OUT_C]`, the same `state_dict` names and
//! default initialisation (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
//! `fan_in = IN_C * K * K`, for both).

use super::linear::WeightGrads;
use crate::module::{Layer, Module};
use dl_core::init::Init;
use dl_core::ops::conv2d::Conv2dDims;
use dl_core::ops::matmul::GemmWorkspace;
use dl_core::shape::conv_out;
use dl_core::shape::defaults;
use dl_core::{Backend, Cpu, Error, Float, Param, Result, Tensor, S1, S3, S4};

fn check_len<B: Backend, E: Float>(
    dev: &B,
    buf: &B::Buf<E>,
    what: &'static str,
    dims: &[usize],
    batch: usize,
) -> Result<()> {
    let expected = dims.iter().product::<usize>() * batch;
    let got = dev.len(buf);
    if got != expected {
        return Err(Error::InvalidArgument {
            op: "conv2d",
            msg: format!("{what} of shape {dims:?} (batch {batch}) needs {expected} elements, got {got}"),
        });
    }
    Ok(())
}

/// Forward on flat buffers with runtime dimensions: `y = conv(x, w) + b`
/// (`y` resized to `[n, c_out, oh, ow]`). `workspace` (the im2col columns)
/// and `gemm` (the GEMM's packing memory) are scratch space reused across
/// calls (start with empty ones and keep them).
///
/// # Errors
/// [`Error::InvalidArgument`] when `dims` does not describe a convolution or
/// a buffer's length does not match it.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward<B: Backend, E: Float>(
    dev: &B,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    b: Option<&B::Buf<E>>,
    y: &mut B::Buf<E>,
    dims: Conv2dDims,
    workspace: &mut B::Buf<E>,
    gemm: &mut GemmWorkspace,
) -> Result<()> {
    let d = dims;
    d.validate()?;
    check_len(dev, x, "input", &[d.c_in, d.h, d.w], d.n)?;
    check_len(dev, w, "weight", &[d.c_out, d.c_in, d.k, d.k], 1)?;
    if let Some(b) = b {
        check_len(dev, b, "bias", &[d.c_out], 1)?;
    }
    dev.conv2d_forward(d, x, w, b, y, workspace, gemm);
    Ok(())
}

/// Backward on flat buffers: writes `dx` when given (resized to the input),
/// accumulates `dw += dL/dw` and, when given, `db += dL/db`. `workspace`
/// and `gemm` as in [`conv2d_forward`].
///
/// # Errors
/// As [`conv2d_forward`], also for `dy`, `dw` and `db`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward<B: Backend, E: Float>(
    dev: &B,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    dy: &B::Buf<E>,
    grads: WeightGrads<'_, B, E>,
    dims: Conv2dDims,
    workspace: &mut B::Buf<E>,
    gemm: &mut GemmWorkspace,
) -> Result<()> {
    let WeightGrads { dx, dw, db } = grads;
    let d = dims;
    d.validate()?;
    check_len(dev, x, "input", &[d.c_in, d.h, d.w], d.n)?;
    check_len(dev, w, "weight", &[d.c_out, d.c_in, d.k, d.k], 1)?;
    check_len(dev, dw, "weight gradient", &[d.c_out, d.c_in, d.k, d.k], 1)?;
    check_len(dev, dy, "output gradient", &[d.c_out, d.oh(), d.ow()], d.n)?;
    if let Some(db) = &db {
        check_len(dev, *db, "bias gradient", &[d.c_out], 1)?;
    }
    if let Some(dx) = dx {
        dev.conv2d_backward_input(d, w, dy, dx, workspace, gemm);
    }
    dev.conv2d_backward_weight(d, x, dy, dw, db, workspace, gemm);
    Ok(())
}

/// The convolution's cache: the im2col workspace and the GEMM's packing
/// memory, reused across steps (so a training step allocates nothing once
/// they have grown).
#[derive(Debug)]
pub struct Conv2dCache<B: Backend, E: Float> {
    workspace: B::Buf<E>,
    gemm: GemmWorkspace,
}

impl<B: Backend, E: Float> Conv2dCache<B, E> {
    /// An empty workspace on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            workspace: dev.zeros(0),
            gemm: GemmWorkspace::new(),
        }
    }
}

/// A 2-D convolution from `IN_C` to `OUT_C` channels with a `K x K` kernel,
/// stride `STRIDE` and zero padding `PAD`.
///
/// It maps `S3<IN_C, H, W>` to `S3<OUT_C, OH, OW>` for every `H, W` with
/// `OH = (H + 2 PAD - K) / STRIDE + 1` (and likewise `OW`); a wrong output
/// shape fails to build with "Conv2d: output height must be
/// (H + 2*PAD - K)/STRIDE + 1" (the `#[network]` macro computes the shapes
/// and reports mismatches earlier, in `cargo check`).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let conv = Conv2d::<1, 4, 3, 1, 1>::init(&Cpu, 0);
/// let x = Tensor::<S3<1, 5, 5>>::zeros(&Cpu, 2);
/// let y: Tensor<S3<4, 5, 5>> = conv.forward(&x); // padding 1 keeps 5x5
/// assert_eq!(y.shape(), vec![2, 4, 5, 5]);
/// ```
///
/// Naming a wrong output shape fails to build (the const assertion):
///
/// ```compile_fail
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let conv = Conv2d::<1, 4, 3>::init(&Cpu, 0);
/// let x = Tensor::<S3<1, 5, 5>>::zeros(&Cpu, 2);
/// let y: Tensor<S3<4, 4, 4>> = conv.forward(&x); // 5 - 3 + 1 = 3, not 4
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct Conv2d<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const STRIDE: usize = { defaults::CONV_STRIDE },
    const PAD: usize = { defaults::PAD },
    B: Backend = Cpu,
    E: Float = f32,
> {
    /// Weight `[OUT_C, IN_C, K, K]`.
    #[param(init = Init::TorchDefault { fan_in: IN_C * K * K })]
    pub weight: Param<S4<OUT_C, IN_C, K, K>, B, E>,
    /// Bias `[OUT_C]`.
    #[param(init = Init::TorchDefault { fan_in: IN_C * K * K })]
    pub bias: Param<S1<OUT_C>, B, E>,
}

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const STRIDE: usize,
        const PAD: usize,
        B: Backend,
        E: Float,
    > Conv2d<IN_C, OUT_C, K, STRIDE, PAD, B, E>
{
    /// Parameter gradients, and the input gradient when `dx` is given.
    fn run_backward<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &mut self,
        x: &Tensor<S3<IN_C, H, W>, B, E>,
        cache: &mut Conv2dCache<B, E>,
        dy: &Tensor<S3<OUT_C, OH, OW>, B, E>,
        dx: Option<&mut B::Buf<E>>,
    ) {
        let d = Self::dims::<H, W, OH, OW>(x.batch());
        let dev = x.device();
        let w = self.weight.raw_mut();
        let b = self.bias.raw_mut();
        conv2d_backward(
            dev,
            x.buf(),
            &w.value,
            dy.buf(),
            WeightGrads {
                dx,
                dw: &mut w.grad,
                db: Some(&mut b.grad),
            },
            d,
            &mut cache.workspace,
            &mut cache.gemm,
        )
        .expect(INVARIANT);
    }

    /// The runtime dimensions for a batch of `n`, with the compile-time
    /// checks of the shape relation.
    fn dims<const H: usize, const W: usize, const OH: usize, const OW: usize>(n: usize) -> Conv2dDims {
        const {
            assert!(
                K > 0 && STRIDE > 0,
                "Conv2d: the kernel size K and STRIDE must be positive"
            )
        };
        const { assert!(IN_C > 0 && OUT_C > 0, "Conv2d: channel counts must be positive") };
        const {
            assert!(
                H + 2 * PAD >= K && W + 2 * PAD >= K,
                "Conv2d: the padded input (H + 2*PAD, W + 2*PAD) must be at least as large as the kernel K"
            )
        };
        const {
            assert!(
                matches!(conv_out(H, K, STRIDE, PAD), Some(o) if o == OH),
                "Conv2d: output height must be (H + 2*PAD - K)/STRIDE + 1"
            )
        };
        const {
            assert!(
                matches!(conv_out(W, K, STRIDE, PAD), Some(o) if o == OW),
                "Conv2d: output width must be (W + 2*PAD - K)/STRIDE + 1"
            )
        };
        Conv2dDims {
            n,
            c_in: IN_C,
            h: H,
            w: W,
            c_out: OUT_C,
            k: K,
            stride: STRIDE,
            pad: PAD,
        }
    }
}

const INVARIANT: &str = "Conv2d: dimensions checked at compile time were rejected (a bug)";

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const STRIDE: usize,
        const PAD: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
        B: Backend,
        E: Float,
    > Layer<S3<IN_C, H, W>, S3<OUT_C, OH, OW>, B, E> for Conv2d<IN_C, OUT_C, K, STRIDE, PAD, B, E>
{
    type Cache = Conv2dCache<B, E>;

    fn new_cache(dev: &B) -> Self::Cache {
        Conv2dCache::new(dev)
    }
    fn forward_into(&self, x: &Tensor<S3<IN_C, H, W>, B, E>, out: &mut Tensor<S3<OUT_C, OH, OW>, B, E>) {
        let dev = x.device();
        let d = Self::dims::<H, W, OH, OW>(x.batch());
        // Inference has no cache: the im2col workspace is this call's, the
        // GEMM packs into the thread's workspace.
        let mut ws = dev.zeros(0);
        out.set_batch(x.batch());
        GemmWorkspace::with_thread_local(|gemm| {
            conv2d_forward(
                dev,
                x.buf(),
                &self.weight.value,
                Some(&self.bias.value),
                out.buf_mut(),
                d,
                &mut ws,
                gemm,
            )
        })
        .expect(INVARIANT);
    }
    fn forward_train_into(
        &mut self,
        x: &Tensor<S3<IN_C, H, W>, B, E>,
        out: &mut Tensor<S3<OUT_C, OH, OW>, B, E>,
        cache: &mut Self::Cache,
    ) {
        let d = Self::dims::<H, W, OH, OW>(x.batch());
        out.set_batch(x.batch());
        conv2d_forward(
            x.device(),
            x.buf(),
            &self.weight.value,
            Some(&self.bias.value),
            out.buf_mut(),
            d,
            &mut cache.workspace,
            &mut cache.gemm,
        )
        .expect(INVARIANT);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S3<IN_C, H, W>, B, E>,
        _out: &Tensor<S3<OUT_C, OH, OW>, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<S3<OUT_C, OH, OW>, B, E>,
        dx: &mut Tensor<S3<IN_C, H, W>, B, E>,
    ) {
        dx.set_batch(x.batch());
        self.run_backward::<H, W, OH, OW>(x, cache, dy, Some(dx.buf_mut()));
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S3<IN_C, H, W>, B, E>,
        _out: &Tensor<S3<OUT_C, OH, OW>, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<S3<OUT_C, OH, OW>, B, E>,
        _dx: &mut Tensor<S3<IN_C, H, W>, B, E>,
    ) {
        self.run_backward::<H, W, OH, OW>(x, cache, dy, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use dl_core::ParamKind;
    #[allow(unused_imports)]
    use dl_core::{RawParam, Rng};

    #[test]
    fn gradient_check_plain_strided_padded() {
        let mut rng = Rng::new(1);
        let c = Conv2d::<2, 3, 3, 1, 0, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S3<2, 5, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer::<_, S3<3, 3, 2>, _>(&c, &x, true), 2);
        let c = Conv2d::<2, 2, 3, 2, 1, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S3<2, 6, 5>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer::<_, S3<2, 3, 3>, _>(&c, &x, true), 2);
        let c = Conv2d::<3, 2, 1, 1, 0, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S3<3, 2, 3>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        assert_eq!(check_layer::<_, S3<2, 2, 3>, _>(&c, &x, true), 2);
    }

    /// `forward` (inference) and `forward_train` agree; the cache's
    /// workspace is reused (no reallocation on the second step).
    #[test]
    fn forward_matches_forward_train_and_reuses_workspace() {
        let mut rng = Rng::new(2);
        let mut c = Conv2d::<2, 4, 3>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S3<2, 7, 7>>::randn(&Cpu, 3, &mut rng);
        let y: Tensor<S3<4, 5, 5>> = c.forward(&x);
        let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
        let mut cache = <Conv2d<2, 4, 3> as Layer<S3<2, 7, 7>, S3<4, 5, 5>, Cpu, f32>>::new_cache(&Cpu);
        c.forward_train_into(&x, &mut out, &mut cache);
        assert_eq!(out.to_vec(), y.to_vec());
        c.backward_into(&x, &out, &mut cache, &y, &mut dx);
        let cap = cache.workspace.capacity();
        c.forward_train_into(&x, &mut out, &mut cache);
        c.backward_into(&x, &out, &mut cache, &y, &mut dx);
        assert_eq!(cache.workspace.capacity(), cap);
    }

    #[test]
    fn state_dict_names_and_init() {
        let c = Conv2d::<3, 8, 5>::init(&Cpu, 0);
        let names = state_dict(&c, "conv1.");
        assert_eq!(
            names,
            vec![
                ("conv1.weight".to_string(), vec![8, 3, 5, 5], ParamKind::Trainable),
                ("conv1.bias".to_string(), vec![8], ParamKind::Trainable),
            ]
        );
        assert_eq!(<Conv2d<3, 8, 5> as Module<Cpu, f32>>::NUM_PARAMS, 8 * 3 * 25 + 8);
        let bound = 1.0 / ((3 * 25) as f32).sqrt();
        let w = c.weight.value_vec();
        assert!(w.iter().chain(&c.bias.value_vec()).all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > bound / 2.0), "not spread over the range");
    }

    #[test]
    fn empty_batch() {
        let mut c = Conv2d::<1, 2, 3>::init(&Cpu, 0);
        let x = Tensor::<S3<1, 4, 4>>::zeros(&Cpu, 0);
        let (mut out, mut dx) = (Tensor::<S3<2, 2, 2>>::empty(&Cpu), Tensor::empty(&Cpu));
        let mut cache = Conv2dCache::new(&Cpu);
        c.forward_train_into(&x, &mut out, &mut cache);
        assert!(out.is_empty());
        c.backward_into(&x, &out, &mut cache, &out.clone(), &mut dx);
        assert!(dx.is_empty());
        assert!(c.weight.grad_vec().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn flat_functions_reject_bad_input() {
        // One 1-channel 4x4 image, a 3x3 kernel.
        let d = Conv2d::<1, 1, 3, 1, 0, Cpu, f32>::dims::<4, 4, 2, 2>(1);
        let (x, w) = (vec![0f32; 16], vec![0f32; 9]);
        let (mut y, mut ws) = (vec![], vec![]);
        conv2d_forward(&Cpu, &x, &w, None, &mut y, d, &mut ws, &mut GemmWorkspace::new()).unwrap();
        assert_eq!(y.len(), 4);
        let e = conv2d_forward(
            &Cpu,
            &x[..15].to_vec(),
            &w,
            None,
            &mut y,
            d,
            &mut ws,
            &mut GemmWorkspace::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("input"), "{e}");
        let e = conv2d_forward(
            &Cpu,
            &x,
            &w,
            None,
            &mut y,
            Conv2dDims { stride: 0, ..d },
            &mut ws,
            &mut GemmWorkspace::new(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
        let mut dw = vec![0f32; 8];
        let e = conv2d_backward(
            &Cpu,
            &x,
            &w,
            &y,
            WeightGrads {
                dx: None,
                dw: &mut dw,
                db: None,
            },
            d,
            &mut ws,
            &mut GemmWorkspace::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("weight gradient"), "{e}");
    }
}
