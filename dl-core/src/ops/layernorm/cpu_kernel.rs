use super::{check_backward, check_forward, LayerNormKernel, NormBwd, NormFwd};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// An output row and its input row.
type RowOut<'a, E> = (&'a mut [E], &'a [E]);

/// Columns per parallel task of the parameter-gradient sums.
const COL_CHUNK: usize = 64;

impl LayerNormKernel for Host {
    fn layernorm_forward<E: Float>(&self, rows: usize, dim: usize, eps: f64, b: NormFwd<'_, Vec<E>>) {
        check_forward(rows, dim, &b, Vec::len);
        let (x, gamma, beta, y, mean, rstd) = (b.x, b.gamma, b.beta, b.y, b.mean, b.rstd);
        let n = rows * dim;
        y.resize(n, E::ZERO);
        mean.resize(rows, E::ZERO);
        rstd.resize(rows, E::ZERO);
        if n == 0 {
            return;
        }
        let run = |((y, x), (m, r)): (RowOut<E>, (&mut E, &mut E))| {
            let mu = x.iter().map(|v| v.to_f64()).sum::<f64>() / dim as f64;
            let var = x.iter().map(|v| (v.to_f64() - mu).powi(2)).sum::<f64>() / dim as f64;
            let rs = 1.0 / (var + eps).sqrt();
            *m = E::from_f64(mu);
            *r = E::from_f64(rs);
            for j in 0..dim {
                y[j] = E::from_f64((x[j].to_f64() - mu) * rs) * gamma[j] + beta[j];
            }
        };
        let x = &x[..n];
        if n >= PAR_THRESHOLD {
            y.par_chunks_mut(dim)
                .zip(x.par_chunks(dim))
                .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
                .for_each(run);
        } else {
            y.chunks_mut(dim)
                .zip(x.chunks(dim))
                .zip(mean.iter_mut().zip(rstd.iter_mut()))
                .for_each(run);
        }
    }

    fn layernorm_backward<E: Float>(&self, rows: usize, dim: usize, b: NormBwd<'_, Vec<E>>) {
        check_backward(rows, dim, &b, Vec::len);
        let (x, gamma, mean, rstd, dy) = (b.x, b.gamma, b.mean, b.rstd, b.dy);
        let (dx, dgamma, dbeta) = (b.dx, b.dgamma, b.dbeta);
        let n = rows * dim;
        dx.resize(n, E::ZERO);
        if n == 0 {
            return;
        }
        let xhat = |r: usize, j: usize| (x[r * dim + j].to_f64() - mean[r].to_f64()) * rstd[r].to_f64();
        // Input gradient, row by row: dx = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)).
        let row = |(r, dx): (usize, &mut [E])| {
            let (mut a, mut b) = (0.0, 0.0);
            for j in 0..dim {
                let gd = gamma[j].to_f64() * dy[r * dim + j].to_f64();
                a += gd;
                b += gd * xhat(r, j);
            }
            let (a, b) = (a / dim as f64, b / dim as f64);
            let rs = rstd[r].to_f64();
            for (j, v) in dx.iter_mut().enumerate() {
                let gd = gamma[j].to_f64() * dy[r * dim + j].to_f64();
                *v = E::from_f64(rs * (gd - a - xhat(r, j) * b));
            }
        };
        // Parameter gradients, column chunks, rows summed in order: row by
        // row into per-column sums (a column walk missed the cache on every
        // element), each column's additions in the same order as before.
        let cols = |(c, (dg, db)): (usize, (&mut [E], &mut [E]))| {
            let (j0, w) = (c * COL_CHUNK, dg.len());
            let (mut sg, mut sb) = ([0.0f64; COL_CHUNK], [0.0f64; COL_CHUNK]);
            for r in 0..rows {
                let d = &dy[r * dim + j0..r * dim + j0 + w];
                for (k, &g) in d.iter().enumerate() {
                    let g = g.to_f64();
                    sb[k] += g;
                    sg[k] += g * xhat(r, j0 + k);
                }
            }
            for k in 0..w {
                dg[k] += E::from_f64(sg[k]);
                db[k] += E::from_f64(sb[k]);
            }
        };
        let (dg, db) = (&mut dgamma[..dim], &mut dbeta[..dim]);
        if n >= PAR_THRESHOLD {
            dx.par_chunks_mut(dim).enumerate().for_each(row);
            dg.par_chunks_mut(COL_CHUNK)
                .zip(db.par_chunks_mut(COL_CHUNK))
                .enumerate()
                .for_each(cols);
        } else {
            dx.chunks_mut(dim).enumerate().for_each(row);
            dg.chunks_mut(COL_CHUNK)
                .zip(db.chunks_mut(COL_CHUNK))
                .enumerate()
                .for_each(cols);
        }
    }
}
