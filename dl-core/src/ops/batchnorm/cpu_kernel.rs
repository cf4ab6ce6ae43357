use super::{
    check_backward, check_forward, BatchNormConfig, BatchNormKernel, NormBwd, NormDims, NormFwd, RunningStats,
};
use crate::cpu::for_each_chunk;
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// Runs `f(c)` for every channel, in parallel when the tensor is large.
fn per_channel<T: Send>(d: NormDims, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if d.outer * d.channels * d.inner >= PAR_THRESHOLD {
        (0..d.channels).into_par_iter().map(&f).collect()
    } else {
        (0..d.channels).map(f).collect()
    }
}

/// Calls `f(v)` with every value of channel `c`, in a fixed order.
#[inline(always)]
fn each<E: Float>(d: NormDims, x: &[E], c: usize, mut f: impl FnMut(usize, E)) {
    let row = d.channels * d.inner;
    for o in 0..d.outer {
        let s = o * row + c * d.inner;
        for (k, &v) in x[s..s + d.inner].iter().enumerate() {
            f(s + k, v);
        }
    }
}

/// Writes `y[o, c, i] = f(c, x[o, c, i])` for every element, parallel over `outer`.
fn map_rows<E: Float>(d: NormDims, x: &[E], y: &mut [E], f: impl Fn(usize, usize, E) -> E + Sync) {
    let row = d.channels * d.inner;
    if row == 0 {
        return;
    }
    let run = |(o, y): (usize, &mut [E])| {
        for (k, v) in y.iter_mut().enumerate() {
            let idx = o * row + k;
            *v = f(k / d.inner, idx, x[idx]);
        }
    };
    for_each_chunk(y, row, d.outer * row >= PAR_THRESHOLD, run);
}

/// Training statistics: the batch mean and `rstd` (biased variance, two
/// passes in f64) into `mean`/`rstd`; the running statistics updated with
/// the unbiased variance when there are at least two values per channel.
#[allow(clippy::too_many_arguments)]
fn batch_stats<E: Float>(
    d: NormDims,
    cfg: BatchNormConfig,
    x: &[E],
    mean: &mut [E],
    rstd: &mut [E],
    running_mean: &mut [E],
    running_var: &mut [E],
) {
    let m = d.outer * d.inner;
    let stats = per_channel(d, |c| {
        if m == 0 {
            return (0.0, 0.0);
        }
        let mut s = 0.0;
        each(d, x, c, |_, v| s += v.to_f64());
        let mu = s / m as f64;
        let mut ss = 0.0;
        each(d, x, c, |_, v| {
            let t = v.to_f64() - mu;
            ss += t * t;
        });
        (mu, ss / m as f64)
    });
    for (c, &(mu, var)) in stats.iter().enumerate() {
        mean[c] = E::from_f64(mu);
        rstd[c] = if m == 0 {
            E::ZERO
        } else {
            E::from_f64(1.0 / (var + cfg.eps).sqrt())
        };
        if m >= 2 {
            let unbiased = var * m as f64 / (m - 1) as f64;
            let k = cfg.momentum;
            running_mean[c] = E::from_f64((1.0 - k) * running_mean[c].to_f64() + k * mu);
            running_var[c] = E::from_f64((1.0 - k) * running_var[c].to_f64() + k * unbiased);
        }
    }
}

impl BatchNormKernel for Host {
    fn batchnorm_forward<E: Float>(
        &self,
        d: NormDims,
        cfg: BatchNormConfig,
        running: RunningStats<'_, Vec<E>>,
        b: NormFwd<'_, Vec<E>>,
    ) {
        check_forward(d, &b, &running, Vec::len);
        let (x, gamma, beta, y, mean, rstd) = (b.x, b.gamma, b.beta, b.y, b.mean, b.rstd);
        mean.resize(d.channels, E::ZERO);
        rstd.resize(d.channels, E::ZERO);
        match running {
            RunningStats::Update { mean: rm, var: rv } => batch_stats(d, cfg, x, mean, rstd, rm, rv),
            RunningStats::Use { mean: rm, var: rv } => {
                mean.copy_from_slice(&rm[..d.channels]);
                for (r, v) in rstd.iter_mut().zip(&rv[..d.channels]) {
                    *r = E::from_f64(1.0 / (v.to_f64() + cfg.eps).sqrt());
                }
            }
        }
        y.resize(d.outer * d.channels * d.inner, E::ZERO);
        let (mean, rstd) = (&mean[..], &rstd[..]);
        map_rows(d, x, y, |c, _, v| (v - mean[c]) * rstd[c] * gamma[c] + beta[c]);
    }

    fn batchnorm_backward<E: Float>(&self, d: NormDims, batch_stats: bool, b: NormBwd<'_, Vec<E>>) {
        check_backward(d, &b, Vec::len);
        let (x, gamma, mean, rstd, dy) = (b.x, b.gamma, b.mean, b.rstd, b.dy);
        let (dx, dgamma, dbeta) = (b.dx, b.dgamma, b.dbeta);
        // (sum dy, sum dy * xhat) per channel, in f64, fixed order.
        let sums = per_channel(d, |c| {
            let (mu, r) = (mean[c].to_f64(), rstd[c].to_f64());
            let (mut s, mut sx) = (0.0, 0.0);
            each(d, x, c, |idx, v| {
                let g = dy[idx].to_f64();
                s += g;
                sx += g * (v.to_f64() - mu) * r;
            });
            (s, sx)
        });
        let m = (d.outer * d.inner) as f64;
        let mut coef = Vec::with_capacity(d.channels);
        for (c, &(s, sx)) in sums.iter().enumerate() {
            dbeta[c] += E::from_f64(s);
            dgamma[c] += E::from_f64(sx);
            let gr = gamma[c].to_f64() * rstd[c].to_f64();
            // dx = gr * (dy - s/m - xhat * sx/m) in training, gr * dy in evaluation.
            coef.push(if batch_stats && m > 0.0 {
                (E::from_f64(gr), E::from_f64(s / m), E::from_f64(sx / m))
            } else {
                (E::from_f64(gr), E::ZERO, E::ZERO)
            });
        }
        dx.resize(d.outer * d.channels * d.inner, E::ZERO);
        map_rows(d, x, dx, |c, idx, v| {
            let (gr, a, b) = coef[c];
            let xhat = (v - mean[c]) * rstd[c];
            gr * (dy[idx] - a - xhat * b)
        });
    }
}
