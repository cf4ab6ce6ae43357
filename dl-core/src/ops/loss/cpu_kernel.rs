use super::{BadLabel, ClassDims, LossKernel, PointwiseLoss};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

/// Smallest chunk of a deterministic reduction, in elements.
const MIN_CHUNK: usize = 4096;
/// Most chunks of a deterministic reduction (their partial sums live on the stack).
pub(crate) const MAX_PARTS: usize = 256;

/// Rows per chunk for `rows` rows of `row_len` elements: a function of the
/// problem size only, so the summation order never depends on threads.
fn chunk_rows(rows: usize, row_len: usize) -> usize {
    (MIN_CHUNK / row_len.max(1)).max(1).max(rows.div_ceil(MAX_PARTS))
}

/// Sums `f(first_row, out_chunk)` over fixed chunks of `rows` rows of
/// `row_len` elements of `out`, in chunk order (parallel when large).
/// Allocation-free: partial sums are on the stack.
pub(crate) fn det_sum_rows<E: Float, R: Send + Copy + Default + std::iter::Sum>(
    rows: usize,
    row_len: usize,
    out: &mut [E],
    f: impl Fn(usize, &mut [E]) -> R + Sync,
) -> R {
    if rows == 0 || row_len == 0 {
        return R::default();
    }
    let per = chunk_rows(rows, row_len);
    let parts = rows.div_ceil(per);
    let mut acc = [R::default(); MAX_PARTS];
    let clen = per * row_len;
    let out = &mut out[..rows * row_len];
    if rows * row_len >= PAR_THRESHOLD {
        out.par_chunks_mut(clen)
            .zip(acc[..parts].par_iter_mut())
            .enumerate()
            .for_each(|(i, (o, a))| *a = f(i * per, o));
    } else {
        out.chunks_mut(clen)
            .zip(acc[..parts].iter_mut())
            .enumerate()
            .for_each(|(i, (o, a))| *a = f(i * per, o));
    }
    acc[..parts].iter().copied().sum()
}

/// Like [`det_sum_rows`] without an output: sums `f(range)` over fixed
/// chunks of `0..n`, in order.
pub(crate) fn det_sum_range(n: usize, f: impl Fn(std::ops::Range<usize>) -> f64 + Sync) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let per = chunk_rows(n, 1);
    let parts = n.div_ceil(per);
    let mut acc = [0f64; MAX_PARTS];
    let run = |(i, a): (usize, &mut f64)| *a = f(i * per..((i + 1) * per).min(n));
    if n >= PAR_THRESHOLD {
        acc[..parts].par_iter_mut().enumerate().for_each(run);
    } else {
        acc[..parts].iter_mut().enumerate().for_each(run);
    }
    acc[..parts].iter().sum()
}

/// Loss of one row and its gradient (times `scale`), in f64 internally.
fn ce_row<E: Float>(x: &[E], y: usize, smoothing: f64, scale: f64, g: &mut [E]) -> f64 {
    let c = x.len();
    let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v.to_f64()));
    let mut s = 0.0;
    let mut shifted_sum = 0.0;
    for &v in x {
        let z = v.to_f64() - m;
        s += z.exp();
        shifted_sum += z;
    }
    let ls = s.ln();
    let nll = ls - (x[y].to_f64() - m);
    let smooth = ls - shifted_sum / c as f64;
    let inv = 1.0 / s;
    let off = smoothing / c as f64;
    for (k, (g, &v)) in g.iter_mut().zip(x).enumerate() {
        let p = (v.to_f64() - m).exp() * inv;
        let target = if k == y { 1.0 - smoothing + off } else { off };
        *g = E::from_f64(scale * (p - target));
    }
    (1.0 - smoothing) * nll + smoothing * smooth
}

/// The first label `>= classes`, if any.
fn check_labels(labels: &[u32], classes: usize) -> Result<(), BadLabel> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(sample) => Err(BadLabel {
            sample,
            label: labels[sample],
        }),
        None => Ok(()),
    }
}

impl LossKernel for Host {
    fn cross_entropy<E: Float>(
        &self,
        d: ClassDims,
        smoothing: f64,
        scale: f64,
        logits: &Vec<E>,
        labels: &Vec<u32>,
        grad: &mut Vec<E>,
    ) -> Result<E, BadLabel> {
        let n = d.rows * d.classes;
        assert!(
            logits.len() >= n && labels.len() >= d.rows,
            "cross_entropy: buffer too small"
        );
        let labels = &labels[..d.rows];
        check_labels(labels, d.classes)?;
        grad.resize(n, E::ZERO);
        let total = det_sum_rows(d.rows, d.classes, grad, |r0, g| {
            let mut s = 0.0;
            for (j, g) in g.chunks_mut(d.classes).enumerate() {
                let r = r0 + j;
                let x = &logits[r * d.classes..(r + 1) * d.classes];
                s += ce_row(x, labels[r] as usize, smoothing, scale, g);
            }
            s
        });
        Ok(E::from_f64(total * scale))
    }

    fn pointwise_loss<E: Float>(
        &self,
        kind: PointwiseLoss,
        n: usize,
        scale: f64,
        pred: &Vec<E>,
        target: &Vec<E>,
        grad: &mut Vec<E>,
    ) -> E {
        assert!(pred.len() >= n && target.len() >= n, "pointwise_loss: buffer too small");
        grad.resize(n, E::ZERO);
        let total = det_sum_rows(n, 1, grad, |i0, g| {
            let mut s = 0.0;
            for (j, g) in g.iter_mut().enumerate() {
                let (l, d) = kind.term(pred[i0 + j].to_f64(), target[i0 + j].to_f64());
                *g = E::from_f64(scale * d);
                s += l;
            }
            s
        });
        E::from_f64(total * scale)
    }

    fn count_correct<E: Float>(&self, d: ClassDims, logits: &Vec<E>, labels: &Vec<u32>) -> Result<usize, BadLabel> {
        assert!(
            logits.len() >= d.rows * d.classes && labels.len() >= d.rows,
            "count_correct: buffer too small"
        );
        let labels = &labels[..d.rows];
        check_labels(labels, d.classes)?;
        let mut correct = 0;
        for (r, &y) in labels.iter().enumerate() {
            let row = &logits[r * d.classes..(r + 1) * d.classes];
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v.is_nan() {
                    best = k;
                    break;
                }
                if v > row[best] {
                    best = k;
                }
            }
            correct += usize::from(best == y as usize);
        }
        Ok(correct)
    }
}
