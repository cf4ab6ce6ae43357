use super::{BinaryDims, BinaryKernel, BinaryOp};
use crate::cpu::for_each_chunk;
use crate::cpu::{PAR_CHUNK, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

impl BinaryKernel for Host {
    fn binary_forward<E: Float>(&self, op: BinaryOp, d: BinaryDims, a: &Vec<E>, b: &Vec<E>, out: &mut Vec<E>) {
        let n = d.outer * d.inner;
        let b_len = if d.broadcast_b { d.inner } else { n };
        assert!(a.len() >= n && b.len() >= b_len, "binary_forward: buffer too small");
        out.resize(n, E::ZERO);
        if n == 0 {
            return;
        }
        let (a, b) = (&a[..n], &b[..b_len]);
        // Both layouts reduce to rows of `step` elements paired with rows of b.
        let step = if d.broadcast_b { d.inner } else { PAR_CHUNK };
        let row = |(o, (out, a)): (usize, (&mut [E], &[E]))| {
            let b = if d.broadcast_b {
                b
            } else {
                &b[o * step..o * step + out.len()]
            };
            for i in 0..out.len() {
                out[i] = op.apply(a[i], b[i]);
            }
        };
        if n >= PAR_THRESHOLD {
            out.par_chunks_mut(step)
                .zip(a.par_chunks(step))
                .enumerate()
                .for_each(row);
        } else {
            out.chunks_mut(step).zip(a.chunks(step)).enumerate().for_each(row);
        }
    }

    fn binary_backward<E: Float>(
        &self,
        op: BinaryOp,
        d: BinaryDims,
        a: &Vec<E>,
        b: &Vec<E>,
        dy: &Vec<E>,
        da: &mut Vec<E>,
        db: &mut Vec<E>,
    ) {
        let n = d.outer * d.inner;
        let b_len = if d.broadcast_b { d.inner } else { n };
        assert!(
            a.len() >= n && b.len() >= b_len && dy.len() >= n,
            "binary_backward: buffer too small"
        );
        da.resize(n, E::ZERO);
        db.resize(b_len, E::ZERO);
        let (a, b, dy) = (&a[..n], &b[..b_len], &dy[..n]);
        let bj = |i: usize| if d.broadcast_b { b[i % d.inner] } else { b[i] };
        let fill_da = |(c, da): (usize, &mut [E])| {
            for (k, v) in da.iter_mut().enumerate() {
                let i = c * PAR_CHUNK + k;
                *v = dy[i] * op.da(a[i], bj(i));
            }
        };
        for_each_chunk(da, PAR_CHUNK, n >= PAR_THRESHOLD, fill_da);
        if d.broadcast_b {
            // Column sums over the batch, each in batch order: deterministic.
            let col = |(j, g): (usize, &mut E)| {
                let mut acc = E::ZERO;
                for o in 0..d.outer {
                    let i = o * d.inner + j;
                    acc += dy[i] * op.db(a[i], b[j]);
                }
                *g = acc;
            };
            if n >= PAR_THRESHOLD {
                db.par_iter_mut().enumerate().for_each(col);
            } else {
                db.iter_mut().enumerate().for_each(col);
            }
        } else {
            let fill_db = |(c, db): (usize, &mut [E])| {
                for (k, v) in db.iter_mut().enumerate() {
                    let i = c * PAR_CHUNK + k;
                    *v = dy[i] * op.db(a[i], b[i]);
                }
            };
            for_each_chunk(db, PAR_CHUNK, n >= PAR_THRESHOLD, fill_db);
        }
    }
}
