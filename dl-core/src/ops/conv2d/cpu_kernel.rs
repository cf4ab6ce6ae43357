use super::{Conv2dDims, Im2colLowering};
use crate::cpu::{for_each_chunk, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::ops::matmul::{gemm_batched_fused, Activation, BiasAxis, Epilogue, GemmWorkspace};
use crate::ops::mono::Host;

/// Column layouts of the im2col buffer. Both are sequences of segments of
/// `oh * ow` elements, one per (sample `i`, column row `r`) pair, where
/// `r = (c * k + p) * k + q` indexes the `c_in * k * k` kernel taps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[n][c_in*k*k][oh*ow]`: one column matrix per sample.
    PerSample,
    /// `[c_in*k*k][n][oh*ow]`: one column matrix `[c_in*k*k, n*oh*ow]` for the batch.
    Batch,
}

/// Range `lo..hi` of output positions along one axis whose input position
/// `o * stride + tap - pad` lies inside `0..len`.
#[inline]
fn valid_range(len: usize, out: usize, tap: usize, stride: usize, pad: usize) -> (usize, usize) {
    let lo = if pad > tap { (pad - tap).div_ceil(stride) } else { 0 }.min(out);
    let hi = if len + pad > tap {
        ((len - 1 + pad - tap) / stride + 1).min(out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Writes the column segment of kernel tap `r` for one sample `xs` (`[c_in, h, w]`).
fn im2col_segment<E: Float>(d: &Conv2dDims, xs: &[E], r: usize, seg: &mut [E]) {
    let (k, s, p) = (d.k, d.stride, d.pad);
    let (c, ki, kj) = (r / (k * k), (r / k) % k, r % k);
    let (oh, ow) = (d.oh(), d.ow());
    let plane = &xs[c * d.h * d.w..(c + 1) * d.h * d.w];
    let (ylo, yhi) = valid_range(d.h, oh, ki, s, p);
    let (xlo, xhi) = valid_range(d.w, ow, kj, s, p);
    seg[..ylo * ow].fill(E::ZERO);
    seg[yhi * ow..].fill(E::ZERO);
    for oy in ylo..yhi {
        let iy = oy * s + ki - p;
        let xrow = &plane[iy * d.w..(iy + 1) * d.w];
        let row = &mut seg[oy * ow..(oy + 1) * ow];
        row[..xlo].fill(E::ZERO);
        row[xhi..].fill(E::ZERO);
        if s == 1 {
            let start = xlo + kj - p;
            row[xlo..xhi].copy_from_slice(&xrow[start..start + (xhi - xlo)]);
        } else {
            for (ox, v) in row.iter_mut().enumerate().take(xhi).skip(xlo) {
                *v = xrow[ox * s + kj - p];
            }
        }
    }
}

/// Fills `col` (`n * c_in*k*k * oh*ow` elements) with the im2col columns of `x`.
fn im2col<E: Float>(d: &Conv2dDims, x: &[E], col: &mut [E], layout: Layout) {
    let ohw = d.oh() * d.ow();
    let (ckk, xs) = (d.ckk(), d.c_in * d.h * d.w);
    if ohw == 0 || col.is_empty() {
        return;
    }
    let f = |(j, seg): (usize, &mut [E])| {
        let (i, r) = match layout {
            Layout::PerSample => (j / ckk, j % ckk),
            Layout::Batch => (j % d.n, j / d.n),
        };
        im2col_segment(d, &x[i * xs..(i + 1) * xs], r, seg);
    };
    let parallel = col.len() >= PAR_THRESHOLD;
    for_each_chunk(col, ohw, parallel, f);
}

/// Overwrites `dx` with the scatter-add of per-sample columns `col`
/// (the adjoint of [`im2col`] in [`Layout::PerSample`]). Each `(sample,
/// channel)` plane is summed in a fixed tap order: deterministic.
fn col2im<E: Float>(d: &Conv2dDims, col: &[E], dx: &mut [E]) {
    let hw = d.h * d.w;
    let (oh, ow) = (d.oh(), d.ow());
    let (k, s, p, ckk) = (d.k, d.stride, d.pad, d.ckk());
    if hw == 0 || dx.is_empty() {
        return;
    }
    let f = |(j, plane): (usize, &mut [E])| {
        let (i, c) = (j / d.c_in, j % d.c_in);
        plane.fill(E::ZERO);
        for ki in 0..k {
            let (ylo, yhi) = valid_range(d.h, oh, ki, s, p);
            for kj in 0..k {
                let (xlo, xhi) = valid_range(d.w, ow, kj, s, p);
                let r = (c * k + ki) * k + kj;
                let seg = &col[(i * ckk + r) * oh * ow..][..oh * ow];
                for oy in ylo..yhi {
                    let iy = oy * s + ki - p;
                    let prow = &mut plane[iy * d.w..(iy + 1) * d.w];
                    let srow = &seg[oy * ow..(oy + 1) * ow];
                    if s == 1 {
                        let start = xlo + kj - p;
                        for (dst, &v) in prow[start..start + (xhi - xlo)].iter_mut().zip(&srow[xlo..xhi]) {
                            *dst += v;
                        }
                    } else {
                        for (ox, &v) in srow.iter().enumerate().take(xhi).skip(xlo) {
                            prow[ox * s + kj - p] += v;
                        }
                    }
                }
            }
        }
    };
    let parallel = dx.len() >= PAR_THRESHOLD / 4;
    for_each_chunk(dx, hw, parallel, f);
}

/// Transposes `dy` `[n][c_out][ohw]` into `dyt` `[c_out][n][ohw]`.
fn transpose_nc<E: Float>(d: &Conv2dDims, dy: &[E], dyt: &mut [E]) {
    let ohw = d.oh() * d.ow();
    if ohw == 0 || dyt.is_empty() {
        return;
    }
    let f = |(j, seg): (usize, &mut [E])| {
        let (o, i) = (j / d.n, j % d.n);
        let src = (i * d.c_out + o) * ohw;
        seg.copy_from_slice(&dy[src..src + ohw]);
    };
    let parallel = dyt.len() >= PAR_THRESHOLD;
    for_each_chunk(dyt, ohw, parallel, f);
}

impl Im2colLowering for Host {
    fn im2col_per_sample<E: Float>(&self, d: &Conv2dDims, x: &Vec<E>, cols: &mut Vec<E>) {
        im2col(d, x, cols, Layout::PerSample);
    }

    fn col2im<E: Float>(&self, d: &Conv2dDims, cols: &Vec<E>, dx: &mut Vec<E>) {
        col2im(d, cols, dx);
    }

    fn weight_gradient_operands<E: Float>(&self, d: &Conv2dDims, x: &Vec<E>, dy: &Vec<E>, ws: &mut Vec<E>) {
        let (cols, dyt) = ws.split_at_mut(d.cols_len());
        im2col(d, x, cols, Layout::Batch);
        transpose_nc(d, dy, dyt);
    }

    fn forward_gemm_bias<E: Float>(
        &self,
        gemm: &mut GemmWorkspace,
        d: &Conv2dDims,
        w: &Vec<E>,
        cols: &Vec<E>,
        b: Option<&Vec<E>>,
        y: &mut Vec<E>,
    ) {
        let (g, bt) = d.forward_gemm();
        // The bias (one per output channel: a row of each sample's product)
        // is added in the GEMM's epilogue, while each tile is in registers.
        let ep = Epilogue {
            bias: b.map(|b| (&b[..], BiasAxis::Rows)),
            act: Activation::None,
        };
        gemm_batched_fused(gemm, g, bt, w, cols, y, ep);
    }
}
