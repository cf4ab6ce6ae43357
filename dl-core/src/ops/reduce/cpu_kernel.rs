use super::{Reduce, ReduceDims, ReduceKernel};
use crate::cpu::for_each_chunk;
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;

/// Index along the axis of the first maximum of `x[o, :, i]` (the first NaN
/// if there is one), or `None` for an empty axis.
fn argmax<E: Float>(x: &[E], d: ReduceDims, i: usize) -> Option<usize> {
    let mut best: Option<(usize, E)> = None;
    for a in 0..d.axis {
        let v = x[a * d.inner + i];
        if v.is_nan() {
            return Some(a);
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((a, v)),
        }
    }
    best.map(|(a, _)| a)
}

impl ReduceKernel for Host {
    fn reduce_forward<E: Float>(&self, r: Reduce, d: ReduceDims, x: &Vec<E>, y: &mut Vec<E>) {
        let slab = d.axis * d.inner;
        assert!(x.len() >= d.outer * slab, "reduce_forward: buffer too small");
        y.resize(d.outer * d.inner, E::ZERO);
        if d.inner == 0 || d.outer == 0 {
            return;
        }
        let row = |(o, y): (usize, &mut [E])| {
            let x = &x[o * slab..(o + 1) * slab];
            for (i, y) in y.iter_mut().enumerate() {
                *y = match r {
                    Reduce::Sum | Reduce::Mean => {
                        let mut s = E::ZERO;
                        for a in 0..d.axis {
                            s += x[a * d.inner + i];
                        }
                        if r == Reduce::Mean {
                            s / E::from_usize(d.axis)
                        } else {
                            s
                        }
                    }
                    Reduce::Max => argmax(x, d, i).map_or(E::NEG_INFINITY, |a| x[a * d.inner + i]),
                };
            }
        };
        for_each_chunk(y, d.inner, d.outer * slab >= PAR_THRESHOLD, row);
    }

    fn reduce_backward<E: Float>(&self, r: Reduce, d: ReduceDims, x: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
        let slab = d.axis * d.inner;
        assert!(
            x.len() >= d.outer * slab && dy.len() >= d.outer * d.inner,
            "reduce_backward: buffer too small"
        );
        dx.resize(d.outer * slab, E::ZERO);
        if slab == 0 || d.outer == 0 {
            return;
        }
        let row = |(o, dx): (usize, &mut [E])| {
            let dy = &dy[o * d.inner..(o + 1) * d.inner];
            match r {
                Reduce::Sum | Reduce::Mean => {
                    let scale = if r == Reduce::Mean {
                        E::ONE / E::from_usize(d.axis)
                    } else {
                        E::ONE
                    };
                    for (k, v) in dx.iter_mut().enumerate() {
                        *v = dy[k % d.inner] * scale;
                    }
                }
                Reduce::Max => {
                    dx.iter_mut().for_each(|v| *v = E::ZERO);
                    let x = &x[o * slab..(o + 1) * slab];
                    for (i, &g) in dy.iter().enumerate() {
                        if let Some(a) = argmax(x, d, i) {
                            dx[a * d.inner + i] = g;
                        }
                    }
                }
            }
        };
        for_each_chunk(dx, slab, d.outer * slab >= PAR_THRESHOLD, row);
    }
}
