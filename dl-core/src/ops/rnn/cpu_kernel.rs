//! CPU loops of the recurrent step on host slices (also the host-copy
//! kernels of backends that opt in with `RnnOnHost`).

use super::{Cell, RnnKernel, RnnStep, RnnStepBwd, RnnStepFwd};
use crate::ops::mono::Host;

use crate::dtype::Float;

#[inline]
fn sigmoid<E: Float>(x: E) -> E {
    E::ONE / (E::ONE + (-x).exp())
}

fn check(s: &RnnStep, what: &str, len: usize, need: usize) {
    assert!(
        len >= need,
        "rnn step ({:?}): {what} has {len} elements, needs {need}",
        s.cell
    );
}

/// Asserts that the step, its time position and its output columns lie
/// inside the sequence and the output row.
#[track_caller]
fn check_position(s: &RnnStep) {
    assert!(
        s.step < s.t_len && s.time < s.t_len && s.y_offset + s.hidden <= s.y_width,
        "rnn step: position out of range"
    );
}

/// Forward step on host slices (see [`RnnKernel::rnn_step_forward`]).
pub fn rnn_step_forward_host<E: Float, Buf: AsRef<[E]> + AsMut<[E]> + ?Sized>(s: RnnStep, b: RnnStepFwd<'_, Buf>) {
    let (g, r, b_hh) = (b.g.as_ref(), b.r.as_ref(), b.b_hh.as_ref());
    let (h, c, acts, y) = (b.h.as_mut(), b.c.as_mut(), b.acts.as_mut(), b.y.as_mut());
    let (n, t, hd, k) = (s.n, s.t_len, s.hidden, s.step);
    let gh = s.cell.gates() * hd;
    check(&s, "g", g.len(), s.g_len());
    check(&s, "r", r.len(), n * gh);
    check(&s, "b_hh", b_hh.len(), gh);
    check(&s, "h", h.len(), s.state_len());
    check(&s, "acts", acts.len(), s.acts_len());
    check(&s, "y", y.len(), s.y_len());
    check_position(&s);
    if s.cell == Cell::Lstm {
        check(&s, "c", c.len(), s.state_len());
    }
    let (prev, next) = (k * n * hd, (k + 1) * n * hd);
    for b in 0..n {
        let gi = &g[(b * t + s.time) * gh..][..gh];
        let ri = &r[b * gh..][..gh];
        let a = &mut acts[(k * n + b) * 4 * hd..][..4 * hd];
        let yo = (b * t + s.time) * s.y_width + s.y_offset;
        for j in 0..hd {
            let pre = |x: usize| gi[x * hd + j] + ri[x * hd + j] + b_hh[x * hd + j];
            let hp = h[prev + b * hd + j];
            let hn = match s.cell {
                Cell::Lstm => {
                    let (i, f, gg, o) = (sigmoid(pre(0)), sigmoid(pre(1)), pre(2).tanh(), sigmoid(pre(3)));
                    let cn = f * c[prev + b * hd + j] + i * gg;
                    c[next + b * hd + j] = cn;
                    a[j] = i;
                    a[hd + j] = f;
                    a[2 * hd + j] = gg;
                    a[3 * hd + j] = o;
                    o * cn.tanh()
                }
                Cell::Gru => {
                    let rg = sigmoid(pre(0));
                    let z = sigmoid(pre(1));
                    let rn = ri[2 * hd + j] + b_hh[2 * hd + j];
                    let nn = (gi[2 * hd + j] + rg * rn).tanh();
                    a[j] = rg;
                    a[hd + j] = z;
                    a[2 * hd + j] = nn;
                    a[3 * hd + j] = rn;
                    (E::ONE - z) * nn + z * hp
                }
            };
            h[next + b * hd + j] = hn;
            y[yo + j] = hn;
        }
    }
}

/// Backward step on host slices (see [`RnnKernel::rnn_step_backward`]).
pub fn rnn_step_backward_host<E: Float, Buf: AsRef<[E]> + AsMut<[E]> + ?Sized>(s: RnnStep, b: RnnStepBwd<'_, Buf>) {
    let (acts, h, c, dy) = (b.acts.as_ref(), b.h.as_ref(), b.c.as_ref(), b.dy.as_ref());
    let (dh, dc, dg, dr) = (b.dh.as_mut(), b.dc.as_mut(), b.dg.as_mut(), b.dr.as_mut());
    let (n, t, hd, k) = (s.n, s.t_len, s.hidden, s.step);
    let gh = s.cell.gates() * hd;
    check(&s, "acts", acts.len(), s.acts_len());
    check(&s, "h", h.len(), s.state_len());
    check(&s, "dy", dy.len(), s.y_len());
    check(&s, "dh", dh.len(), n * hd);
    check(&s, "dg", dg.len(), s.g_len());
    check(&s, "dr", dr.len(), s.dr_len());
    check_position(&s);
    if s.cell == Cell::Lstm {
        check(&s, "c", c.len(), s.state_len());
        check(&s, "dc", dc.len(), n * hd);
    }
    let (prev, next) = (k * n * hd, (k + 1) * n * hd);
    for b in 0..n {
        let a = &acts[(k * n + b) * 4 * hd..][..4 * hd];
        let dgo = (b * t + s.time) * gh;
        let dro = (k * n + b) * gh;
        let yo = (b * t + s.time) * s.y_width + s.y_offset;
        for j in 0..hd {
            let dhj = dh[b * hd + j] + dy[yo + j];
            match s.cell {
                Cell::Lstm => {
                    let (i, f, gg, o) = (a[j], a[hd + j], a[2 * hd + j], a[3 * hd + j]);
                    let tc = c[next + b * hd + j].tanh();
                    let dcj = dc[b * hd + j] + dhj * o * (E::ONE - tc * tc);
                    let pre = [
                        dcj * gg * i * (E::ONE - i),
                        dcj * c[prev + b * hd + j] * f * (E::ONE - f),
                        dcj * i * (E::ONE - gg * gg),
                        dhj * tc * o * (E::ONE - o),
                    ];
                    for (x, &v) in pre.iter().enumerate() {
                        dg[dgo + x * hd + j] = v;
                        dr[dro + x * hd + j] = v;
                    }
                    dc[b * hd + j] = dcj * f;
                    dh[b * hd + j] = E::ZERO;
                }
                Cell::Gru => {
                    let (rg, z, nn, rn) = (a[j], a[hd + j], a[2 * hd + j], a[3 * hd + j]);
                    let hp = h[prev + b * hd + j];
                    let dnp = dhj * (E::ONE - z) * (E::ONE - nn * nn);
                    let dzp = dhj * (hp - nn) * z * (E::ONE - z);
                    let drp = dnp * rn * rg * (E::ONE - rg);
                    dg[dgo + j] = drp;
                    dg[dgo + hd + j] = dzp;
                    dg[dgo + 2 * hd + j] = dnp;
                    dr[dro + j] = drp;
                    dr[dro + hd + j] = dzp;
                    dr[dro + 2 * hd + j] = dnp * rg;
                    dh[b * hd + j] = dhj * z;
                }
            }
        }
    }
}

impl RnnKernel for Host {
    fn rnn_step_forward<E: Float>(&self, s: RnnStep, b: RnnStepFwd<'_, Vec<E>>) {
        rnn_step_forward_host(s, b);
    }
    fn rnn_step_backward<E: Float>(&self, s: RnnStep, b: RnnStepBwd<'_, Vec<E>>) {
        rnn_step_backward_host(s, b);
    }
}
