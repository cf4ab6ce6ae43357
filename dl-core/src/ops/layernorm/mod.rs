//! Layer-normalisation kernels over the last dimension of a runtime
//! `[rows, dim]` layout: `y = (x - mean) * rstd * gamma + beta` per row,
//! biased variance, `rstd = 1 / sqrt(var + eps)`.
//!
//! Statistics are accumulated in `f64` in a fixed order (deterministic).
//!
//! **PyTorch equivalent**: `F.layer_norm(x, [dim], weight, bias, eps)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
pub use crate::ops::batchnorm::{NormBwd, NormFwd};

/// The size contract of the layer-norm kernels: each of `data` (`x`, `dy`)
/// holds `rows * dim` elements, each of `per_row` (`mean`, `rstd`) `rows`
/// and each of `per_col` (`gamma`, `beta` and their gradients) `dim`. A
/// smaller buffer is a bug in the caller and panics, naming `kernel`.
#[track_caller]
fn assert_sizes(kernel: &str, rows: usize, dim: usize, data: &[usize], per_row: &[usize], per_col: &[usize]) {
    let fits = |lens: &[usize], need: usize| lens.iter().all(|&l| l >= need);
    assert!(
        fits(data, rows * dim) && fits(per_row, rows) && fits(per_col, dim),
        "{kernel}: buffer too small"
    );
}

/// [`assert_sizes`] for the forward, buffer lengths by `len`.
#[track_caller]
pub(crate) fn check_forward<Buf>(rows: usize, dim: usize, b: &NormFwd<'_, Buf>, len: impl Fn(&Buf) -> usize) {
    let [x, gamma, beta] = b.input_lens(len);
    assert_sizes("layernorm_forward", rows, dim, &[x], &[], &[gamma, beta]);
}

/// [`assert_sizes`] for the backward, buffer lengths by `len`.
#[track_caller]
pub(crate) fn check_backward<Buf>(rows: usize, dim: usize, b: &NormBwd<'_, Buf>, len: impl Fn(&Buf) -> usize) {
    let (data, per_row, per_col) = b.lens(len);
    assert_sizes("layernorm_backward", rows, dim, &data, &per_row, &per_col);
}

/// Layer-norm kernels of a backend.
pub trait LayerNormKernel: Storage {
    /// Forward: writes `y` (resized to `rows * dim`) and the per-row `mean`
    /// and `rstd` (resized to `rows`) for the backward.
    fn layernorm_forward<E: Float>(&self, rows: usize, dim: usize, eps: f64, b: NormFwd<'_, Self::Buf<E>>);
    /// Backward: writes `dx` (resized to `rows * dim`), accumulates
    /// `dgamma += sum_rows dy xhat` and `dbeta += sum_rows dy`.
    fn layernorm_backward<E: Float>(&self, rows: usize, dim: usize, b: NormBwd<'_, Self::Buf<E>>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_gradients, GradCheck};
    use crate::ops::batchnorm::testing::{norm_bwd, norm_fwd};
    use crate::ops::util::testing::assert_close;
    use crate::{Cpu, Rng};

    fn fwd(rows: usize, dim: usize, x: &[f64], g: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let [y, m, r] = norm_fwd(&Cpu, [x, g, b], |bufs| Cpu.layernorm_forward(rows, dim, 1e-5, bufs));
        (y, m, r)
    }

    #[test]
    fn forward_values() {
        let (y, m, r) = fwd(2, 2, &[1.0, 3.0, -1.0, -1.0], &[2.0, 1.0], &[0.0, 0.5]);
        assert_close(&m, &[2.0, -1.0], 1e-15, 0.0);
        let r0 = 1.0 / (1.0f64 + 1e-5).sqrt();
        assert_close(&r, &[r0, 1.0 / 1e-5f64.sqrt()], 1e-12, 0.0);
        assert_close(&y, &[-2.0 * r0, r0 + 0.5, 0.0, 0.5], 1e-14, 0.0);
    }

    #[test]
    fn gradient_check() {
        let (rows, dim) = (3, 5);
        let mut rng = Rng::new(6);
        let x: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect();
        let g: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let b: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let up: Vec<f64> = (0..rows * dim).map(|i| (i as f64 * 0.9).cos()).collect();
        let loss = |[x, g, b]: [&[f64]; 3]| fwd(rows, dim, x, g, b).0.iter().zip(&up).map(|(a, b)| a * b).sum();
        let (_, m, r) = fwd(rows, dim, &x, &g, &b);
        let zeros = vec![0.0; dim];
        let [dx, dg, db] = norm_bwd(&Cpu, [&x, &g, &m, &r, &up], [&zeros, &zeros], |bufs| {
            Cpu.layernorm_backward(rows, dim, bufs)
        });
        assert_gradients(loss, [&x, &g, &b], [&dx, &dg, &db], GradCheck::default(), "layernorm");
    }

    /// A NaN makes its own row NaN; other rows are unaffected.
    #[test]
    fn nan_poisons_only_its_row() {
        let (y, _, _) = fwd(2, 2, &[f64::NAN, 1.0, 2.0, 3.0], &[1.0, 1.0], &[0.0, 0.0]);
        assert!(y[0].is_nan() && y[1].is_nan() && y[2].is_finite() && y[3].is_finite());
    }

    /// An empty batch gives empty outputs and leaves the parameter gradients unchanged.
    #[test]
    fn empty_batch() {
        let (y, m, r) = fwd(0, 3, &[], &[1.0; 3], &[0.0; 3]);
        assert!(y.is_empty() && m.is_empty() && r.is_empty());
        let (mut dx, mut dg, mut db) = (vec![1.0], vec![0.5; 3], vec![0.5; 3]);
        let bufs = NormBwd {
            x: &vec![],
            gamma: &vec![1.0; 3],
            mean: &m,
            rstd: &r,
            dy: &vec![],
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
        };
        Cpu.layernorm_backward(0, 3, bufs);
        assert!(dx.is_empty() && dg == vec![0.5; 3] && db == vec![0.5; 3]);
    }

    /// The parameter gradients sum each column over the rows in row order,
    /// bit for bit like a plain column loop, on widths around the 64-column
    /// chunks and on the parallel path.
    #[test]
    fn parameter_gradients_match_a_column_loop() {
        let mut rng = crate::Rng::new(17);
        for (rows, dim) in [(3usize, 63usize), (5, 64), (7, 65), (2048, 130)] {
            let n = rows * dim;
            let x: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let dy: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let gamma: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
            let beta = vec![0f32; dim];
            let [_, mean, rstd] = norm_fwd(&Cpu, [&x, &gamma, &beta], |bufs| {
                Cpu.layernorm_forward(rows, dim, 1e-5, bufs)
            });
            let ins = [&x[..], &gamma, &mean, &rstd, &dy];
            let [_, dg, db] = norm_bwd(&Cpu, ins, [&vec![0.25f32; dim], &vec![-0.5f32; dim]], |bufs| {
                Cpu.layernorm_backward(rows, dim, bufs)
            });
            for j in 0..dim {
                let (mut sg, mut sb) = (0.0f64, 0.0f64);
                for r in 0..rows {
                    let g = dy[r * dim + j] as f64;
                    sb += g;
                    sg += g * ((x[r * dim + j] as f64 - mean[r] as f64) * rstd[r] as f64);
                }
                assert_eq!(
                    dg[j].to_bits(),
                    (0.25f32 + sg as f32).to_bits(),
                    "dgamma[{j}], {rows}x{dim}"
                );
                assert_eq!(
                    db[j].to_bits(),
                    (-0.5f32 + sb as f32).to_bits(),
                    "dbeta[{j}], {rows}x{dim}"
                );
            }
        }
    }
}
