//! Layer normalisation over the last dimension, with a learned per-feature
//! scale and shift.
//!
//! **PyTorch equivalent**: `nn.LayerNorm(D)` (eps 1e-5, elementwise affine);
//! state_dict names `weight`, `bias`.

use crate::module::{Layer, Module, OutputShape};
use dl_core::init::Init;
use dl_core::ops::layernorm::{NormBwd, NormFwd};
use dl_core::{Backend, Cpu, Float, Param, Shape, Tensor, S1, S2, S3};

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
    fn fwd<S: Shape>(&self, x: &Tensor<S, B, E>, y: &mut Tensor<S, B, E>, cache: &mut LayerNormCache<B, E>) {
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
    fn bwd<S: Shape>(
        &mut self,
        x: &Tensor<S, B, E>,
        cache: &mut LayerNormCache<B, E>,
        dy: &Tensor<S, B, E>,
        dx: &mut Tensor<S, B, E>,
    ) {
        dx.set_batch(x.batch());
        let rows = x.len() / D.max(1);
        let w = self.weight.raw_mut();
        let bufs = NormBwd {
            x: x.buf(),
            gamma: &w.value,
            mean: &cache.mean,
            rstd: &cache.rstd,
            dy: dy.buf(),
            dx: dx.buf_mut(),
            dgamma: &mut w.grad,
            dbeta: &mut self.bias.raw_mut().grad,
        };
        x.device().layernorm_backward(rows, D, bufs);
    }
}

macro_rules! layernorm_impl {
    ([$($c:ident),*], $shape:ty) => {
        impl<$(const $c: usize,)* const D: usize, B: Backend, E: Float> OutputShape<$shape> for LayerNorm<D, B, E> {
            type Out = $shape;
        }

        impl<$(const $c: usize,)* const D: usize, B: Backend, E: Float> Layer<$shape, $shape, B, E> for LayerNorm<D, B, E> {
            type Cache = LayerNormCache<B, E>;

            fn new_cache(dev: &B) -> Self::Cache {
                LayerNormCache {
                    mean: dev.zeros(0),
                    rstd: dev.zeros(0),
                }
            }
            fn forward_into(&self, x: &Tensor<$shape, B, E>, out: &mut Tensor<$shape, B, E>) {
                let mut cache = <Self as Layer<$shape, $shape, B, E>>::new_cache(x.device());
                self.fwd(x, out, &mut cache);
            }
            fn forward_train_into(&mut self, x: &Tensor<$shape, B, E>, out: &mut Tensor<$shape, B, E>, cache: &mut Self::Cache) {
                self.fwd(x, out, cache);
            }
            fn backward_into(
                &mut self,
                x: &Tensor<$shape, B, E>,
                _out: &Tensor<$shape, B, E>,
                cache: &mut Self::Cache,
                dy: &Tensor<$shape, B, E>,
                dx: &mut Tensor<$shape, B, E>,
            ) {
                self.bwd(x, cache, dy, dx);
            }
        }
    };
}

layernorm_impl!([], S1<D>);
layernorm_impl!([T], S2<T, D>);
layernorm_impl!([A, A2], S3<A, A2, D>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, randomise, state_dict};
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
