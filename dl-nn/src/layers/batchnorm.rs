//! Batch normalisation over the channel axis: `BatchNorm1d` on `[N, C]`,
//! `BatchNorm2d` on `[N, C, H, W]`.
//!
//! Training mode (the default, as in PyTorch) normalises with the batch
//! mean and biased variance and updates the running statistics with
//! momentum, using the unbiased variance; evaluation mode normalises with
//! the running statistics. `forward` (inference) always uses the running
//! statistics.
//!
//! **PyTorch equivalent**: `nn.BatchNorm1d(C)`, `nn.BatchNorm2d(C)` (eps
//! 1e-5, momentum 0.1, affine, track_running_stats); state_dict names
//! `weight`, `bias`, `running_mean`, `running_var` (PyTorch's
//! `num_batches_tracked` counter is not kept: it only matters for
//! `momentum=None`).

use crate::module::Module;
use dl_core::init::Init;
use dl_core::ops::batchnorm::{BatchNormConfig, NormBwd, NormDims, NormFwd, RunningStats};
use dl_core::{Backend, Cpu, Float, Param, Shape, Tensor, S1, S3};

/// Forward on flat buffers `[outer, channels, inner]` (`bufs`: input,
/// weight and bias; output and the per-channel `mean`/`rstd` used, for the
/// backend's `batchnorm_backward`, all resized). In training mode
/// (`training`) uses batch statistics and updates `running_mean` and
/// `running_var`; otherwise uses them.
pub fn batchnorm_forward<B: Backend, E: Float>(
    dev: &B,
    d: NormDims,
    cfg: BatchNormConfig,
    training: bool,
    running_mean: &mut B::Buf<E>,
    running_var: &mut B::Buf<E>,
    bufs: NormFwd<'_, B::Buf<E>>,
) {
    let running = if training {
        RunningStats::Update {
            mean: running_mean,
            var: running_var,
        }
    } else {
        RunningStats::Use {
            mean: running_mean,
            var: running_var,
        }
    };
    dev.batchnorm_forward(d, cfg, running, bufs);
}

/// What backward needs from a batch-norm forward.
#[derive(Clone, Debug)]
pub struct BatchNormCache<B: Backend, E: Float> {
    /// Per-channel mean used.
    pub mean: B::Buf<E>,
    /// Per-channel `1 / sqrt(var + eps)` used.
    pub rstd: B::Buf<E>,
    /// Whether batch statistics were used (training mode).
    pub training: bool,
}

macro_rules! batchnorm_layer {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug, Module)]
        #[module(crate = crate, builtin)]
        pub struct $name<const C: usize, B: Backend = Cpu, E: Float = f32> {
            /// Scale `gamma` `[C]` (initialised to 1).
            #[param(init = Init::Const(1.0))]
            pub weight: Param<S1<C>, B, E>,
            /// Shift `beta` `[C]` (initialised to 0).
            pub bias: Param<S1<C>, B, E>,
            /// Running mean `[C]`, a buffer (initialised to 0).
            #[buffer]
            pub running_mean: Param<S1<C>, B, E>,
            /// Running (unbiased) variance `[C]`, a buffer (initialised to 1).
            #[buffer(init = Init::Const(1.0))]
            pub running_var: Param<S1<C>, B, E>,
            /// Hyperparameters (eps 1e-5, momentum 0.1).
            #[skip]
            pub config: BatchNormConfig,
            #[training]
            training: bool,
        }

        impl<const C: usize, B: Backend, E: Float> $name<C, B, E> {
            /// Whether the layer is in training mode.
            pub fn is_training(&self) -> bool {
                self.training
            }

            fn norm_cache(dev: &B) -> BatchNormCache<B, E> {
                BatchNormCache {
                    mean: dev.zeros(0),
                    rstd: dev.zeros(0),
                    training: true,
                }
            }

            fn norm_forward_train<S: Shape>(&mut self, x: &Tensor<S, B, E>, y: &mut Tensor<S, B, E>, cache: &mut BatchNormCache<B, E>) {
                y.set_batch(x.batch());
                let (d, x, y) = (dims::<C, S>(x.batch()), x.buf(), y.buf_mut());
                cache.training = self.training;
                let dev = self.weight.dev.clone();
                let bufs = NormFwd {
                    x,
                    gamma: &self.weight.value,
                    beta: &self.bias.value,
                    y,
                    mean: &mut cache.mean,
                    rstd: &mut cache.rstd,
                };
                let (rm, rv) = (self.running_mean.raw_mut(), self.running_var.raw_mut());
                batchnorm_forward(&dev, d, self.config, self.training, &mut rm.value, &mut rv.value, bufs);
            }

            fn norm_forward<S: Shape>(&self, x: &Tensor<S, B, E>, y: &mut Tensor<S, B, E>) {
                y.set_batch(x.batch());
                let (d, x, y) = (dims::<C, S>(x.batch()), x.buf(), y.buf_mut());
                let dev = &self.weight.dev;
                let (mut m, mut r) = (dev.zeros(0), dev.zeros(0));
                let running = RunningStats::Use {
                    mean: &self.running_mean.value,
                    var: &self.running_var.value,
                };
                let bufs = NormFwd {
                    x,
                    gamma: &self.weight.value,
                    beta: &self.bias.value,
                    y,
                    mean: &mut m,
                    rstd: &mut r,
                };
                dev.batchnorm_forward(d, self.config, running, bufs);
            }

            fn norm_backward<S: Shape>(dev: &B, n: usize, cache: &BatchNormCache<B, E>, bufs: NormBwd<'_, B::Buf<E>>) {
                dev.batchnorm_backward(dims::<C, S>(n), cache.training, bufs);
            }
        }

    };
}

batchnorm_layer!(
    /// Batch normalisation of `C` features, on `S1<C>` (`[N, C]`).
    ///
    /// **PyTorch equivalent**: `nn.BatchNorm1d(C)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let mut bn = BatchNorm1d::<2>::init(&Cpu, 0);
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 2, vec![1.0, 10.0, 3.0, 30.0]).unwrap();
    /// let (mut y, mut cache) = (Tensor::empty(&Cpu), BatchNorm1d::<2>::new_cache(&Cpu));
    /// bn.forward_train_into(&x, &mut y, &mut cache);
    /// assert!((y.to_vec()[0] + 1.0).abs() < 1e-4);
    /// assert!((bn.running_mean.value_vec()[1] - 2.0).abs() < 1e-6); // 0.9 * 0 + 0.1 * 20
    /// ```
    BatchNorm1d
);
batchnorm_layer!(
    /// Batch normalisation of `C` channels of images, on `S3<C, H, W>`
    /// (statistics over `N`, `H` and `W`).
    ///
    /// **PyTorch equivalent**: `nn.BatchNorm2d(C)`.
    BatchNorm2d
);

/// The runtime dimensions of a batch of `n` samples of shape `S`, whose
/// first axis holds the `C` channels: `[n, C, the rest]`.
fn dims<const C: usize, S: Shape>(n: usize) -> NormDims {
    NormDims {
        outer: n,
        channels: C,
        inner: S::NUMEL / C.max(1),
    }
}

super::norm_layer_impl!([const C: usize] BatchNorm1d<C, B, E>: S1<C>, BatchNormCache<B, E>);
super::norm_layer_impl!([const C: usize, const H: usize, const W: usize] BatchNorm2d<C, B, E>: S3<C, H, W>, BatchNormCache<B, E>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use crate::module::Layer;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    fn randomise<M: Module<Cpu, f64>>(m: &mut M, rng: &mut Rng) {
        m.for_each_param(&mut |p| {
            let v: Vec<f64> = (0..p.numel()).map(|_| rng.uniform_range(0.5, 1.5)).collect();
            p.set_value(&v).unwrap();
        });
    }

    #[test]
    fn gradient_check_1d_train_and_eval() {
        let mut rng = Rng::new(1);
        let mut bn = BatchNorm1d::<3, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut bn, &mut rng);
        let x = Tensor::<S1<3>, Cpu, f64>::randn(&Cpu, 5, &mut rng);
        assert_eq!(check_layer(&bn, &x, true), 2);
        bn.set_training(false);
        assert_eq!(check_layer(&bn, &x, true), 2);
    }

    #[test]
    fn gradient_check_2d_train_and_eval() {
        let mut rng = Rng::new(2);
        let mut bn = BatchNorm2d::<2, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut bn, &mut rng);
        let x = Tensor::<S3<2, 2, 3>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer(&bn, &x, true), 2);
        bn.set_training(false);
        assert_eq!(check_layer(&bn, &x, true), 2);
    }

    #[test]
    fn running_stats_update_only_in_training() {
        let mut bn = BatchNorm1d::<1>::init(&Cpu, 0);
        let x = Tensor::<S1<1>>::from_vec(&Cpu, 3, vec![1.0, 2.0, 6.0]).unwrap();
        let (mut y, mut c) = (Tensor::empty(&Cpu), BatchNorm1d::<1>::new_cache(&Cpu));
        bn.forward_train_into(&x, &mut y, &mut c);
        assert!((bn.running_mean.value_vec()[0] - 0.3).abs() < 1e-6);
        // unbiased variance of [1, 2, 6] is 7.
        assert!((bn.running_var.value_vec()[0] - (0.9 + 0.7)).abs() < 1e-6);
        bn.set_training(false);
        assert!(!bn.is_training());
        bn.forward_train_into(&x, &mut y, &mut c);
        assert!((bn.running_mean.value_vec()[0] - 0.3).abs() < 1e-6);
        let expect: Vec<f32> = [1.0f32, 2.0, 6.0]
            .iter()
            .map(|v| (v - 0.3) / (1.6f32 + 1e-5).sqrt())
            .collect();
        for (a, b) in y.to_vec().iter().zip(&expect) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(bn.forward(&x).to_vec(), y.to_vec());
    }

    #[test]
    fn state_dict_names_and_kinds() {
        let bn = BatchNorm2d::<4>::init(&Cpu, 0);
        let names = state_dict(&bn, "bn1.");
        let expect = [
            ("bn1.weight", ParamKind::Trainable),
            ("bn1.bias", ParamKind::Trainable),
            ("bn1.running_mean", ParamKind::Buffer),
            ("bn1.running_var", ParamKind::Buffer),
        ];
        assert_eq!(names.len(), 4);
        for ((n, dims, kind), (en, ek)) in names.iter().zip(expect) {
            assert_eq!((n.as_str(), dims.as_slice(), *kind), (en, &[4][..], ek));
        }
        assert_eq!(<BatchNorm2d<4> as Module<Cpu, f32>>::NUM_PARAMS, 8);
        assert_eq!(bn.running_var.value_vec(), vec![1.0; 4]);
    }

    /// An empty batch in training mode gives an empty output and leaves the
    /// running statistics unchanged.
    #[test]
    fn empty_batch() {
        let mut bn = BatchNorm1d::<2>::init(&Cpu, 0);
        let x = Tensor::<S1<2>>::zeros(&Cpu, 0);
        let (mut y, mut c) = (Tensor::empty(&Cpu), BatchNorm1d::<2>::new_cache(&Cpu));
        bn.forward_train_into(&x, &mut y, &mut c);
        assert!(y.is_empty());
        assert_eq!(bn.running_var.value_vec(), vec![1.0, 1.0]);
    }
}
