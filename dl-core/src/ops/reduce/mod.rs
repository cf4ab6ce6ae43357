//! Reductions (sum, mean, max) over one axis of a runtime
//! `[outer, axis, inner]` layout, with their backward.
//!
//! Any axis of any tensor is such a layout: `outer` is the product of the
//! dimensions before it (batch included), `inner` the product of those after.
//! The CPU reduces each output element in axis order; on CUDA a long axis
//! with few outputs (a whole weight matrix) is reduced by a block of threads
//! in a fixed tree, in `f64`. Both are deterministic.
//!
//! **PyTorch equivalent**: `x.sum(dim)`, `x.mean(dim)`, `x.max(dim).values`
//! and their autograd (max: the gradient goes to the first maximum).

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::Storage;
use crate::dtype::Float;

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduce {
    /// Sum (0 over an empty axis).
    Sum,
    /// Mean (NaN over an empty axis, as `torch.mean` of an empty tensor).
    Mean,
    /// Maximum (`-inf` over an empty axis; NaN if the slice holds a NaN, and
    /// the gradient then goes to the first NaN).
    Max,
}

/// Layout `[outer, axis, inner]`; the output is `[outer, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReduceDims {
    /// Product of the dimensions before the reduced axis.
    pub outer: usize,
    /// Length of the reduced axis.
    pub axis: usize,
    /// Product of the dimensions after the reduced axis.
    pub inner: usize,
}

/// Reduction kernels of a backend.
pub trait ReduceKernel: Storage {
    /// `y[o, i] = reduce over a of x[o, a, i]`; `y` is resized to `outer * inner`.
    fn reduce_forward<E: Float>(&self, r: Reduce, d: ReduceDims, x: &Self::Buf<E>, y: &mut Self::Buf<E>);
    /// Writes `dx` (resized to `outer * axis * inner`): sum `dy[o, i]`
    /// everywhere, mean `dy[o, i] / axis`, max `dy[o, i]` at the first
    /// maximum of `x[o, :, i]` and 0 elsewhere.
    fn reduce_backward<E: Float>(
        &self,
        r: Reduce,
        d: ReduceDims,
        x: &Self::Buf<E>,
        dy: &Self::Buf<E>,
        dx: &mut Self::Buf<E>,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, GradCheck};
    use crate::{Cpu, Rng};

    const D: ReduceDims = ReduceDims {
        outer: 2,
        axis: 3,
        inner: 2,
    };

    #[test]
    fn forward_values() {
        // x[o, a, i] = 100 o + 10 a + i, with a maximum moved to the middle of one slice.
        let mut x: Vec<f64> = (0..12)
            .map(|k| (100 * (k / 6) + 10 * ((k / 2) % 3) + k % 2) as f64)
            .collect();
        x[3] = 50.0; // o = 0, a = 1, i = 1
        let mut y = vec![];
        Cpu.reduce_forward(Reduce::Sum, D, &x, &mut y);
        assert_eq!(y, vec![30.0, 0.0 + 1.0 + 50.0 + 21.0 - 0.0, 330.0, 333.0]);
        Cpu.reduce_forward(Reduce::Mean, D, &x, &mut y);
        assert_eq!(y, vec![10.0, 24.0, 110.0, 111.0]);
        Cpu.reduce_forward(Reduce::Max, D, &x, &mut y);
        assert_eq!(y, vec![20.0, 50.0, 120.0, 121.0]);
    }

    #[test]
    fn max_gradient_goes_to_first_argmax() {
        let d = ReduceDims {
            outer: 1,
            axis: 4,
            inner: 1,
        };
        let x = vec![1.0f64, 3.0, 3.0, 2.0];
        let mut dx = vec![];
        Cpu.reduce_backward(Reduce::Max, d, &x, &vec![5.0], &mut dx);
        assert_eq!(dx, vec![0.0, 5.0, 0.0, 0.0]);
    }

    #[test]
    fn gradient_check_all() {
        let mut rng = Rng::new(2);
        let x: Vec<f64> = (0..12).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        let g: Vec<f64> = (0..4).map(|i| 0.5 + i as f64).collect();
        for r in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
            let mut dx = vec![];
            Cpu.reduce_backward(r, D, &x, &g, &mut dx);
            let f = |v: &[f64]| {
                let mut y = vec![];
                Cpu.reduce_forward(r, D, &v.to_vec(), &mut y);
                y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            check_gradient(f, &x, &dx, GradCheck::default()).unwrap_or_else(|e| panic!("{r:?}: {e}"));
        }
    }

    /// A NaN in a slice makes that slice's sum, mean and max NaN (max: the
    /// gradient goes to the NaN); other slices are untouched.
    #[test]
    fn nan_propagates() {
        let d = ReduceDims {
            outer: 2,
            axis: 2,
            inner: 1,
        };
        let x = vec![f32::NAN, 1.0, 2.0, 3.0];
        for r in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
            let mut y = vec![];
            Cpu.reduce_forward(r, d, &x, &mut y);
            assert!(y[0].is_nan() && y[1].is_finite(), "{r:?}: {y:?}");
        }
        let mut dx = vec![];
        Cpu.reduce_backward(Reduce::Max, d, &x, &vec![1.0, 1.0], &mut dx);
        assert_eq!(dx, vec![1.0, 0.0, 0.0, 1.0]);
    }

    /// An empty batch (`outer = 0`) gives empty outputs; an empty axis gives
    /// sum 0, mean NaN and max `-inf`, with an empty input gradient.
    #[test]
    fn empty_batch_and_empty_axis() {
        let mut y = vec![1.0f32];
        let mut dx = vec![1.0f32];
        let d0 = ReduceDims { outer: 0, ..D };
        for r in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
            Cpu.reduce_forward(r, d0, &vec![], &mut y);
            assert!(y.is_empty());
            Cpu.reduce_backward(r, d0, &vec![], &vec![], &mut dx);
            assert!(dx.is_empty());
        }
        let da = ReduceDims {
            outer: 1,
            axis: 0,
            inner: 1,
        };
        Cpu.reduce_forward(Reduce::Sum, da, &vec![], &mut y);
        assert_eq!(y, vec![0.0]);
        Cpu.reduce_forward(Reduce::Mean, da, &vec![], &mut y);
        assert!(y[0].is_nan());
        Cpu.reduce_forward(Reduce::Max, da, &vec![], &mut y);
        assert_eq!(y, vec![f32::NEG_INFINITY]);
        Cpu.reduce_backward(Reduce::Max, da, &vec![], &vec![1.0], &mut dx);
        assert!(dx.is_empty());
    }
}
