//! Layer normalisation over the last dimension, with a learned per-feature
//! scale and shift.
//!
//! **PyTorch equivalent**: `nn.LayerNorm(D)` (eps 1e-5, elementwise affine);
//! state_dict names `weight`, `bias`.

use crate::module::Module;
use dl_core::init::Init;
use dl_core::ops::layernorm::{NormBwd, NormFwd};
use dl_core::{Backend, Cpu, Float, Param, Shape, Tensor, S1, S2, S3};

/// The backward buffers of a norm layer (layer or batch norm): its input,
/// the output gradient and the input gradient (resized to the batch), the
/// gradients of its `weight` and `bias`, and the forward's statistics.
#[allow(clippy::type_complexity)]
pub(crate) fn norm_bwd<'a, S: Shape, const N: usize, B: Backend, E: Float>(
    (x, dy, dx): (&'a Tensor<S, B, E>, &'a Tensor<S, B, E>, &'a mut Tensor<S, B, E>),
    (weight, bias): (&'a mut Param<S1<N>, B, E>, &'a mut Param<S1<N>, B, E>),
    (mean, rstd): (&'a B::Buf<E>, &'a B::Buf<E>),
) -> NormBwd<'a, B::Buf<E>> {
    dx.set_batch(x.batch());
    let w = weight.raw_mut();
    NormBwd {
        x: x.buf(),
        gamma: &w.value,
        mean,
        rstd,
        dy: dy.buf(),
        dx: dx.buf_mut(),
        dgamma: &mut w.grad,
        dbeta: &mut bias.raw_mut().grad,
    }
}

/// Layer normalisation of the last dimension `D`, on `S1<D>`, `S2<T, D>`
/// and `S3<A, B, D>`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let ln = LayerNorm::<2>::init(&Cpu, 0);
/// let x = Tensor::<S2<3, 2>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 0.0, 0.0, -5.0, 5.0]).unwrap();
/// let y = ln.forward(&x).to_vec();
/// assert!((y[0] + 1.0).abs() < 1e-4 && (y[5] - 1.0).abs() < 1e-4);
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct LayerNorm<const D: usize, B: Backend = Cpu, E: Float = f32> {
    /// Scale `[D]` (initialised to 1).
    #[param(init = Init::Const(1.0))]
    pub weight: Param<S1<D>, B, E>,
    /// Shift `[D]` (initialised to 0).
    pub bias: Param<S1<D>, B, E>,
    /// Added to the variance (default 1e-5).
    #[skip(init = 1e-5)]
    pub eps: f64,
}

/// What backward needs: per-row mean and `1 / sqrt(var + eps)`.
#[derive(Clone, Debug)]
pub struct LayerNormCache<B: Backend, E: Float> {
    /// Per-row mean.
    pub mean: B::Buf<E>,
    /// Per-row reciprocal standard deviation.
    pub rstd: B::Buf<E>,
}

impl<const D: usize, B: Backend, E: Float> LayerNorm<D, B, E> {
    fn norm_cache(dev: &B) -> LayerNormCache<B, E> {
        LayerNormCache {
            mean: dev.zeros(0),
            rstd: dev.zeros(0),
        }
    }
    fn norm_forward<S: Shape>(&self, x: &Tensor<S, B, E>, y: &mut Tensor<S, B, E>) {
        self.norm_forward_train(x, y, &mut Self::norm_cache(x.device()));
    }
    fn norm_forward_train<S: Shape>(
        &self,
        x: &Tensor<S, B, E>,
        y: &mut Tensor<S, B, E>,
        cache: &mut LayerNormCache<B, E>,
    ) {
        y.set_batch(x.batch());
        let rows = x.len() / D.max(1);
        let bufs = NormFwd {
            x: x.buf(),
            gamma: &self.weight.value,
            beta: &self.bias.value,
            y: y.buf_mut(),
            mean: &mut cache.mean,
            rstd: &mut cache.rstd,
        };
        x.device().layernorm_forward(rows, D, self.eps, bufs);
    }
    fn norm_backward<S: Shape>(dev: &B, n: usize, _cache: &LayerNormCache<B, E>, bufs: NormBwd<'_, B::Buf<E>>) {
        dev.layernorm_backward(n * S::NUMEL / D.max(1), D, bufs);
    }
}

super::norm_layer_impl!([const D: usize] LayerNorm<D, B, E>: S1<D>, LayerNormCache<B, E>);
super::norm_layer_impl!([const T: usize, const D: usize] LayerNorm<D, B, E>: S2<T, D>, LayerNormCache<B, E>);
super::norm_layer_impl!([const A: usize, const A2: usize, const D: usize] LayerNorm<D, B, E>: S3<A, A2, D>, LayerNormCache<B, E>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, randomise, state_dict};
    use crate::module::Layer;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    #[test]
    fn gradient_check_all_ranks() {
        let mut rng = Rng::new(4);
        let mut ln = LayerNorm::<5, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut ln, &mut rng, 1.0);
        assert_eq!(
            check_layer(&ln, &Tensor::<S1<5>, Cpu, f64>::randn(&Cpu, 3, &mut rng), true),
            2
        );
        assert_eq!(
            check_layer(&ln, &Tensor::<S2<2, 5>, Cpu, f64>::randn(&Cpu, 2, &mut rng), true),
            2
        );
        assert_eq!(
            check_layer(&ln, &Tensor::<S3<2, 2, 5>, Cpu, f64>::randn(&Cpu, 1, &mut rng), true),
            2
        );
    }

    #[test]
    fn state_dict_names() {
        let ln = LayerNorm::<6>::init(&Cpu, 0);
        let names = state_dict(&ln, "norm.");
        assert_eq!(
            names,
            vec![
                ("norm.weight".to_string(), vec![6], ParamKind::Trainable),
                ("norm.bias".to_string(), vec![6], ParamKind::Trainable)
            ]
        );
    }

    /// An empty batch gives an empty output.
    #[test]
    fn empty_batch() {
        let ln = LayerNorm::<3>::init(&Cpu, 0);
        assert!(ln.forward(&Tensor::<S2<4, 3>>::zeros(&Cpu, 0)).is_empty());
    }
}
