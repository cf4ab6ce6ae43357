use super::{BiasDims, BiasKernel};
use crate::cpu::for_each_chunk;
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

impl BiasKernel for Host {
    fn bias_add<E: Float>(&self, d: BiasDims, b: &Vec<E>, y: &mut Vec<E>) {
        let row = d.channels * d.inner;
        assert!(
            b.len() >= d.channels && y.len() >= d.outer * row,
            "bias_add: buffer too small"
        );
        let add = |yo: &mut [E]| {
            for (c, yc) in yo.chunks_mut(d.inner.max(1)).enumerate() {
                let bc = b[c];
                yc.iter_mut().for_each(|v| *v += bc);
            }
        };
        if row == 0 {
            return;
        }
        let y = &mut y[..d.outer * row];
        if y.len() >= PAR_THRESHOLD {
            y.par_chunks_mut(row).for_each(add);
        } else {
            y.chunks_mut(row).for_each(add);
        }
    }
    fn bias_grad<E: Float>(&self, d: BiasDims, dy: &Vec<E>, db: &mut Vec<E>) {
        let row = d.channels * d.inner;
        assert!(
            db.len() >= d.channels && dy.len() >= d.outer * row,
            "bias_grad: buffer too small"
        );
        if d.inner == 1 {
            // A Linear layer's bias: dy is [outer, channels]. Walk it row by
            // row into 64 per-channel sums (a column walk per channel missed
            // the cache on every element). Per channel the additions run in
            // the same order as below, so the result is the same bit for bit.
            const CH: usize = 64;
            let f = |(ci, g): (usize, &mut [E])| {
                let (c0, w) = (ci * CH, g.len());
                let mut acc = [E::ZERO; CH];
                for o in 0..d.outer {
                    let r = &dy[o * row + c0..o * row + c0 + w];
                    for (a, &v) in acc.iter_mut().zip(r) {
                        *a += v;
                    }
                }
                for (gi, a) in g.iter_mut().zip(&acc) {
                    *gi += *a;
                }
            };
            for_each_chunk(&mut db[..d.channels], CH, d.outer * row >= PAR_THRESHOLD, f);
            return;
        }
        // Fixed summation order (channel-parallel, then outer, then inner): deterministic.
        let sum_c = |c: usize| -> E {
            let mut acc = E::ZERO;
            for o in 0..d.outer {
                let s = o * row + c * d.inner;
                for &v in &dy[s..s + d.inner] {
                    acc += v;
                }
            }
            acc
        };
        if d.outer * row >= PAR_THRESHOLD {
            db[..d.channels]
                .par_iter_mut()
                .enumerate()
                .for_each(|(c, g)| *g += sum_c(c));
        } else {
            db[..d.channels]
                .iter_mut()
                .enumerate()
                .for_each(|(c, g)| *g += sum_c(c));
        }
    }
}
