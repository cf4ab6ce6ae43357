use super::{BiasDims, BiasKernel};
use crate::cpu::{Cpu, PAR_THRESHOLD};
use crate::dtype::Float;
use rayon::prelude::*;

impl BiasKernel for Cpu {
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
