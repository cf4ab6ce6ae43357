use super::{Pool2dDims, Pool2dKernel};
use crate::cpu::for_each_chunk;
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// Range `lo..hi` (input positions, clipped to `0..len`) of the window
/// starting at `o * stride - pad`.
#[inline]
fn window(o: usize, len: usize, k: usize, stride: usize, pad: usize) -> (usize, usize) {
    let start = o * stride;
    let lo = start.saturating_sub(pad);
    let hi = (start + k).saturating_sub(pad).min(len);
    (lo, hi.max(lo))
}

/// Runs `f(plane index, output plane, input plane)` for every plane,
/// in parallel when the work is large.
fn per_plane<A: Send, Bt: Send>(
    work: usize,
    a: &mut [A],
    a_len: usize,
    b: &mut [Bt],
    b_len: usize,
    f: impl Fn(usize, &mut [A], &mut [Bt]) + Sync,
) {
    if a_len == 0 || b_len == 0 {
        return;
    }
    if work >= PAR_THRESHOLD {
        a.par_chunks_mut(a_len)
            .zip(b.par_chunks_mut(b_len))
            .enumerate()
            .for_each(|(p, (a, b))| f(p, a, b));
    } else {
        a.chunks_mut(a_len)
            .zip(b.chunks_mut(b_len))
            .enumerate()
            .for_each(|(p, (a, b))| f(p, a, b));
    }
}

fn check(d: &Pool2dDims) {
    if let Err(e) = d.validate() {
        panic!("pool2d kernel called with invalid dimensions {d:?}: {e}");
    }
}

/// The max pool of one plane, any window (plane-relative argmax).
fn max_pool_plane<E: Float>(xp: &[E], d: &Pool2dDims, yp: &mut [E], ip: &mut [u32]) {
    let (oh, ow) = (d.oh(), d.ow());
    for oy in 0..oh {
        let (ylo, yhi) = window(oy, d.h, d.k, d.stride, d.pad);
        for ox in 0..ow {
            let (xlo, xhi) = window(ox, d.w, d.k, d.stride, d.pad);
            let mut best = E::NEG_INFINITY;
            let mut at = ylo * d.w + xlo;
            for iy in ylo..yhi {
                for ix in xlo..xhi {
                    let v = xp[iy * d.w + ix];
                    // Selects, not a branch (on real data the comparison
                    // is unpredictable). NaN propagates (the last NaN
                    // wins), as in PyTorch.
                    let take = (v > best) | v.is_nan();
                    best = if take { v } else { best };
                    at = if take { iy * d.w + ix } else { at };
                }
            }
            yp[oy * ow + ox] = best;
            ip[oy * ow + ox] = at as u32;
        }
    }
}

/// The common 2x2, stride 2, unpadded max pool of one plane, with the same
/// results as the general loop (same visiting order, so the same argmax on
/// ties; NaN propagates) but without its per-element window arithmetic and
/// bounds checks: a third of a small CNN's training step went to the
/// general loop ([`max_pool_plane`]).
fn max_pool_2x2<E: Float>(xp: &[E], w: usize, oh: usize, ow: usize, yp: &mut [E], ip: &mut [u32]) {
    for oy in 0..oh {
        let (s0, s1) = (2 * oy * w, (2 * oy + 1) * w);
        let (r0, r1) = (&xp[s0..s0 + 2 * ow], &xp[s1..s1 + 2 * ow]);
        let (yr, ir) = (&mut yp[oy * ow..(oy + 1) * ow], &mut ip[oy * ow..(oy + 1) * ow]);
        let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
        for (ox, ((y, i), (a, b))) in yr.iter_mut().zip(ir.iter_mut()).zip(pairs).enumerate() {
            let (i0, i1) = ((s0 + 2 * ox) as u32, (s1 + 2 * ox) as u32);
            let (mut best, mut at) = (a[0], i0);
            for (v, idx) in [(a[1], i0 + 1), (b[0], i1), (b[1], i1 + 1)] {
                let take = (v > best) | v.is_nan();
                best = if take { v } else { best };
                at = if take { idx } else { at };
            }
            *y = best;
            *i = at;
        }
    }
}

impl Pool2dKernel for Host {
    fn maxpool2d_forward<E: Float>(&self, d: Pool2dDims, x: &Vec<E>, y: &mut Vec<E>, argmax: &mut Vec<u32>) {
        check(&d);
        assert!(x.len() >= d.x_len(), "maxpool2d_forward: input too small");
        let (oh, ow, hw) = (d.oh(), d.ow(), d.h * d.w);
        y.resize(d.y_len(), E::ZERO);
        argmax.resize(d.y_len(), 0);
        per_plane(d.x_len(), y, oh * ow, argmax, oh * ow, |p, yp, ip| {
            let xp = &x[p * hw..(p + 1) * hw];
            if d.k == 2 && d.stride == 2 && d.pad == 0 {
                return max_pool_2x2(xp, d.w, oh, ow, yp, ip);
            }
            max_pool_plane(xp, &d, yp, ip);
        });
    }

    fn maxpool2d_backward<E: Float>(&self, d: Pool2dDims, argmax: &Vec<u32>, dy: &Vec<E>, dx: &mut Vec<E>) {
        check(&d);
        assert!(
            dy.len() >= d.y_len() && argmax.len() >= d.y_len(),
            "maxpool2d_backward: buffer too small"
        );
        let (ohw, hw) = (d.oh() * d.ow(), d.h * d.w);
        dx.resize(d.x_len(), E::ZERO);
        if ohw == 0 || hw == 0 {
            return;
        }
        let f = |(p, dxp): (usize, &mut [E])| {
            dxp.fill(E::ZERO);
            let (gp, ip) = (&dy[p * ohw..(p + 1) * ohw], &argmax[p * ohw..(p + 1) * ohw]);
            for (&g, &i) in gp.iter().zip(ip) {
                dxp[i as usize] += g;
            }
        };
        for_each_chunk(dx, hw, d.x_len() >= PAR_THRESHOLD, f);
    }

    fn avgpool2d_forward<E: Float>(&self, d: Pool2dDims, x: &Vec<E>, y: &mut Vec<E>) {
        check(&d);
        assert!(x.len() >= d.x_len(), "avgpool2d_forward: input too small");
        let (oh, ow, hw) = (d.oh(), d.ow(), d.h * d.w);
        let inv = E::ONE / E::from_usize(d.k * d.k);
        y.resize(d.y_len(), E::ZERO);
        if oh * ow == 0 {
            return;
        }
        let f = |(p, yp): (usize, &mut [E])| {
            let xp = &x[p * hw..(p + 1) * hw];
            for oy in 0..oh {
                let (ylo, yhi) = window(oy, d.h, d.k, d.stride, d.pad);
                for ox in 0..ow {
                    let (xlo, xhi) = window(ox, d.w, d.k, d.stride, d.pad);
                    let mut acc = E::ZERO;
                    for iy in ylo..yhi {
                        for &v in &xp[iy * d.w + xlo..iy * d.w + xhi] {
                            acc += v;
                        }
                    }
                    yp[oy * ow + ox] = acc * inv;
                }
            }
        };
        for_each_chunk(y, oh * ow, d.x_len() >= PAR_THRESHOLD, f);
    }

    fn avgpool2d_backward<E: Float>(&self, d: Pool2dDims, dy: &Vec<E>, dx: &mut Vec<E>) {
        check(&d);
        assert!(dy.len() >= d.y_len(), "avgpool2d_backward: gradient too small");
        let (oh, ow, hw) = (d.oh(), d.ow(), d.h * d.w);
        let inv = E::ONE / E::from_usize(d.k * d.k);
        dx.resize(d.x_len(), E::ZERO);
        if hw == 0 || oh * ow == 0 {
            return;
        }
        let f = |(p, dxp): (usize, &mut [E])| {
            dxp.fill(E::ZERO);
            let gp = &dy[p * oh * ow..(p + 1) * oh * ow];
            for oy in 0..oh {
                let (ylo, yhi) = window(oy, d.h, d.k, d.stride, d.pad);
                for ox in 0..ow {
                    let (xlo, xhi) = window(ox, d.w, d.k, d.stride, d.pad);
                    let g = gp[oy * ow + ox] * inv;
                    for iy in ylo..yhi {
                        for v in &mut dxp[iy * d.w + xlo..iy * d.w + xhi] {
                            *v += g;
                        }
                    }
                }
            }
        };
        for_each_chunk(dx, hw, d.x_len() >= PAR_THRESHOLD, f);
    }

    fn global_avgpool2d_forward<E: Float>(&self, planes: usize, hw: usize, x: &Vec<E>, y: &mut Vec<E>) {
        assert!(x.len() >= planes * hw, "global_avgpool2d_forward: input too small");
        y.resize(planes, E::ZERO);
        if hw == 0 {
            y.fill(E::ZERO);
            return;
        }
        let inv = E::ONE / E::from_usize(hw);
        let f = |(v, xp): (&mut E, &[E])| *v = xp.iter().copied().sum::<E>() * inv;
        if planes * hw >= PAR_THRESHOLD {
            y.par_iter_mut().zip(x.par_chunks(hw)).for_each(f);
        } else {
            y.iter_mut().zip(x.chunks(hw)).for_each(f);
        }
    }

    fn global_avgpool2d_backward<E: Float>(&self, planes: usize, hw: usize, dy: &Vec<E>, dx: &mut Vec<E>) {
        assert!(dy.len() >= planes, "global_avgpool2d_backward: gradient too small");
        dx.resize(planes * hw, E::ZERO);
        if hw == 0 {
            return;
        }
        let inv = E::ONE / E::from_usize(hw);
        let f = |(dxp, &g): (&mut [E], &E)| dxp.fill(g * inv);
        if planes * hw >= PAR_THRESHOLD {
            dx.par_chunks_mut(hw).zip(dy.par_iter()).for_each(f);
        } else {
            dx.chunks_mut(hw).zip(dy.iter()).for_each(f);
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The 2x2 fast path gives the general loop's values and argmax bit for
    /// bit, with ties, NaN and infinities, on even and odd plane sizes.
    #[test]
    fn max_pool_2x2_matches_the_general_loop() {
        let mut r = crate::Rng::new(5);
        for (h, w) in [(2usize, 2usize), (3, 5), (6, 6), (7, 9), (26, 26)] {
            let x: Vec<f32> = (0..h * w)
                .map(|_| match r.next_u64() % 10 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => 1.0,
                    _ => (r.next_u64() % 5) as f32 - 2.0,
                })
                .collect();
            let d = Pool2dDims {
                n: 1,
                c: 1,
                h,
                w,
                k: 2,
                stride: 2,
                pad: 0,
            };
            let (oh, ow) = (d.oh(), d.ow());
            let (mut ya, mut ia) = (vec![0f32; oh * ow], vec![0u32; oh * ow]);
            let (mut yb, mut ib) = (vec![0f32; oh * ow], vec![0u32; oh * ow]);
            max_pool_2x2(&x, w, oh, ow, &mut ya, &mut ia);
            max_pool_plane(&x, &d, &mut yb, &mut ib);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ya), bits(&yb), "values, {h}x{w}");
            assert_eq!(ia, ib, "argmax, {h}x{w}");
        }
    }
}
