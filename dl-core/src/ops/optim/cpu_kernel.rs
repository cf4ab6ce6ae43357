use super::{AdagradHyper, AdamHyper, OptimKernel, Penalty, RmsPropHyper, SgdHyper};
use crate::cpu::{PAR_CHUNK, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::ops::loss::cpu_kernel::det_sum_range;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// Splits an optional state buffer (empty when unused) at `mid`.
fn split_opt<E>(s: &mut [E], mid: usize) -> (&mut [E], &mut [E]) {
    if s.is_empty() {
        (s, &mut [])
    } else {
        s.split_at_mut(mid)
    }
}

/// Per-element update `f(p, g, a, b, c)` over `p` and `g` with up to three
/// state buffers; an empty state buffer gives `f` a scratch zero instead.
/// Large buffers are split at chunk boundaries and run in parallel
/// (element-wise, so the result does not depend on the split).
fn apply<E: Float, F>(p: &mut [E], g: &[E], a: &mut [E], b: &mut [E], c: &mut [E], f: &F)
where
    F: Fn(&mut E, E, &mut E, &mut E, &mut E) + Sync,
{
    let n = p.len();
    if n >= PAR_THRESHOLD {
        let mid = (n / 2).div_ceil(PAR_CHUNK) * PAR_CHUNK;
        let (p0, p1) = p.split_at_mut(mid);
        let (g0, g1) = g.split_at(mid);
        let (a0, a1) = split_opt(a, mid);
        let (b0, b1) = split_opt(b, mid);
        let (c0, c1) = split_opt(c, mid);
        rayon::join(|| apply(p0, g0, a0, b0, c0, f), || apply(p1, g1, a1, b1, c1, f));
        return;
    }
    // One loop per combination of present state buffers, so that no loop
    // tests for them per element and each one vectorises.
    let (mut da, mut db, mut dc) = (E::ZERO, E::ZERO, E::ZERO);
    let pg = p.iter_mut().zip(&g[..n]);
    match (a.is_empty(), b.is_empty(), c.is_empty()) {
        (true, true, true) => pg.for_each(|(p, &g)| f(p, g, &mut da, &mut db, &mut dc)),
        (false, true, true) => pg
            .zip(&mut a[..n])
            .for_each(|((p, &g), a)| f(p, g, a, &mut db, &mut dc)),
        (false, false, true) => pg
            .zip(&mut a[..n])
            .zip(&mut b[..n])
            .for_each(|(((p, &g), a), b)| f(p, g, a, b, &mut dc)),
        (false, false, false) => pg
            .zip(&mut a[..n])
            .zip(&mut b[..n])
            .zip(&mut c[..n])
            .for_each(|((((p, &g), a), b), c)| f(p, g, a, b, c)),
        _ => {
            for i in 0..n {
                let a = if a.is_empty() { &mut da } else { &mut a[i] };
                let b = if b.is_empty() { &mut db } else { &mut b[i] };
                let c = if c.is_empty() { &mut dc } else { &mut c[i] };
                f(&mut p[i], g[i], a, b, c);
            }
        }
    }
}

impl OptimKernel for Host {
    fn sgd_update<E: Float>(&self, h: &SgdHyper, p: &mut Vec<E>, g: &Vec<E>, buf: &mut Vec<E>) {
        let use_m = h.momentum != 0.0;
        h.assert_lens(p.len(), g.len(), buf.len());
        let (lr, m, wd) = (E::from_f64(h.lr), E::from_f64(h.momentum), E::from_f64(h.weight_decay));
        let damp = E::from_f64(1.0 - h.dampening);
        let (first, nesterov, use_wd) = (h.first_step, h.nesterov, h.weight_decay != 0.0);
        if !use_m && !use_wd {
            // Plain SGD: one multiply-add per element.
            return apply(p, g, &mut [], &mut [], &mut [], &|p, g, _, _, _| *p -= lr * g);
        }
        let buf: &mut [E] = if use_m { buf } else { &mut [] };
        apply(p, g, buf, &mut [], &mut [], &|p, g, buf, _, _| {
            let mut d = if use_wd { g + wd * *p } else { g };
            if use_m {
                *buf = if first { d } else { m * *buf + damp * d };
                d = if nesterov { d + m * *buf } else { *buf };
            }
            *p -= lr * d;
        });
    }

    fn adagrad_update<E: Float>(&self, h: &AdagradHyper, p: &mut Vec<E>, g: &Vec<E>, sum: &mut Vec<E>) {
        h.assert_lens(p.len(), g.len(), sum.len());
        let (clr, eps, wd) = (E::from_f64(h.clr), E::from_f64(h.eps), E::from_f64(h.weight_decay));
        let use_wd = h.weight_decay != 0.0;
        apply(p, g, sum, &mut [], &mut [], &|p, g, s, _, _| {
            let d = if use_wd { g + wd * *p } else { g };
            *s += d * d;
            let std = s.sqrt() + eps;
            *p -= clr * (d / std);
        });
    }

    fn rmsprop_update<E: Float>(
        &self,
        h: &RmsPropHyper,
        p: &mut Vec<E>,
        g: &Vec<E>,
        square_avg: &mut Vec<E>,
        momentum_buf: &mut Vec<E>,
        grad_avg: &mut Vec<E>,
    ) {
        let (use_m, centered) = (h.momentum > 0.0, h.centered);
        h.assert_lens(p.len(), g.len(), square_avg.len(), momentum_buf.len(), grad_avg.len());
        let (lr, alpha, eps, wd, m) = (
            E::from_f64(h.lr),
            E::from_f64(h.alpha),
            E::from_f64(h.eps),
            E::from_f64(h.weight_decay),
            E::from_f64(h.momentum),
        );
        let one_m_alpha = E::from_f64(1.0 - h.alpha);
        let use_wd = h.weight_decay != 0.0;
        let mb: &mut [E] = if use_m { momentum_buf } else { &mut [] };
        let ga: &mut [E] = if centered { grad_avg } else { &mut [] };
        apply(p, g, square_avg, mb, ga, &|p, g, sq, buf, ga| {
            let d = if use_wd { g + wd * *p } else { g };
            *sq = alpha * *sq + one_m_alpha * d * d;
            let avg = if centered {
                *ga += one_m_alpha * (d - *ga);
                (*sq - *ga * *ga).sqrt() + eps
            } else {
                sq.sqrt() + eps
            };
            if use_m {
                *buf = m * *buf + d / avg;
                *p -= lr * *buf;
            } else {
                *p -= lr * (d / avg);
            }
        });
    }

    fn adam_update<E: Float>(
        &self,
        h: &AdamHyper,
        p: &mut Vec<E>,
        g: &Vec<E>,
        exp_avg: &mut Vec<E>,
        exp_avg_sq: &mut Vec<E>,
        max_exp_avg_sq: &mut Vec<E>,
    ) {
        h.assert_lens(p.len(), g.len(), exp_avg.len(), exp_avg_sq.len(), max_exp_avg_sq.len());
        let c = h.consts();
        let (step_size, bc2_sqrt, shrink) = (E::from_f64(c.step_size), E::from_f64(c.bc2_sqrt), E::from_f64(c.shrink));
        let (eps, wd) = (E::from_f64(h.eps), E::from_f64(h.weight_decay));
        let (b1c, b2, b2c) = (
            E::from_f64(c.one_minus_beta1),
            E::from_f64(h.beta2),
            E::from_f64(c.one_minus_beta2),
        );
        let (decoupled, amsgrad, use_wd) = (h.decoupled, h.amsgrad, h.weight_decay != 0.0);
        let vmax: &mut [E] = if amsgrad { max_exp_avg_sq } else { &mut [] };
        apply(p, g, exp_avg, exp_avg_sq, vmax, &|p, g, m, v, vmax| {
            let mut d = g;
            if use_wd {
                if decoupled {
                    *p *= shrink;
                } else {
                    d = g + wd * *p;
                }
            }
            *m += b1c * (d - *m);
            *v = b2 * *v + b2c * d * d;
            let vv = if amsgrad {
                *vmax = vmax.max(*v);
                *vmax
            } else {
                *v
            };
            let denom = vv.sqrt() / bc2_sqrt + eps;
            *p -= step_size * (*m / denom);
        });
    }

    fn sum_squares<E: Float>(&self, x: &Vec<E>) -> f64 {
        det_sum_range(x.len(), |r| {
            x[r].iter()
                .map(|v| {
                    let v = v.to_f64();
                    v * v
                })
                .sum()
        })
    }

    fn sum_abs<E: Float>(&self, x: &Vec<E>) -> f64 {
        det_sum_range(x.len(), |r| x[r].iter().map(|v| v.to_f64().abs()).sum())
    }

    fn scale<E: Float>(&self, x: &mut Vec<E>, s: f64) {
        let s = E::from_f64(s);
        if x.len() >= PAR_THRESHOLD {
            x.par_chunks_mut(PAR_CHUNK)
                .for_each(|c| c.iter_mut().for_each(|v| *v *= s));
        } else {
            x.iter_mut().for_each(|v| *v *= s);
        }
    }

    fn penalty_grad<E: Float>(&self, kind: Penalty, lambda: f64, w: &Vec<E>, g: &mut Vec<E>) {
        assert_eq!(w.len(), g.len(), "penalty_grad: weight and gradient lengths differ");
        let l = E::from_f64(lambda);
        // `apply` walks (p, g): here the gradient is the updated buffer.
        apply(g, w, &mut [], &mut [], &mut [], &|g, w, _, _, _| {
            *g += match kind {
                Penalty::L1 => {
                    if w > E::ZERO {
                        l
                    } else if w < E::ZERO {
                        -l
                    } else {
                        E::ZERO
                    }
                }
                Penalty::L2 => l * w,
            };
        });
    }
}
