//! Dropout with inverted scaling: each element is kept with probability
//! `1 - p` and scaled by `1 / (1 - p)`, so the expected value is unchanged
//! and evaluation needs no rescaling.
//!
//! The mask is a function of a 64-bit seed (drawn from a [`Rng`]) and the
//! element index only (a counter-based hash), so it is identical for any
//! thread count and on any backend.
//!
//! **PyTorch equivalent**: `F.dropout(x, p, training=True)`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::ops::binary::{BinaryDims, BinaryKernel, BinaryOp, TensorPair};
use crate::rng::Rng;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Dropout mask kernel of a backend.
pub trait DropoutKernel: Storage {
    /// Fills `mask` (resized to `len`) with `0` (dropped, probability `p`) or
    /// `1 / (1 - p)` (kept). `p <= 0` keeps everything (mask 1); `p >= 1`
    /// drops everything (mask 0, never `inf`).
    fn dropout_mask<E: Float>(&self, p: f64, seed: u64, len: usize, mask: &mut Self::Buf<E>);
}

/// Whether element `i` of the mask with `seed` is kept, for drop probability `p`.
#[inline(always)]
pub fn keep(seed: u64, i: u64, p: f64) -> bool {
    // SplitMix64 finaliser of (seed, index): a counter-based generator.
    let mut z = seed
        ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    u >= p
}

fn check_p(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op: "dropout",
            msg: format!("drop probability must be in [0, 1], got {p}"),
        })
    }
}

/// Training-mode dropout: returns `(y, mask)` with `y = x * mask`; the mask
/// is kept for [`dropout_backward`]. One seed is drawn from `rng`.
///
/// **PyTorch equivalent**: `F.dropout(x, p, training=True)`.
///
/// ```
/// use dl_core::prelude::*;
/// let x = Tensor::<S1<1000>>::from_vec(&Cpu, 1, vec![1.0; 1000]).unwrap();
/// let (y, _mask) = dl_core::ops::dropout::dropout(&x, 0.5, &mut Rng::new(0)).unwrap();
/// let y = y.to_vec();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// let kept = y.iter().filter(|&&v| v == 2.0).count();
/// assert!((400..600).contains(&kept));
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when `p` is not in `[0, 1]` (or is NaN).
pub fn dropout<S: Shape, B: DropoutKernel + BinaryKernel, E: Float>(
    x: &Tensor<S, B, E>,
    p: f64,
    rng: &mut Rng,
) -> Result<TensorPair<S, B, E>> {
    check_p(p)?;
    let dev = x.device();
    let mut mask = Tensor::zeros(dev, x.batch());
    dev.dropout_mask(p, rng.next_u64(), x.len(), mask.buf_mut());
    Ok((apply_mask(x, &mask), mask))
}

/// `x * mask` element-wise: the forward with a given mask, and also the
/// backward (`dx = dy * mask`).
pub fn apply_mask<S: Shape, B: BinaryKernel, E: Float>(x: &Tensor<S, B, E>, mask: &Tensor<S, B, E>) -> Tensor<S, B, E> {
    let mut y = Tensor::zeros(x.device(), x.batch());
    let d = BinaryDims {
        outer: 1,
        inner: x.len().min(mask.len()),
        broadcast_b: false,
    };
    x.device()
        .binary_forward(BinaryOp::Mul, d, x.buf(), mask.buf(), y.buf_mut());
    y.set_batch(x.batch());
    y
}

/// Backward of [`dropout`]: `dx = dy * mask`.
pub fn dropout_backward<S: Shape, B: BinaryKernel, E: Float>(
    dy: &Tensor<S, B, E>,
    mask: &Tensor<S, B, E>,
) -> Tensor<S, B, E> {
    apply_mask(dy, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::prelude::*;

    #[test]
    fn mask_statistics_and_scaling() {
        let mut m = Vec::<f64>::new();
        Cpu.dropout_mask(0.25, 42, 20000, &mut m);
        let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / 20000.0;
        assert!((kept - 0.75).abs() < 0.02, "kept fraction {kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-15));
        let mean = m.iter().sum::<f64>() / 20000.0;
        assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
    }

    #[test]
    fn seeded_and_deterministic() {
        let x = Tensor::<S1<64>>::from_vec(&Cpu, 2, vec![1.0; 128]).unwrap();
        let (a, _) = dropout(&x, 0.5, &mut Rng::new(7)).unwrap();
        let (b, _) = dropout(&x, 0.5, &mut Rng::new(7)).unwrap();
        let (c, _) = dropout(&x, 0.5, &mut Rng::new(8)).unwrap();
        assert_eq!(a.to_vec(), b.to_vec());
        assert_ne!(a.to_vec(), c.to_vec());
        // The parallel path gives the same mask as the serial one.
        let mut big = Vec::<f32>::new();
        let n = crate::cpu::PAR_THRESHOLD * 2 + 5;
        Cpu.dropout_mask(0.3, 11, n, &mut big);
        assert!((0..n).all(|i| (big[i] != 0.0) == keep(11, i as u64, 0.3)));
    }

    #[test]
    fn p_edges_and_invalid_p() {
        let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(dropout(&x, 0.0, &mut Rng::new(0)).unwrap().0.to_vec(), x.to_vec());
        assert_eq!(dropout(&x, 1.0, &mut Rng::new(0)).unwrap().0.to_vec(), vec![0.0; 4]);
        for p in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                dropout(&x, p, &mut Rng::new(0)),
                Err(Error::InvalidArgument { op: "dropout", .. })
            ));
        }
    }

    #[test]
    fn gradient_check_with_fixed_mask() {
        let mut rng = Rng::new(4);
        let x = Tensor::<S1<8>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        let (_, mask) = dropout(&x, 0.4, &mut Rng::new(1)).unwrap();
        let g: Vec<f64> = (0..24).map(|i| (i as f64).sin()).collect();
        let dx = dropout_backward(&Tensor::from_slice(&Cpu, 3, &g).unwrap(), &mask);
        let f = |v: &[f64]| {
            let y = apply_mask(&Tensor::<S1<8>, Cpu, f64>::from_slice(&Cpu, 3, v).unwrap(), &mask);
            y.to_vec().iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        check_gradient(f, &x.to_vec(), &dx.to_vec(), GradCheck::default()).unwrap();
    }

    /// NaN propagates through kept elements and, as in PyTorch (`x * 0`),
    /// through dropped ones too.
    #[test]
    fn nan_input() {
        let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![f32::NAN, f32::NAN]).unwrap();
        let (y, _) = dropout(&x, 0.5, &mut Rng::new(0)).unwrap();
        assert!(y.to_vec().iter().all(|v| v.is_nan()));
    }

    /// An empty batch gives an empty output and mask.
    #[test]
    fn empty_batch() {
        let x = Tensor::<S1<3>>::zeros(&Cpu, 0);
        let (y, m) = dropout(&x, 0.5, &mut Rng::new(0)).unwrap();
        assert!(y.is_empty() && m.is_empty());
        assert!(dropout_backward(&y, &m).is_empty());
    }
}
