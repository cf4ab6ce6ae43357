//! Per-channel bias: broadcast add over `[outer, channels, inner]` and its
//! backward (a sum over `outer` and `inner`).
//!
//! A Linear bias is `outer = batch, inner = 1`; a Conv2d bias is
//! `outer = batch, inner = H * W`.
//!
//! **PyTorch equivalent**: `y + b.view(1, C, 1, 1)` and its autograd.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// Dimensions of a per-channel broadcast: `[outer, channels, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiasDims {
    /// Product of the dimensions before the channel axis (the batch).
    pub outer: usize,
    /// Channels (the bias length).
    pub channels: usize,
    /// Product of the dimensions after the channel axis.
    pub inner: usize,
}

/// Bias kernels of a backend.
pub trait BiasKernel: Storage {
    /// `y[o, c, i] += b[c]`.
    fn bias_add<E: Float>(&self, d: BiasDims, b: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// `db[c] += sum over o, i of dy[o, c, i]`.
    fn bias_grad<E: Float>(&self, d: BiasDims, dy: &Self::Buf<E>, db: &mut Self::Buf<E>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::Cpu;

    #[test]
    fn add_and_grad_values() {
        let d = BiasDims {
            outer: 2,
            channels: 3,
            inner: 2,
        };
        let mut y = vec![0.0f64; 12];
        Cpu.bias_add(d, &vec![1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, vec![1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]);
        let dy: Vec<f64> = (0..12).map(|v| v as f64).collect();
        let mut db = vec![1.0; 3];
        Cpu.bias_grad(d, &dy, &mut db);
        assert_eq!(
            db,
            vec![
                1.0 + 0. + 1. + 6. + 7.,
                1.0 + 2. + 3. + 8. + 9.,
                1.0 + 4. + 5. + 10. + 11.
            ]
        );
    }

    /// The row-walking path of a Linear bias (`inner == 1`) sums each
    /// channel in row order, like a plain column loop, bit for bit, on
    /// channel counts around its 64-channel blocks and on the parallel path.
    #[test]
    fn linear_bias_grad_matches_a_column_loop() {
        let mut r = crate::Rng::new(11);
        for (outer, channels) in [(1usize, 1usize), (3, 63), (5, 64), (7, 65), (2048, 384)] {
            let d = BiasDims {
                outer,
                channels,
                inner: 1,
            };
            let dy: Vec<f32> = (0..outer * channels).map(|_| r.normal() as f32).collect();
            let mut db: Vec<f32> = (0..channels).map(|c| c as f32 * 0.5).collect();
            let mut want = db.clone();
            for (c, w) in want.iter_mut().enumerate() {
                let mut acc = 0f32;
                for o in 0..outer {
                    acc += dy[o * channels + c];
                }
                *w += acc;
            }
            Cpu.bias_grad(d, &dy, &mut db);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&db), bits(&want), "outer {outer}, channels {channels}");
        }
    }

    #[test]
    fn gradient_check() {
        let d = BiasDims {
            outer: 3,
            channels: 2,
            inner: 5,
        };
        let g: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).sin()).collect();
        let f = |b: &[f64]| {
            let mut y = vec![0.5; 30];
            Cpu.bias_add(d, &b.to_vec(), &mut y);
            y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut db = vec![0.0; 2];
        Cpu.bias_grad(d, &g, &mut db);
        check_gradient(f, &[0.3, -0.7], &db, GradCheck::default()).unwrap();
    }
}
