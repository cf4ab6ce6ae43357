//! Fused, per-element optimizer updates (SGD, Adagrad, RMSprop, Adam,
//! AdamW) on `(param, grad, state...)` buffers, plus the reductions and
//! scalings that gradient clipping and weight penalties need.
//!
//! Every update follows `torch.optim` exactly (the same operations in the
//! same order), so results match PyTorch to rounding in `f64`. Optional
//! state buffers (a momentum buffer when momentum is 0, `max_exp_avg_sq`
//! without AMSGrad) are passed empty. Sums are deterministic (fixed chunks,
//! summed in order, in `f64`).
//!
//! **PyTorch equivalent**: the single-tensor (`foreach=False`) code paths of
//! `torch.optim.SGD`, `Adagrad`, `RMSprop`, `Adam`, `AdamW`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// Hyperparameters of one SGD update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD, the momentum buffer is unused).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Whether the momentum buffer is uninitialised (it is then set to the gradient).
    pub first_step: bool,
}

/// Hyperparameters of one Adagrad update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradHyper {
    /// Learning rate of this step, already decayed: `lr / (1 + (t - 1) lr_decay)`.
    pub clr: f64,
    /// Added to the square root of the accumulator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

/// Hyperparameters of one RMSprop update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropHyper {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0: the momentum buffer is unused).
    pub momentum: f64,
    /// Centered RMSprop (normalise by the estimated variance; uses `grad_avg`).
    pub centered: bool,
}

/// Hyperparameters of one Adam or AdamW update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay: an L2 term in the gradient (Adam) or a decoupled
    /// shrinkage `p *= 1 - lr wd` (AdamW, when `decoupled`).
    pub weight_decay: f64,
    /// AdamW's decoupled weight decay.
    pub decoupled: bool,
    /// AMSGrad (uses `max_exp_avg_sq`).
    pub amsgrad: bool,
    /// Step number of this update, from 1 (for the bias corrections).
    pub step: u64,
}

/// The size contract of the update kernels, shared by every backend:
/// `g` matches `p`, and each state buffer is either empty or (when
/// `needed`) of `p`'s length. A mismatch is a bug in the caller and panics.
#[track_caller]
fn assert_state_lens(kernel: &str, p: usize, g: usize, states: &[(usize, bool)]) {
    assert_eq!(p, g, "{kernel}: gradient length {g} differs from parameter length {p}");
    for &(len, needed) in states {
        assert!(
            if needed { len == p } else { len == 0 || len == p },
            "{kernel}: state buffer of length {len} for a parameter of length {p}"
        );
    }
}

impl SgdHyper {
    /// Asserts the sizes of [`OptimKernel::sgd_update`]'s buffers (the
    /// momentum buffer is used when `momentum != 0`).
    #[track_caller]
    pub(crate) fn assert_lens(&self, p: usize, g: usize, buf: usize) {
        assert_state_lens("sgd_update", p, g, &[(buf, self.momentum != 0.0)]);
    }
}

impl AdagradHyper {
    /// Asserts the sizes of [`OptimKernel::adagrad_update`]'s buffers.
    #[track_caller]
    pub(crate) fn assert_lens(&self, p: usize, g: usize, sum: usize) {
        assert_state_lens("adagrad_update", p, g, &[(sum, true)]);
    }
}

impl Default for RmsPropHyper {
    /// PyTorch's defaults: `lr = 0.01`, `alpha = 0.99`, `eps = 1e-8`, no
    /// weight decay or momentum, not centered.
    fn default() -> Self {
        Self {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl RmsPropHyper {
    /// Asserts the sizes of [`OptimKernel::rmsprop_update`]'s buffers (the
    /// momentum buffer is used when `momentum > 0`, `grad_avg` when centered).
    #[track_caller]
    pub(crate) fn assert_lens(&self, p: usize, g: usize, square_avg: usize, momentum_buf: usize, grad_avg: usize) {
        let states = [
            (square_avg, true),
            (momentum_buf, self.momentum > 0.0),
            (grad_avg, self.centered),
        ];
        assert_state_lens("rmsprop_update", p, g, &states);
    }
}

/// The per-step constants of an Adam update, computed once on the host in
/// `f64` (every backend uses these values, so they agree to the bit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AdamConsts {
    /// `lr / (1 - beta1^t)`.
    pub(crate) step_size: f64,
    /// `sqrt(1 - beta2^t)`.
    pub(crate) bc2_sqrt: f64,
    /// AdamW's shrinkage `1 - lr wd`.
    pub(crate) shrink: f64,
    /// `1 - beta1`.
    pub(crate) one_minus_beta1: f64,
    /// `1 - beta2`.
    pub(crate) one_minus_beta2: f64,
}

impl AdamHyper {
    /// Asserts the step (from 1) and the sizes of
    /// [`OptimKernel::adam_update`]'s buffers (`max_exp_avg_sq` is used
    /// with AMSGrad).
    #[track_caller]
    pub(crate) fn assert_lens(&self, p: usize, g: usize, exp_avg: usize, exp_avg_sq: usize, max_exp_avg_sq: usize) {
        assert!(self.step >= 1, "adam_update: steps count from 1");
        let states = [(exp_avg, true), (exp_avg_sq, true), (max_exp_avg_sq, self.amsgrad)];
        assert_state_lens("adam_update", p, g, &states);
    }

    /// This step's constants.
    pub(crate) fn consts(&self) -> AdamConsts {
        let t = self.step as f64;
        AdamConsts {
            step_size: self.lr / (1.0 - self.beta1.powf(t)),
            bc2_sqrt: (1.0 - self.beta2.powf(t)).sqrt(),
            shrink: 1.0 - self.lr * self.weight_decay,
            one_minus_beta1: 1.0 - self.beta1,
            one_minus_beta2: 1.0 - self.beta2,
        }
    }
}

/// Which weight penalty [`OptimKernel::penalty_grad`] adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Penalty {
    /// `lambda sum |w|`, gradient `lambda sign(w)` with `sign(0) = 0`.
    L1,
    /// `lambda / 2 sum w^2`, gradient `lambda w`.
    L2,
}

/// Optimizer kernels of a backend. `p` (parameter), `g` (gradient) and every
/// used state buffer have the same length; unused state buffers are empty.
pub trait OptimKernel: Storage {
    /// `g' = g + wd p`; with momentum: `buf = g'` on the first step, else
    /// `buf = m buf + (1 - dampening) g'`, then `g' = g' + m buf` (Nesterov)
    /// or `g' = buf`; finally `p -= lr g'`.
    fn sgd_update<E: Float>(&self, h: &SgdHyper, p: &mut Self::Buf<E>, g: &Self::Buf<E>, buf: &mut Self::Buf<E>);
    /// `g' = g + wd p`; `sum += g'^2`; `p -= clr g' / (sqrt(sum) + eps)`.
    fn adagrad_update<E: Float>(
        &self,
        h: &AdagradHyper,
        p: &mut Self::Buf<E>,
        g: &Self::Buf<E>,
        sum: &mut Self::Buf<E>,
    );
    /// `g' = g + wd p`; `sq = alpha sq + (1 - alpha) g'^2`; centered:
    /// `ga = lerp(ga, g', 1 - alpha)`, `avg = sqrt(sq - ga^2) + eps`, else
    /// `avg = sqrt(sq) + eps`; with momentum `buf = m buf + g' / avg`,
    /// `p -= lr buf`, else `p -= lr g' / avg`.
    #[allow(clippy::too_many_arguments)]
    fn rmsprop_update<E: Float>(
        &self,
        h: &RmsPropHyper,
        p: &mut Self::Buf<E>,
        g: &Self::Buf<E>,
        square_avg: &mut Self::Buf<E>,
        momentum_buf: &mut Self::Buf<E>,
        grad_avg: &mut Self::Buf<E>,
    );
    /// AdamW first shrinks `p *= 1 - lr wd`; Adam adds `wd p` to the gradient.
    /// Then `m = lerp(m, g, 1 - b1)`, `v = b2 v + (1 - b2) g^2`
    /// (AMSGrad: `vmax = max(vmax, v)` and `vmax` replaces `v` below),
    /// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    #[allow(clippy::too_many_arguments)]
    fn adam_update<E: Float>(
        &self,
        h: &AdamHyper,
        p: &mut Self::Buf<E>,
        g: &Self::Buf<E>,
        exp_avg: &mut Self::Buf<E>,
        exp_avg_sq: &mut Self::Buf<E>,
        max_exp_avg_sq: &mut Self::Buf<E>,
    );
    /// `sum x^2` in `f64` (deterministic).
    fn sum_squares<E: Float>(&self, x: &Self::Buf<E>) -> f64;
    /// `sum |x|` in `f64` (deterministic).
    fn sum_abs<E: Float>(&self, x: &Self::Buf<E>) -> f64;
    /// `x *= s`.
    fn scale<E: Float>(&self, x: &mut Self::Buf<E>, s: f64);
    /// Accumulates a penalty's gradient: `g += lambda sign(w)` (L1) or
    /// `g += lambda w` (L2).
    fn penalty_grad<E: Float>(&self, kind: Penalty, lambda: f64, w: &Self::Buf<E>, g: &mut Self::Buf<E>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::testing::assert_close;
    use crate::{Cpu, Rng};

    fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut rng = Rng::new(seed);
        let p = (0..n).map(|_| rng.normal()).collect();
        let gs = (0..4).map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
        (p, gs)
    }

    /// SGD with momentum, dampening, Nesterov and weight decay against a
    /// scalar transcription of `torch.optim.SGD`.
    #[test]
    fn sgd_matches_reference() {
        let (p0, gs) = data(7, 1);
        for nesterov in [false, true] {
            let (mut p, mut buf) = (p0.clone(), vec![0.0; 7]);
            let (mut rp, mut rb) = (p0.clone(), vec![0.0; 7]);
            for (t, g) in gs.iter().enumerate() {
                let h = SgdHyper {
                    lr: 0.1,
                    momentum: 0.9,
                    dampening: 0.2,
                    weight_decay: 0.01,
                    nesterov,
                    first_step: t == 0,
                };
                Cpu.sgd_update(&h, &mut p, g, &mut buf);
                for i in 0..7 {
                    let mut d = g[i] + 0.01 * rp[i];
                    rb[i] = if t == 0 { d } else { 0.9 * rb[i] + 0.8 * d };
                    d = if nesterov { d + 0.9 * rb[i] } else { rb[i] };
                    rp[i] -= 0.1 * d;
                }
            }
            assert_close(&p, &rp, 1e-14, 1e-15);
            assert_close(&buf, &rb, 1e-14, 1e-15);
        }
        // momentum 0: no buffer needed
        let (mut p, g) = (vec![1.0f32, 2.0], vec![0.5f32, -1.0]);
        let h = SgdHyper {
            lr: 0.5,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            first_step: true,
        };
        Cpu.sgd_update(&h, &mut p, &g, &mut vec![]);
        assert_eq!(p, vec![0.75, 2.5]);
    }

    #[test]
    fn adam_and_adamw_match_reference() {
        let (p0, gs) = data(5, 2);
        for (decoupled, amsgrad) in [(false, false), (true, false), (false, true)] {
            let (mut p, mut m, mut v, mut vm) = (p0.clone(), vec![0.0; 5], vec![0.0; 5], vec![0.0; 5]);
            let mut rp = p0.clone();
            let (mut rm, mut rv, mut rvm) = (vec![0.0; 5], vec![0.0; 5], vec![0.0; 5]);
            for (t, g) in gs.iter().enumerate() {
                let step = t as u64 + 1;
                let h = AdamHyper {
                    lr: 0.01,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.1,
                    decoupled,
                    amsgrad,
                    step,
                };
                let vmax = if amsgrad { &mut vm } else { &mut Vec::new() };
                Cpu.adam_update(&h, &mut p, g, &mut m, &mut v, vmax);
                for i in 0..5 {
                    let mut gi = g[i];
                    if decoupled {
                        rp[i] *= 1.0 - 0.01 * 0.1;
                    } else {
                        gi += 0.1 * rp[i];
                    }
                    rm[i] = 0.9 * rm[i] + 0.1 * gi;
                    rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
                    rvm[i] = rvm[i].max(rv[i]);
                    let vv = if amsgrad { rvm[i] } else { rv[i] };
                    let mh = rm[i] / (1.0 - 0.9f64.powi(step as i32));
                    let vh = vv / (1.0 - 0.999f64.powi(step as i32));
                    rp[i] -= 0.01 * mh / (vh.sqrt() + 1e-8);
                }
            }
            assert_close(&p, &rp, 1e-12, 1e-14);
            assert_close(&m, &rm, 1e-12, 1e-14);
        }
    }

    #[test]
    fn adagrad_and_rmsprop_match_reference() {
        let (p0, gs) = data(6, 3);
        let (mut p, mut s) = (p0.clone(), vec![0.1; 6]);
        let (mut rp, mut rs) = (p0.clone(), vec![0.1; 6]);
        for (t, g) in gs.iter().enumerate() {
            let clr = 0.1 / (1.0 + t as f64 * 0.01);
            let h = AdagradHyper {
                clr,
                eps: 1e-10,
                weight_decay: 0.02,
            };
            Cpu.adagrad_update(&h, &mut p, g, &mut s);
            for i in 0..6 {
                let gi = g[i] + 0.02 * rp[i];
                rs[i] += gi * gi;
                rp[i] -= clr * gi / (rs[i].sqrt() + 1e-10);
            }
        }
        assert_close(&p, &rp, 1e-13, 1e-15);
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.5, true)] {
            let (mut p, mut sq, mut b, mut ga) = (p0.clone(), vec![0.0; 6], vec![0.0; 6], vec![0.0; 6]);
            let mut rp = p0.clone();
            let (mut rsq, mut rb, mut rga) = (vec![0.0; 6], vec![0.0; 6], vec![0.0; 6]);
            for g in &gs {
                let h = RmsPropHyper {
                    weight_decay: 0.01,
                    momentum,
                    centered,
                    ..RmsPropHyper::default()
                };
                let mut e1 = Vec::new();
                let mut e2 = Vec::new();
                let b = if momentum > 0.0 { &mut b } else { &mut e1 };
                let ga = if centered { &mut ga } else { &mut e2 };
                Cpu.rmsprop_update(&h, &mut p, g, &mut sq, b, ga);
                for i in 0..6 {
                    let gi = g[i] + 0.01 * rp[i];
                    rsq[i] = 0.99 * rsq[i] + 0.01 * gi * gi;
                    let mut var = rsq[i];
                    if centered {
                        rga[i] = 0.99 * rga[i] + 0.01 * gi;
                        var -= rga[i] * rga[i];
                    }
                    let avg = var.sqrt() + 1e-8;
                    if momentum > 0.0 {
                        rb[i] = momentum * rb[i] + gi / avg;
                        rp[i] -= 0.01 * rb[i];
                    } else {
                        rp[i] -= 0.01 * gi / avg;
                    }
                }
            }
            assert_close(&p, &rp, 1e-12, 1e-14);
        }
    }

    #[test]
    fn sums_scale_and_penalties() {
        let x = vec![3.0f32, -4.0, 0.0];
        assert_eq!(Cpu.sum_squares(&x), 25.0);
        assert_eq!(Cpu.sum_abs(&x), 7.0);
        let mut y = x.clone();
        Cpu.scale(&mut y, 0.5);
        assert_eq!(y, vec![1.5, -2.0, 0.0]);
        let mut g = vec![1.0f32; 3];
        Cpu.penalty_grad(Penalty::L1, 0.5, &x, &mut g);
        assert_eq!(g, vec![1.5, 0.5, 1.0]);
        Cpu.penalty_grad(Penalty::L2, 0.5, &x, &mut g);
        assert_eq!(g, vec![3.0, -1.5, 1.0]);
        let e: Vec<f64> = vec![];
        assert_eq!(Cpu.sum_squares(&e), 0.0);
    }

    /// Large buffers take the parallel path and give the same result as the
    /// sequential update of each element, deterministically.
    #[test]
    fn parallel_path_matches_and_is_deterministic() {
        let n = crate::cpu::PAR_THRESHOLD * 2 + 5;
        let (p0, gs) = data(n, 4);
        let h = AdamHyper {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: true,
            amsgrad: false,
            step: 1,
        };
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
        Cpu.adam_update(&h, &mut p, &gs[0], &mut m, &mut v, &mut vec![]);
        let (mut q, mut mq, mut vq) = (vec![p0[n - 1]], vec![0.0], vec![0.0]);
        Cpu.adam_update(&h, &mut q, &vec![gs[0][n - 1]], &mut mq, &mut vq, &mut vec![]);
        assert_eq!(p[n - 1], q[0]);
        let s1 = Cpu.sum_squares(&p);
        assert_eq!(s1.to_bits(), Cpu.sum_squares(&p).to_bits());
        let seq: f64 = p.iter().map(|v| v * v).sum();
        assert_close(&[s1], &[seq], 1e-12, 0.0);
    }
}
