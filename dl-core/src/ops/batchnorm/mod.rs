//! Batch-normalisation kernels over a runtime `[outer, channels, inner]`
//! layout (`outer = N`, `inner = H * W`; `inner = 1` for `[N, C]`).
//!
//! * Training: normalise with the batch mean and the *biased* batch
//!   variance; update the running statistics with `momentum`, using the
//!   *unbiased* variance (divisor `n - 1`) as PyTorch does.
//! * Evaluation: normalise with the running statistics.
//!
//! Both forwards save the mean and `rstd = 1 / sqrt(var + eps)` used, for
//! the backward. Statistics are accumulated in `f64` in a fixed order.
//!
//! **PyTorch equivalent**: `F.batch_norm(x, running_mean, running_var,
//! weight, bias, training, momentum, eps)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
pub use crate::ops::bias::BiasDims as NormDims;

/// Hyperparameters of batch normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance (PyTorch default 1e-5).
    pub eps: f64,
    /// Weight of the new batch statistic in the running update (PyTorch default 0.1).
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// The buffers of a normalisation forward (batch norm, layer norm): the
/// input, the affine parameters, the output and the statistics saved for
/// the backward. `Buf` is a backend's buffer type.
#[derive(Debug)]
pub struct NormFwd<'a, Buf> {
    /// Input.
    pub x: &'a Buf,
    /// Scale, per channel (batch norm) or feature (layer norm).
    pub gamma: &'a Buf,
    /// Shift, like `gamma`.
    pub beta: &'a Buf,
    /// Output (resized to `x`).
    pub y: &'a mut Buf,
    /// The mean used, per channel (batch norm) or row (layer norm); resized.
    pub mean: &'a mut Buf,
    /// The `1 / sqrt(var + eps)` used, like `mean`.
    pub rstd: &'a mut Buf,
}

/// The buffers of a normalisation backward: what the forward read and
/// saved ([`NormFwd`]), the output gradient `dy`, the input gradient `dx`
/// (**overwritten**, resized to `x`) and the parameter gradients `dgamma`,
/// `dbeta` (**accumulated**).
#[derive(Debug)]
pub struct NormBwd<'a, Buf> {
    /// Input of the forward.
    pub x: &'a Buf,
    /// Scale.
    pub gamma: &'a Buf,
    /// Mean saved by the forward.
    pub mean: &'a Buf,
    /// `rstd` saved by the forward.
    pub rstd: &'a Buf,
    /// Output gradient.
    pub dy: &'a Buf,
    /// Input gradient.
    pub dx: &'a mut Buf,
    /// Scale gradient.
    pub dgamma: &'a mut Buf,
    /// Shift gradient.
    pub dbeta: &'a mut Buf,
}

impl<Buf> NormFwd<'_, Buf> {
    /// The lengths, by `len`, of the inputs `[x, gamma, beta]`.
    pub(crate) fn input_lens(&self, len: impl Fn(&Buf) -> usize) -> [usize; 3] {
        [len(self.x), len(self.gamma), len(self.beta)]
    }
}

impl<Buf> NormBwd<'_, Buf> {
    /// The lengths, by `len`, of `[x, dy]`, `[mean, rstd]` and the
    /// per-parameter buffers `[gamma, dgamma, dbeta]`.
    pub(crate) fn lens(&self, len: impl Fn(&Buf) -> usize) -> ([usize; 2], [usize; 2], [usize; 3]) {
        (
            [len(self.x), len(self.dy)],
            [len(self.mean), len(self.rstd)],
            [len(self.gamma), len(self.dgamma), len(self.dbeta)],
        )
    }
}

/// The running statistics of a batch-norm forward: updated in training,
/// used in evaluation.
#[derive(Debug)]
pub enum RunningStats<'a, Buf> {
    /// Training: normalise with the batch statistics; update these with
    /// `momentum`, using the unbiased variance.
    Update {
        /// Running mean, per channel.
        mean: &'a mut Buf,
        /// Running variance, per channel.
        var: &'a mut Buf,
    },
    /// Evaluation: normalise with these (left unchanged).
    Use {
        /// Running mean, per channel.
        mean: &'a Buf,
        /// Running variance, per channel.
        var: &'a Buf,
    },
}

impl<Buf> RunningStats<'_, Buf> {
    /// The lengths of the two buffers, by `len`.
    pub(crate) fn lens(&self, len: impl Fn(&Buf) -> usize) -> [usize; 2] {
        match self {
            Self::Update { mean, var } => [len(mean), len(var)],
            Self::Use { mean, var } => [len(mean), len(var)],
        }
    }
}

/// The size contract of the batch-norm kernels: `x` (and `dy`) hold
/// `outer * channels * inner` elements and each per-channel buffer
/// (`gamma`, `beta`, the statistics and gradients) `channels`. A smaller
/// buffer is a bug in the caller and panics.
#[track_caller]
fn assert_sizes(d: NormDims, data: &[usize], per_channel: &[usize]) {
    assert!(
        data.iter().all(|&l| l >= d.outer * d.channels * d.inner) && per_channel.iter().all(|&l| l >= d.channels),
        "batchnorm: buffer too small"
    );
}

/// [`assert_sizes`] for a forward, buffer lengths by `len`.
#[track_caller]
pub(crate) fn check_forward<Buf>(
    d: NormDims,
    b: &NormFwd<'_, Buf>,
    r: &RunningStats<'_, Buf>,
    len: impl Fn(&Buf) -> usize,
) {
    let ([x, gamma, beta], [rm, rv]) = (b.input_lens(&len), r.lens(&len));
    assert_sizes(d, &[x], &[gamma, beta, rm, rv]);
}

/// [`assert_sizes`] for a backward, buffer lengths by `len`.
#[track_caller]
pub(crate) fn check_backward<Buf>(d: NormDims, b: &NormBwd<'_, Buf>, len: impl Fn(&Buf) -> usize) {
    let (data, stats, params) = b.lens(len);
    assert_sizes(d, &data, &[stats[0], stats[1], params[0], params[1], params[2]]);
}

/// Batch-norm kernels of a backend.
pub trait BatchNormKernel: Storage {
    /// Forward: `y = (x - mean_c) * rstd_c * gamma_c + beta_c`, with the
    /// batch statistics in training (`running` is [`RunningStats::Update`]:
    /// the running statistics are updated in place) or the running ones in
    /// evaluation ([`RunningStats::Use`]). Writes `y` (resized to `x`) and
    /// the `mean`/`rstd` used (resized to `channels`), for
    /// [`BatchNormKernel::batchnorm_backward`].
    ///
    /// In training with fewer than two values per channel the unbiased
    /// variance is undefined (PyTorch raises); the running statistics are
    /// then left unchanged. An empty batch writes an empty `y`, `mean = 0`,
    /// `rstd = 0`.
    fn batchnorm_forward<E: Float>(
        &self,
        d: NormDims,
        cfg: BatchNormConfig,
        running: RunningStats<'_, Self::Buf<E>>,
        b: NormFwd<'_, Self::Buf<E>>,
    );
    /// Backward: writes `dx` (resized to `x`), accumulates `dgamma += sum dy
    /// xhat` and `dbeta += sum dy`. `batch_stats` says whether the forward
    /// used batch statistics (training: `dx` includes the gradient through
    /// the mean and variance) or fixed ones (evaluation: `dx = dy gamma rstd`).
    fn batchnorm_backward<E: Float>(&self, d: NormDims, batch_stats: bool, b: NormBwd<'_, Self::Buf<E>>);
}

/// Host-data drivers of the normalisation kernels, for the CPU tests of
/// batch and layer norm and the CUDA parity tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{NormBwd, NormFwd};
    use crate::{Float, Storage};

    /// A normalisation forward on `dev` from host data: uploads `[x, gamma,
    /// beta]`, runs `f` and returns `[y, mean, rstd]` on the host.
    pub(crate) fn norm_fwd<B: Storage, E: Float>(
        dev: &B,
        ins: [&[E]; 3],
        f: impl FnOnce(NormFwd<'_, B::Buf<E>>),
    ) -> [Vec<E>; 3] {
        let [x, gamma, beta] = ins.map(|v| dev.from_slice(v));
        let [mut y, mut mean, mut rstd] = [0; 3].map(|_| dev.zeros(0));
        let bufs = NormFwd {
            x: &x,
            gamma: &gamma,
            beta: &beta,
            y: &mut y,
            mean: &mut mean,
            rstd: &mut rstd,
        };
        f(bufs);
        [y, mean, rstd].map(|b| dev.to_vec(&b))
    }

    /// A normalisation backward likewise: uploads `[x, gamma, mean, rstd, dy]`
    /// and the parameter gradients `[dgamma, dbeta]` it accumulates into, runs
    /// `f` and returns `[dx, dgamma, dbeta]` on the host.
    pub(crate) fn norm_bwd<B: Storage, E: Float>(
        dev: &B,
        ins: [&[E]; 5],
        grads: [&[E]; 2],
        f: impl FnOnce(NormBwd<'_, B::Buf<E>>),
    ) -> [Vec<E>; 3] {
        let [x, gamma, mean, rstd, dy] = ins.map(|v| dev.from_slice(v));
        let [mut dgamma, mut dbeta] = grads.map(|v| dev.from_slice(v));
        let mut dx = dev.zeros(0);
        let bufs = NormBwd {
            x: &x,
            gamma: &gamma,
            mean: &mean,
            rstd: &rstd,
            dy: &dy,
            dx: &mut dx,
            dgamma: &mut dgamma,
            dbeta: &mut dbeta,
        };
        f(bufs);
        [dx, dgamma, dbeta].map(|b| dev.to_vec(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{norm_bwd, norm_fwd};
    use super::*;
    use crate::gradcheck::{assert_gradients, GradCheck};
    use crate::ops::util::testing::assert_close;
    use crate::{Cpu, Rng};

    const D: NormDims = NormDims {
        outer: 3,
        channels: 2,
        inner: 2,
    };

    struct Out {
        y: Vec<f64>,
        mean: Vec<f64>,
        rstd: Vec<f64>,
        rm: Vec<f64>,
        rv: Vec<f64>,
    }

    fn train(d: NormDims, x: &[f64], g: &[f64], b: &[f64]) -> Out {
        let (mut rm, mut rv) = (vec![0.5; d.channels], vec![2.0; d.channels]);
        let [y, mean, rstd] = norm_fwd(&Cpu, [x, g, b], |bufs| {
            let running = RunningStats::Update {
                mean: &mut rm,
                var: &mut rv,
            };
            Cpu.batchnorm_forward(d, BatchNormConfig::default(), running, bufs)
        });
        Out { y, mean, rstd, rm, rv }
    }

    #[test]
    fn training_forward_values_and_running_stats() {
        // channel 0 holds 0..6 (indices 0,1,4,5,8,9 hold 0,1,2,3,4,5), channel 1 holds 10 * that.
        let x: Vec<f64> = (0..12)
            .map(|k| {
                let (o, c, i) = (k / 4, (k / 2) % 2, k % 2);
                let v = (2 * o + i) as f64;
                if c == 0 {
                    v
                } else {
                    10.0 * v
                }
            })
            .collect();
        let o = train(D, &x, &[1.0, 2.0], &[0.0, 1.0]);
        assert_close(&o.mean, &[2.5, 25.0], 1e-15, 0.0);
        let var0 = 17.5 / 6.0; // biased
        assert_close(
            &o.rstd,
            &[1.0 / (var0 + 1e-5).sqrt(), 1.0 / (100.0 * var0 + 1e-5).sqrt()],
            1e-14,
            0.0,
        );
        assert_close(&[o.y[0]], &[-2.5 / (var0 + 1e-5).sqrt()], 1e-14, 0.0);
        assert_close(&o.rm, &[0.9 * 0.5 + 0.25, 0.9 * 0.5 + 2.5], 1e-15, 0.0);
        assert_close(&o.rv, &[0.9 * 2.0 + 0.1 * 3.5, 0.9 * 2.0 + 0.1 * 350.0], 1e-14, 0.0);
    }

    #[test]
    fn gradient_check_train_and_eval() {
        let mut rng = Rng::new(8);
        let x: Vec<f64> = (0..12).map(|_| rng.normal()).collect();
        let g = vec![0.7, -1.3];
        let b = vec![0.2, 0.1];
        let up: Vec<f64> = (0..12).map(|i| (i as f64 * 1.3).sin()).collect();
        let rm = vec![0.1, -0.2];
        let rv = vec![0.5, 1.5];
        for batch_stats in [true, false] {
            let fwd = |x: &[f64], g: &[f64], b: &[f64]| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
                if batch_stats {
                    let o = train(D, x, g, b);
                    (o.y, o.mean, o.rstd)
                } else {
                    let running = RunningStats::Use { mean: &rm, var: &rv };
                    let [y, m, r] = norm_fwd(&Cpu, [x, g, b], |bufs| {
                        Cpu.batchnorm_forward(D, BatchNormConfig::default(), running, bufs)
                    });
                    (y, m, r)
                }
            };
            let loss = |[x, g, b]: [&[f64]; 3]| fwd(x, g, b).0.iter().zip(&up).map(|(a, b)| a * b).sum();
            let (_, mean, rstd) = fwd(&x, &g, &b);
            let ins = [&x[..], &g, &mean, &rstd, &up];
            let [dx, dg, db] = norm_bwd(&Cpu, ins, [&[0.0; 2], &[0.0; 2]], |bufs| {
                Cpu.batchnorm_backward(D, batch_stats, bufs)
            });
            let what = format!("batch_stats {batch_stats}");
            assert_gradients(loss, [&x, &g, &b], [&dx, &dg, &db], GradCheck::default(), what);
        }
    }

    /// A NaN poisons its channel's statistics (that channel's outputs and
    /// running statistics become NaN); the other channels are unaffected.
    #[test]
    fn nan_input_poisons_its_channel_only() {
        let mut x: Vec<f64> = (0..12).map(|v| v as f64).collect();
        x[0] = f64::NAN;
        let o = train(D, &x, &[1.0, 1.0], &[0.0, 0.0]);
        assert!(o.y[1].is_nan() && o.rm[0].is_nan() && o.rv[0].is_nan());
        assert!(o.y[2].is_finite() && o.rm[1].is_finite() && o.rv[1].is_finite());
    }

    /// An empty batch writes an empty output and leaves the running
    /// statistics unchanged; so does a single value per channel (the
    /// unbiased variance is undefined).
    #[test]
    fn empty_batch_and_single_value() {
        let d0 = NormDims { outer: 0, ..D };
        let o = train(d0, &[], &[1.0, 1.0], &[0.0, 0.0]);
        assert!(o.y.is_empty());
        assert_eq!((o.rm, o.rv), (vec![0.5; 2], vec![2.0; 2]));
        let (mut dx, mut dg, mut db) = (vec![1.0], vec![0.0; 2], vec![0.0; 2]);
        let bufs = NormBwd {
            x: &vec![],
            gamma: &vec![1.0, 1.0],
            mean: &o.mean,
            rstd: &o.rstd,
            dy: &vec![],
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
        };
        Cpu.batchnorm_backward(d0, true, bufs);
        assert!(dx.is_empty() && dg == vec![0.0; 2]);
        let d1 = NormDims {
            outer: 1,
            channels: 2,
            inner: 1,
        };
        let o = train(d1, &[3.0, 4.0], &[1.0, 1.0], &[0.5, 0.5]);
        assert_eq!(o.y, vec![0.5, 0.5]);
        assert_eq!((o.rm, o.rv), (vec![0.5; 2], vec![2.0; 2]));
    }
}
