//! Mean over the sequence axis: `[T, D]` -> `[D]` per sample (mean pooling
//! of a transformer's outputs before a classifier head).
//!
//! **PyTorch equivalent**: `x.mean(dim=1)` on `[N, T, D]`.

use crate::module::Module;
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

/// Implements `OutputShape` and a cacheless `Layer` for a mean layer
/// `$name<B, E>` from `$in` to `$out` (generic over the const dimensions
/// `$a` and `$b`): the mean over the middle axis of the batch seen as
/// `[outer, axis, inner]`, with the sizes given for a batch of `$n`
/// samples. `$msg` is the compile-time error for an empty axis.
macro_rules! mean_layer {
    ([$a:ident, $b:ident] $name:ident: $in:ty => $out:ty,
     |$n:ident| ($outer:expr, $axis:expr, $inner:expr), $msg:literal) => {
        impl<const $a: usize, const $b: usize, B: ::dl_core::Backend, E: ::dl_core::Float>
            $crate::module::OutputShape<$in> for $name<B, E>
        {
            type Out = $out;
        }

        impl<B: ::dl_core::Backend, E: ::dl_core::Float> $name<B, E> {
            /// The reduction of a batch of `n` samples.
            fn dims<const $a: usize, const $b: usize>($n: usize) -> ::dl_core::ops::reduce::ReduceDims {
                const { assert!($axis > 0, $msg) };
                ::dl_core::ops::reduce::ReduceDims {
                    outer: $outer,
                    axis: $axis,
                    inner: $inner,
                }
            }
        }

        $crate::layers::cacheless_layer!(
            [const $a: usize, const $b: usize] $name<B, E>: $in => $out,
            |_l, x, out| {
                let d = Self::dims::<$a, $b>(x.batch());
                x.device().reduce_forward(::dl_core::ops::reduce::Reduce::Mean, d, x.buf(), out.buf_mut())
            },
            |dy, dx| {
                let d = Self::dims::<$a, $b>(x.batch());
                x.device().reduce_backward(::dl_core::ops::reduce::Reduce::Mean, d, x.buf(), dy.buf(), dx.buf_mut())
            }
        );
    };
}
pub(crate) use mean_layer;

mean_layer!([T, D] SeqMean: S2<T, D> => S1<D>, |n| (n, T, D), "SeqMean: the sequence length T must be positive");

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
