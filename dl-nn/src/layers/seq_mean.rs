//! Mean over the sequence axis: `[T, D]` -> `[D]` per sample (mean pooling
//! of a transformer's outputs before a classifier head).
//!
//! **PyTorch equivalent**: `x.mean(dim=1)` on `[N, T, D]`.

use crate::module::{Module, OutputShape};
use dl_core::ops::reduce::{Reduce, ReduceDims};
use dl_core::{Backend, Cpu, Float, S1, S2};
use std::marker::PhantomData;

/// Mean over the sequence: `S2<T, D>` -> `S1<D>` (`T > 0`, checked at compile time).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let x = Tensor::<S2<2, 2>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 6.0]).unwrap();
/// let y: Tensor<S1<2>> = SeqMean::<Cpu, f32>::default().forward(&x);
/// assert_eq!(y.to_vec(), vec![2.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = crate, builtin)]
pub struct SeqMean<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

impl<const T: usize, const D: usize, B: Backend, E: Float> OutputShape<S2<T, D>> for SeqMean<B, E> {
    type Out = S1<D>;
}

/// The reduction of a batch of `n` sequences `[T, D]` over `T`.
fn dims<const T: usize, const D: usize>(n: usize) -> ReduceDims {
    const { assert!(T > 0, "SeqMean: the sequence length T must be positive") };
    ReduceDims {
        outer: n,
        axis: T,
        inner: D,
    }
}

super::cacheless_layer!(
    [const T: usize, const D: usize] SeqMean<B, E>: S2<T, D> => S1<D>,
    |_l, x, out| x.device().reduce_forward(Reduce::Mean, dims::<T, D>(x.batch()), x.buf(), out.buf_mut()),
    |dy, dx| x.device().reduce_backward(Reduce::Mean, dims::<T, D>(x.batch()), x.buf(), dy.buf(), dx.buf_mut()),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use crate::module::Layer;
    use dl_core::Tensor;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    #[test]
    fn gradient_check() {
        let mut rng = Rng::new(5);
        let x = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer(&SeqMean::<Cpu, f64>::default(), &x, true), 0);
    }

    #[test]
    fn values_nan_and_empty_batch() {
        let l = SeqMean::<Cpu, f32>::default();
        let x = Tensor::<S2<2, 2>>::from_vec(&Cpu, 1, vec![f32::NAN, 1.0, 1.0, 3.0]).unwrap();
        let y = l.forward(&x).to_vec();
        assert!(y[0].is_nan() && y[1] == 2.0);
        assert!(l.forward(&Tensor::<S2<2, 2>>::zeros(&Cpu, 0)).is_empty());
        assert!(state_dict(&l, "pool.").is_empty());
    }
}
