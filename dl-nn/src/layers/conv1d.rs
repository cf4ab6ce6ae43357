//! 1-D convolution layer: `y = conv(x, W) + b` on sequences `[C, L]`
//! (channels first, as PyTorch's `nn.Conv1d`).
//!
//! **PyTorch equivalent**: `nn.Conv1d(IN_C, OUT_C, K, stride=STRIDE,
//! padding=PAD)` (dilation 1, groups 1, bias, zero padding); weight
//! `[OUT_C, IN_C, K]`, bias `[OUT_C]`, the same `state_dict` names and
//! default initialisation (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
//! `fan_in = IN_C * K`, for both).

use super::linear::WeightGrads;
use crate::module::{Layer, Module};
use dl_core::init::Init;
use dl_core::ops::conv1d::Conv1dDims;
use dl_core::shape::conv_out;
use dl_core::shape::defaults;
use dl_core::{Backend, Cpu, Error, Float, Param, Result, Tensor, S1, S2, S3};

fn check_len<B: Backend, E: Float>(dev: &B, buf: &B::Buf<E>, what: &'static str, expected: usize) -> Result<()> {
    let got = dev.len(buf);
    if got != expected {
        return Err(Error::InvalidArgument {
            op: "conv1d",
            msg: format!("{what} needs {expected} elements, got {got}"),
        });
    }
    Ok(())
}

/// Forward on flat buffers with runtime dimensions: `y = conv(x, w) + b`
/// (`y` resized to `[n, c_out, lo]`).
///
/// # Errors
/// [`Error::InvalidArgument`] when `dims` does not describe a convolution or
/// a buffer's length does not match it.
pub fn conv1d_forward<B: Backend, E: Float>(
    dev: &B,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    b: Option<&B::Buf<E>>,
    y: &mut B::Buf<E>,
    d: Conv1dDims,
) -> Result<()> {
    d.validate()?;
    check_len(dev, x, "input", d.x_len())?;
    check_len(dev, w, "weight", d.w_len())?;
    if let Some(b) = b {
        check_len(dev, b, "bias", d.c_out)?;
    }
    dev.conv1d_forward(d, x, w, b, y);
    Ok(())
}

/// Backward on flat buffers: writes `dx` when given (resized to the input),
/// accumulates `dw += dL/dw` and, when given, `db += dL/db`.
///
/// # Errors
/// As [`conv1d_forward`], also for `dy`, `dw` and `db`.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_backward<B: Backend, E: Float>(
    dev: &B,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    dy: &B::Buf<E>,
    grads: WeightGrads<'_, B, E>,
    d: Conv1dDims,
) -> Result<()> {
    let WeightGrads { dx, dw, db } = grads;
    d.validate()?;
    check_len(dev, x, "input", d.x_len())?;
    check_len(dev, w, "weight", d.w_len())?;
    check_len(dev, dy, "output gradient", d.y_len())?;
    check_len(dev, dw, "weight gradient", d.w_len())?;
    if let Some(db) = &db {
        check_len(dev, db, "bias gradient", d.c_out)?;
    }
    if let Some(dx) = dx {
        dev.conv1d_backward_input(d, w, dy, dx);
    }
    dev.conv1d_backward_weight(d, x, dy, dw, db);
    Ok(())
}

/// A 1-D convolution from `IN_C` to `OUT_C` channels with a kernel of `K`,
/// stride `STRIDE` (default 1) and zero padding `PAD` (default 0):
/// `S2<IN_C, L>` -> `S2<OUT_C, LO>`, `LO = (L + 2 PAD - K) / STRIDE + 1`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let conv = Conv1d::<2, 4, 3, 1, 1>::init(&Cpu, 0);
/// let x = Tensor::<S2<2, 10>>::zeros(&Cpu, 3);
/// let y: Tensor<S2<4, 10>> = conv.forward(&x);
/// assert_eq!(y.shape(), vec![3, 4, 10]);
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct Conv1d<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const STRIDE: usize = { defaults::CONV_STRIDE },
    const PAD: usize = { defaults::PAD },
    B: Backend = Cpu,
    E: Float = f32,
> {
    /// Weight `[OUT_C, IN_C, K]`.
    #[param(init = Init::TorchDefault { fan_in: IN_C * K })]
    pub weight: Param<S3<OUT_C, IN_C, K>, B, E>,
    /// Bias `[OUT_C]`.
    #[param(init = Init::TorchDefault { fan_in: IN_C * K })]
    pub bias: Param<S1<OUT_C>, B, E>,
}

const INVARIANT: &str = "Conv1d: dimensions checked at compile time were rejected (a bug)";

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const STRIDE: usize,
        const PAD: usize,
        B: Backend,
        E: Float,
    > Conv1d<IN_C, OUT_C, K, STRIDE, PAD, B, E>
{
    fn dims<const L: usize, const LO: usize>(n: usize) -> Conv1dDims {
        const {
            assert!(
                K > 0 && STRIDE > 0,
                "Conv1d: the kernel size K and STRIDE must be positive"
            )
        };
        const { assert!(IN_C > 0 && OUT_C > 0, "Conv1d: channel counts must be positive") };
        const {
            assert!(
                matches!(conv_out(L, K, STRIDE, PAD), Some(o) if o == LO),
                "Conv1d: the output length must be (L + 2*PAD - K)/STRIDE + 1 (and the padded input must hold the kernel)"
            )
        };
        Conv1dDims {
            n,
            c_in: IN_C,
            l: L,
            c_out: OUT_C,
            k: K,
            stride: STRIDE,
            pad: PAD,
        }
    }

    fn backward_impl<const L: usize, const LO: usize>(
        &mut self,
        x: &Tensor<S2<IN_C, L>, B, E>,
        dy: &Tensor<S2<OUT_C, LO>, B, E>,
        dx: Option<&mut B::Buf<E>>,
    ) {
        let d = Self::dims::<L, LO>(x.batch());
        let w = self.weight.raw_mut();
        let b = self.bias.raw_mut();
        conv1d_backward(
            x.device(),
            x.buf(),
            &w.value,
            dy.buf(),
            WeightGrads {
                dx,
                dw: &mut w.grad,
                db: Some(&mut b.grad),
            },
            d,
        )
        .expect(INVARIANT);
    }
}

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const STRIDE: usize,
        const PAD: usize,
        const L: usize,
        const LO: usize,
        B: Backend,
        E: Float,
    > Layer<S2<IN_C, L>, S2<OUT_C, LO>, B, E> for Conv1d<IN_C, OUT_C, K, STRIDE, PAD, B, E>
{
    type Cache = ();

    fn new_cache(_dev: &B) {}
    fn forward_into(&self, x: &Tensor<S2<IN_C, L>, B, E>, out: &mut Tensor<S2<OUT_C, LO>, B, E>) {
        let d = Self::dims::<L, LO>(x.batch());
        out.set_batch(x.batch());
        conv1d_forward(
            x.device(),
            x.buf(),
            &self.weight.value,
            Some(&self.bias.value),
            out.buf_mut(),
            d,
        )
        .expect(INVARIANT);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S2<IN_C, L>, B, E>,
        _out: &Tensor<S2<OUT_C, LO>, B, E>,
        _cache: &mut (),
        dy: &Tensor<S2<OUT_C, LO>, B, E>,
        dx: &mut Tensor<S2<IN_C, L>, B, E>,
    ) {
        dx.set_batch(x.batch());
        self.backward_impl(x, dy, Some(dx.buf_mut()));
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S2<IN_C, L>, B, E>,
        _out: &Tensor<S2<OUT_C, LO>, B, E>,
        _cache: &mut (),
        dy: &Tensor<S2<OUT_C, LO>, B, E>,
        _dx: &mut Tensor<S2<IN_C, L>, B, E>,
    ) {
        self.backward_impl(x, dy, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::check_layer;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    #[test]
    fn gradient_check_input_weight_bias() {
        let mut rng = Rng::new(4);
        let l = Conv1d::<2, 3, 3, 2, 1, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S2<2, 7>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer::<_, S2<3, 4>, _>(&l, &x, true), 2);
    }

    #[test]
    fn state_dict_names_and_shapes() {
        let l = Conv1d::<2, 4, 5>::init(&Cpu, 0);
        let mut names = vec![];
        l.visit("c.", &mut |n, p| names.push((n.to_string(), p.dims.clone())));
        assert_eq!(
            names,
            vec![("c.weight".into(), vec![4, 2, 5]), ("c.bias".into(), vec![4])]
        );
    }

    #[test]
    fn bad_buffers_are_typed_errors() {
        // One sample, one channel of length 4, a kernel of 3.
        let d = Conv1d::<1, 1, 3, 1, 0, Cpu, f32>::dims::<4, 2>(1);
        let mut y = vec![];
        assert!(conv1d_forward(&Cpu, &vec![0.0f32; 3], &vec![0.0; 3], None, &mut y, d).is_err());
        assert!(conv1d_forward(
            &Cpu,
            &vec![0.0f32; 4],
            &vec![0.0; 3],
            None,
            &mut y,
            Conv1dDims { k: 9, ..d }
        )
        .is_err());
    }
}
